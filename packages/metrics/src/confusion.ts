/** Confusion matrix: rows = gold tag, columns = predicted tag (counts), and row-normalised. */
export function confusionMatrix(
  gold: ArrayLike<number>[],
  pred: ArrayLike<number>[],
  k: number,
): { matrix: number[][]; normalized: number[][] } {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let s = 0; s < gold.length; s++) for (let i = 0; i < gold[s].length; i++) m[gold[s][i]][pred[s][i]]++;
  const normalized = m.map((row) => {
    const n = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (n ? v / n : 0));
  });
  return { matrix: m, normalized };
}
