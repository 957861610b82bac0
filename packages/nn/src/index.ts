export { initBackend, type BackendPreference } from './backend.js';
export { readSplit, makeBatches, encodeChars, type SplitData, type Batch } from './data.js';
export { createTagger, engineOf, loadTagger, type Tagger, type TaggerOptions } from './tagger.js';
export type { TaggerSpec } from './spec.js';
export { registerKernels, unsortedSegmentSum } from './kernels.js';
export {
  gemmGflops,
  kernelProfile,
  relaxedSimd,
  resolveKernel,
  setKernelProfiling,
  type KernelSetting,
  type KernelVariant,
} from './kernel.js';
export { allowedTransitions, crfMarginals, pathAllowed } from './crf.js';
export { resolveThreads, type ThreadsSetting } from './threads.js';
export {
  isNpmVectors,
  pretrainedRows,
  readVectorFile,
  resolveNpmVectors,
  vectorFileEntry,
  VectorFileError,
  type PretrainedRows,
  type VectorFileSpec,
} from './vectors.js';
export type { CharSpec } from './spec.js';
export {
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  NERFLOW_VERSION,
  KNOWN_PARTS,
  ModelFolderError,
  readModelMeta,
  readPredictionMeta,
  writeModelMeta,
  type ModelMeta,
  type ModelPart,
} from './model-folder.js';
