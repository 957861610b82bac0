import { tf } from './backend.js';
import { pathAllowed } from './crf.js';

// The CRF's TF.js side, apart from crf.ts so that the fused model never loads TF.js (~70 MiB of RSS).

/** Stands for log 0 in the TF.js reference (as NEG in the kernel). */
const NEG = -1e30;

/**
 * The summed CRF negative log-likelihood of a batch with TF.js ops (autodiff gives its gradients), with
 * the kernel's semantics: emissions [B, T, K], gold tags and lengths as in a Batch; with `allowed`, the
 * partition function sums the allowed paths only, except for a sentence whose gold path is itself forbidden.
 */
export function crfNllTf(
  emissions: tf.Tensor,
  tags: ArrayLike<number>,
  lengths: ArrayLike<number>,
  p: { transitions: tf.Tensor; start: tf.Tensor; end: tf.Tensor },
  allowed: Int32Array | null,
): tf.Scalar {
  const [B, T, K] = emissions.shape as [number, number, number];
  // gold path counts: emissions by one-hot, moves by count tables (they multiply the parameters)
  const onehot = new Float32Array(B * T * K);
  const cTr = new Float32Array(K * K);
  const cStart = new Float32Array(K);
  const cEnd = new Float32Array(K);
  const constrained = new Float32Array(B);
  for (let r = 0; r < B; r++) {
    const len = lengths[r];
    if (!len) continue;
    const path = Array.from({ length: len }, (_, t) => tags[r * T + t]);
    path.forEach((y, t) => (onehot[(r * T + t) * K + y] = 1));
    for (let t = 1; t < len; t++) cTr[path[t - 1] * K + path[t]]++;
    cStart[path[0]]++;
    cEnd[path[len - 1]]++;
    constrained[r] = Number(!!allowed && pathAllowed(path, allowed, K));
  }
  const logZ = (tr: tf.Tensor, st: tf.Tensor, en: tf.Tensor): tf.Tensor => {
    // alpha [B, K]; a sentence's alpha stops changing after its last token
    let alpha = tf.add(st, tf.squeeze(tf.slice(emissions, [0, 0, 0], [B, 1, K]), [1]));
    for (let t = 1; t < T; t++) {
      const et = tf.squeeze(tf.slice(emissions, [0, t, 0], [B, 1, K]), [1]);
      const next = tf.add(tf.logSumExp(tf.add(tf.expandDims(alpha, 2), tf.expandDims(tr, 0)), 1), et);
      const live = tf.tensor2d(
        Array.from({ length: B }, (_, r) => [t < lengths[r] ? 1 : 0]),
        [B, 1],
        'bool',
      );
      alpha = tf.where(tf.broadcastTo(live, [B, K]), next, alpha);
    }
    return tf.logSumExp(tf.add(alpha, en), 1);
  };
  let z = logZ(p.transitions, p.start, p.end);
  if (allowed) {
    const pen = (from: number, n: number) =>
      tf.tensor1d(Array.from(allowed.subarray(from, from + n), (a) => (a ? 0 : NEG)));
    const zc = logZ(
      tf.add(p.transitions, tf.reshape(pen(0, K * K), [K, K])),
      tf.add(p.start, pen(K * K, K)),
      tf.add(p.end, pen(K * K + K, K)),
    );
    z = tf.where(tf.tensor1d(constrained, 'bool'), zc, z);
  }
  const real = tf.tensor1d(Array.from({ length: B }, (_, r) => (lengths[r] ? 1 : 0)));
  const gold = tf.addN([
    tf.sum(tf.mul(tf.tensor3d(onehot, [B, T, K]), emissions)),
    tf.sum(tf.mul(tf.tensor2d(cTr, [K, K]), p.transitions)),
    tf.sum(tf.mul(tf.tensor1d(cStart), p.start)),
    tf.sum(tf.mul(tf.tensor1d(cEnd), p.end)),
  ]);
  return tf.sub(tf.sum(tf.mul(z, real)), gold) as tf.Scalar;
}
