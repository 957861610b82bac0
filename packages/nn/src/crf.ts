import { tf } from './backend.js';

/**
 * The linear-chain CRF head outside the kernel: which moves the tag scheme allows (the kernel's `allowed`
 * table), the same negative log-likelihood written with TF.js ops (the independent reference the kernel's
 * gradients are checked against, and the loss of the tf.layers model) and Viterbi in plain JS (its decoder).
 * The kernel's version is packages/nn/assembly/crf.ts; the math is written down there.
 */

/** What a CRF needs beyond the emissions: transition scores [K·K] (from i to j at i·K + j), start and end [K]. */
export interface CrfParams {
  transitions: ArrayLike<number>;
  start: ArrayLike<number>;
  end: ArrayLike<number>;
}

type Part = { prefix: 'O' } | { prefix: 'B' | 'I' | 'E' | 'S'; type: string };

function parseTag(tag: string): Part {
  if (tag === 'O') return { prefix: 'O' };
  const m = /^([BIESLU])-(.+)$/.exec(tag);
  if (!m)
    throw new Error(
      `tag ${JSON.stringify(tag)} is not O, B-X, I-X (IOB2) or E-X, S-X (IOBES): the CRF constraint cannot tell which moves it allows; set train.crf.constrain: false`,
    );
  const p = m[1] === 'L' ? 'E' : m[1] === 'U' ? 'S' : m[1];
  return { prefix: p as 'B' | 'I' | 'E' | 'S', type: m[2] };
}

/**
 * The moves the data's tag scheme allows, as the kernel reads them: i32 [K·K + 2K], 1 = allowed, for
 * i → j at i·K + j, a first tag at K·K + j, a last tag at K·K + K + j.
 * - IOB2 (tags O, B-X, I-X): I-X only after B-X or I-X of the same type (so never first, never after O
 *   or after another type's B-/I-); anything may end a sentence.
 * - IOBES/BILOU (when any tag starts with E-, S-, L- or U-): inside an entity (after B-X or I-X) only I-X
 *   or E-X of the same type; outside one (first, or after O, E-, S-) only O, B- or S-; the last tag closes
 *   (O, E- or S-).
 */
export function allowedTransitions(tags: string[]): Int32Array {
  const K = tags.length;
  const parts = tags.map(parseTag);
  const iobes = parts.some((p) => p.prefix === 'E' || p.prefix === 'S');
  const out = new Int32Array(K * K + 2 * K);
  const opens = (p: Part) => p.prefix === 'B' || p.prefix === 'I';
  const typeOf = (p: Part) => (p.prefix === 'O' ? '' : p.type);
  for (let j = 0; j < K; j++) {
    const b = parts[j];
    for (let i = 0; i < K; i++) {
      const a = parts[i];
      let ok: boolean;
      if (iobes)
        ok = opens(a)
          ? (b.prefix === 'I' || b.prefix === 'E') && typeOf(a) === typeOf(b)
          : !(b.prefix === 'I' || b.prefix === 'E');
      else ok = b.prefix !== 'I' || (opens(a) && typeOf(a) === typeOf(b));
      out[i * K + j] = Number(ok);
    }
    out[K * K + j] = Number(!(b.prefix === 'I' || b.prefix === 'E'));
    out[K * K + K + j] = Number(!iobes || !opens(b));
  }
  return out;
}

/** Whether a tag-id path uses only allowed moves (start, every transition, end). */
export function pathAllowed(path: ArrayLike<number>, allowed: Int32Array, K: number): boolean {
  if (!path.length) return true;
  if (!allowed[K * K + path[0]]) return false;
  for (let t = 1; t < path.length; t++) if (!allowed[path[t - 1] * K + path[t]]) return false;
  return !!allowed[K * K + K + path[path.length - 1]];
}

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

/**
 * Viterbi in plain JS over emissions [B, T, K] (row-major, as a Batch): the best path of each sentence
 * ([B·T], 0 on padding); with `allowed`, forbidden moves are never taken. Ties go to the lowest tag id.
 */
