export { train, type TrainOptions } from './train.js';
export { expandTrials, trialLabel, type Trial } from './sweep.js';
export { shouldPrune } from './pruner.js';
export { taggerSpec } from './trial.js';
export {
  readRunRef,
  writeRunRef,
  removeRunRef,
  resumableCheckpoint,
  trialRunRefFile,
  sweepRunRefFile,
  TRIAL_RUN_REF,
  SWEEP_RUN_REF,
  type RunRef,
} from './run-ref.js';
export * from './queue/index.js';
