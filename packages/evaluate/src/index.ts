export { evaluate, trainedTrials } from './evaluate.js';
export { compareTrials } from './compare.js';
export { writeEvaluation, conll, type EvaluationInput } from './write.js';
export { formatTrialsTable, type TrialRow } from './table.js';
export { confusionSvg, curvesSvg } from './heatmap.js';
export { evaluateSweepBest, type SweepBest } from './sweep-best.js';
