export { featurize } from './featurize.js';
export { splitSentences, SPLITS, type SplitName } from './split.js';
