/**
 * The linear-chain CRF head outside the kernel: which moves the tag scheme allows (the kernel's `allowed`
 * table) and Viterbi in plain JS (the tf.layers model's decoder). The same negative log-likelihood written with
 * TF.js ops (the independent reference the kernel's gradients are checked against, and the loss of the tf.layers
 * model) is crf-tf.ts: this file loads no TF.js, so the fused model (which imports it) trains without TF.js.
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
