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

/** A char CNN (Ma & Hovy): character embedding [vocabSize, dim], Conv1D of `filters` × `width`, max over positions. */
export interface CharSpec {
  type: 'cnn';
  vocabSize: number;
  dim: number;
  filters: number;
  width: number;
}

/** Size of the LSTM's input per token: the word embedding, plus the char features. */
export function inputDim(spec: TaggerSpec): number {
  return spec.embeddingDim + (spec.chars ? spec.chars.filters : 0);
}