export function viterbi(
  emissions: ArrayLike<number>,
  lengths: ArrayLike<number>,
  T: number,
  K: number,
  p: CrfParams,
  allowed: Int32Array | null,
): Int32Array {
  const B = lengths.length;
  const out = new Int32Array(B * T);
  const ok = (i: number) => !allowed || !!allowed[i];
  for (let r = 0; r < B; r++) {
    const len = lengths[r];
    if (!len) continue;
    const e = (t: number, j: number) => emissions[(r * T + t) * K + j];
    let delta = Array.from({ length: K }, (_, j) => (ok(K * K + j) ? p.start[j] + e(0, j) : -Infinity));
    const bp: Int32Array[] = [];
    for (let t = 1; t < len; t++) {
      const back = new Int32Array(K);
      delta = Array.from({ length: K }, (_, j) => {
        let best = -Infinity;
        for (let i = 0; i < K; i++) {
          const v = delta[i] + p.transitions[i * K + j];
          if (ok(i * K + j) && v > best) [best, back[j]] = [v, i];
        }
        return best + e(t, j);
      });
      bp.push(back);
    }
    let y = 0;
    let best = -Infinity;
    for (let j = 0; j < K; j++)
      if (ok(K * K + K + j) && delta[j] + p.end[j] > best) [best, y] = [delta[j] + p.end[j], j];
    for (let t = len - 1; t >= 0; t--) {
      out[r * T + t] = y;
      if (t > 0) y = bp[t - 1][y];
    }
  }
  return out;
}

/**
 * The tag marginals p(y_t = j | sentence) in plain JS (float64, log space) over emissions [B, T, K]
 * (row-major, as a Batch), by forward-backward: [B·T·K], zeros on padding; with `allowed`, forbidden moves
 * have probability 0. What the kernel's crfNll leaves without gold tags, for the tf.layers reference model.
 */
export function crfMarginals(
  emissions: ArrayLike<number>,
  lengths: ArrayLike<number>,
  T: number,
  K: number,
  p: CrfParams,
  allowed: Int32Array | null,
): Float32Array {
  const out = new Float32Array(lengths.length * T * K);
  const ok = (i: number) => !allowed || !!allowed[i];
  const tr = Float64Array.from({ length: K * K }, (_, i) => (ok(i) ? p.transitions[i] : -Infinity));
  const lse = (xs: Float64Array) => {
    let m = -Infinity;
    for (const x of xs) m = Math.max(m, x);
    if (m === -Infinity) return m;
    let s = 0;
    for (const x of xs) s += Math.exp(x - m);
    return m + Math.log(s);
  };
  const tmp = new Float64Array(K);
  for (let r = 0; r < lengths.length; r++) {
    const len = lengths[r];
    if (!len) continue;
    const e = (t: number, j: number) => emissions[(r * T + t) * K + j];
    const alpha = Array.from({ length: len }, () => new Float64Array(K));
    const beta = Array.from({ length: len }, () => new Float64Array(K));
    for (let j = 0; j < K; j++) alpha[0][j] = ok(K * K + j) ? p.start[j] + e(0, j) : -Infinity;
    for (let t = 1; t < len; t++)
      for (let j = 0; j < K; j++) {
        for (let i = 0; i < K; i++) tmp[i] = alpha[t - 1][i] + tr[i * K + j];
        alpha[t][j] = lse(tmp) + e(t, j);
      }
    for (let j = 0; j < K; j++) beta[len - 1][j] = ok(K * K + K + j) ? p.end[j] : -Infinity;
    for (let t = len - 2; t >= 0; t--)
      for (let i = 0; i < K; i++) {
        for (let j = 0; j < K; j++) tmp[j] = tr[i * K + j] + e(t + 1, j) + beta[t + 1][j];
        beta[t][i] = lse(tmp);
      }
    for (let j = 0; j < K; j++) tmp[j] = alpha[len - 1][j] + beta[len - 1][j];
    const logZ = lse(tmp);
    for (let t = 0; t < len; t++)
      for (let j = 0; j < K; j++) out[(r * T + t) * K + j] = Math.exp(alpha[t][j] + beta[t][j] - logZ);
  }
  return out;
}
