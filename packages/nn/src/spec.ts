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
  seed: number;
}
