/** What a tagger is: the model's shape and training hyperparameters (from the train config). */
export interface TaggerSpec {
  kind: 'fused' | 'layers';
  vocabSize: number;
  numTags: number;
  embeddingDim: number;
  lstmUnits: number;
  dropout: number;
  recurrentDropout: number;
  /** Dropout on the BiLSTM's output, before the dense layer (absent: 0); one mask per sentence, constant over time. */
  outputDropout?: number;
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
  /** Character features concatenated to the word embedding (absent or null: none). */
  chars?: CharSpec | null;
  /** Keep the word embedding table fixed (pre-trained vectors). */
  freezeEmbeddings?: boolean;
}

/**
 * Character features: a char CNN (Ma & Hovy): character embedding [vocabSize, dim], Conv1D of `filters` × `width`,
 * max over positions; or a char BiLSTM (Lample et al.): the same embedding, an LSTM of `units` per direction,
 * the forward direction's last state and the backward direction's last state (its first character) joined.
 */
export type CharSpec =
  | { type: 'cnn'; vocabSize: number; dim: number; filters: number; width: number }
  | { type: 'lstm'; vocabSize: number; dim: number; units: number };

/** Size of a token's char feature vector. */
export function charFeatures(c: CharSpec): number {
  return c.type === 'lstm' ? 2 * c.units : c.filters;
}

/** Size of the LSTM's input per token: the word embedding, plus the char features. */
export function inputDim(spec: TaggerSpec): number {
  return spec.embeddingDim + (spec.chars ? charFeatures(spec.chars) : 0);
}
