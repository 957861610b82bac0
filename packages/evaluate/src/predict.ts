import { backendFor, loadTagger, makeBatches, readModelMeta, type SplitData, type TaggerOptions } from '@nerflow/nn';

/** Predicted tag ids for every row of a split (bucketed batches, no dropout), in the split's row order. */
export async function predictSplit(
  modelDir: string,
  split: SplitData,
  batchSize: number,
  backend: string,
  opts: TaggerOptions = {},
): Promise<{ pred: Int32Array[]; gold: Int32Array[]; backend: string }> {
  // TF.js starts (and loads) for the tf.layers reference only: the fused model computes in nerflow's kernel
  const used = await backendFor((await readModelMeta(modelDir)).kind, backend as 'auto');
  const tagger = await loadTagger(modelDir, opts);
  const pred: Int32Array[] = new Array(split.n);
  const gold: Int32Array[] = new Array(split.n);
  try {
    const chars = !!tagger.spec.chars; // a model without char features never reads the batches' char ids
    for (const b of makeBatches(split, { batchSize, seed: 0, epoch: 0, shuffle: false, chars })) {
      const { predictions } = tagger.evaluateBatch(b);
      for (let i = 0; i < b.size; i++) {
        const row = b.index[i];
        const len = b.lengths[i];
        pred[row] = predictions.slice(i * b.steps, i * b.steps + len);
        gold[row] = b.tags.slice(i * b.steps, i * b.steps + len);
      }
    }
  } finally {
    tagger.dispose();
  }
  return { pred, gold, backend: used };
}
