/** What a tagger is: the model's shape and training hyperparameters (from the train config). */
export interface TaggerSpec {
  kind: 'fused' | 'layers';
  vocabSize: number;
  numTags: number;
  embeddingDim: number;
  lstmUnits: number;
  dropout: number;
  recurrentDropout: number;
  learningRate: number;
  /** Adam's moment decay rates and epsilon (train.optimizer.beta1/beta2/epsilon). */
  adam: { beta1: number; beta2: number; epsilon: number };
  seed: number;
  /**
   * The output layer: per-token softmax (the default, and what models saved before the CRF mean) or a
   * linear-chain CRF (transitions learned with the rest, Viterbi decoding; assembly/crf.ts).
   */
  head?: 'softmax' | 'crf';
  /** With head crf: the tag names (index = tag id) and whether moves the tag scheme forbids are ruled out. */
  crf?: { constrain: boolean; tags: string[] };
}
