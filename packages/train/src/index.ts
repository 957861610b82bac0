export { train, type TrainOptions } from './train.js';
export { expandTrials, trialLabel, type Trial } from './sweep.js';
export { shouldPrune } from './pruner.js';
export { taggerSpec } from './trial.js';
