// Apart from kernels.ts (which registers it with TF.js) so that importing it loads no TF.js.

/**
 * UnsortedSegmentSum (the gradient of gather, i.e. of an Embedding layer) in linear time.
 * The wasm backend has no kernel for it (tf.layers' fit throws), and the cpu backend's loops over every
 * segment (the whole vocabulary) for every batch. out[s] = Σ x[i] over i with segmentIds[i] = s.
 */
export function unsortedSegmentSum(
  x: Float32Array | Int32Array,
  segmentIds: ArrayLike<number>,
  numSegments: number,
  inner: number,
  out: Float32Array | Int32Array,
): void {
  out.fill(0);
  for (let i = 0; i < segmentIds.length; i++) {
    const s = segmentIds[i];
    if (s < 0 || s >= numSegments) continue; // as TF: out-of-range ids are dropped
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) out[dst + k] += x[src + k];
  }
}
