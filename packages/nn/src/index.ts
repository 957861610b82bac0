import type { BackendPreference } from './backend.js';

export type { BackendPreference };

/**
 * Start TF.js on a backend (backend.ts). TF.js loads here, on first call, not with this package: the fused model
 * computes in nerflow's kernel and never needs it (`nerflow train` on a fused model does not call this).
 */
export async function initBackend(pref: BackendPreference = 'auto'): Promise<string> {
  return (await import('./backend.js')).initBackend(pref);
}

/** What `backend` records when TF.js computes nothing: the fused model runs in nerflow's kernel. */
export const NO_TFJS_BACKEND = 'none';

/**
 * The TF.js backend a model of this kind computes on: initBackend's for the tf.layers reference; for the fused
 * model `none`, without loading TF.js (train.backend does not apply to it).
 */
export async function backendFor(kind: 'fused' | 'layers', pref: BackendPreference = 'auto'): Promise<string> {
  return kind === 'fused' ? NO_TFJS_BACKEND : initBackend(pref);
}
export { readSplit, makeBatches, paddedBatch, encodeChars, type SplitData, type Batch } from './data.js';
export { createTagger, engineOf, loadTagger, type Tagger, type TaggerOptions } from './tagger.js';
export type { TaggerSpec } from './spec.js';
export { unsortedSegmentSum } from './segment-sum.js';
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
export { InferenceEngine, type Decoded, type InferenceOptions } from './infer.js';
