// nerflow's linear-chain CRF head, in the same WebAssembly SIMD kernel as the BiLSTM (re-exported by lstm.ts).
// Emissions are the output layer's scores, time-major [T·B, K] (row t·B + r = step t of sentence r), as the
// softmax head reads them. Parameters: transitions tr [K, K] (tr[i·K + j] scores tag i followed by tag j),
// start [K] (score of the first tag) and end [K] (score of the last tag).
// The score of a tag path y over a sentence of length L:
//   s(y) = start[y0] + Σ_t e_t[y_t] + Σ_{t≥1} tr[y_{t−1}, y_t] + end[y_{L−1}]
// and its negative log-likelihood is log Z − s(y) with Z = Σ over every path, by the forward algorithm in
// log space (log-sum-exp with the running maximum subtracted, so nothing overflows).
// allowed (0 = no constraint) is i32 [K·K + 2K]: 1 where a transition i → j (at i·K + j), a first tag (at
// K·K + j) or a last tag (at K·K + K + j) is allowed by the tag scheme, 0 where it is forbidden.

/** Stands for log 0: finite, so max-subtraction never computes −∞ − (−∞). */
const NEG: f32 = -1e30;

// exp in f32x4: the same Cephes expf as lstm.ts's vexp (kept private there, so repeated here)
@inline
function vexp(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.3)), f32x4.splat(88.3));
  let fx = f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  x = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(y, x), x), x), f32x4.splat(1));
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23);
  return f32x4.mul(y, pow2);
}

@inline
function sexp(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

@inline
function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/** log Σ_k exp(a[k] + b[k]) over K floats. */
function lse2(a: usize, b: usize, K: i32): f32 {
  let mx: f32 = NEG;
  for (let k = 0; k < K; k++) mx = max(mx, load<f32>(at(a, k)) + load<f32>(at(b, k)));
  const vm = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) acc = f32x4.add(acc, vexp(f32x4.sub(f32x4.add(v128.load(at(a, k)), v128.load(at(b, k))), vm)));
  let s: f32 = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; k < K; k++) s += sexp(load<f32>(at(a, k)) + load<f32>(at(b, k)) - mx);
  return mx + Mathf.log(s);
}

/** Floats of scratch crfNll needs (crfViterbi needs no more). */
export function crfScratch(T: i32, K: i32): i32 {
  return 2 * T * K + 2 * (2 * K * K + 2 * K) + K;
}

/**
 * Two score tables at tabs: [0] the free parameters, [1] with forbidden moves at NEG (when allowed ≠ 0).
 * Each is tr [K·K], trT [K·K] (transposed: the forward algorithm reads a column as a row), start [K], end [K].
 */
function buildTables(tr: usize, start: usize, end: usize, allowed: usize, K: i32, tabs: usize): void {
  const n = 2 * K * K + 2 * K;
  for (let s = 0; s < 2; s++) {
    const base = tabs + (<usize>(s * n) << 2);
    const pen = s === 1 && allowed !== 0;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const v: f32 = pen && load<i32>(at(allowed, i * K + j)) === 0 ? NEG : load<f32>(at(tr, i * K + j));
        store<f32>(at(base, i * K + j), v);
        store<f32>(at(base, K * K + j * K + i), v);
      }
    }
    for (let j = 0; j < K; j++) {
      store<f32>(at(base, 2 * K * K + j), pen && load<i32>(at(allowed, K * K + j)) === 0 ? NEG : load<f32>(at(start, j)));
      store<f32>(at(base, 2 * K * K + K + j), pen && load<i32>(at(allowed, K * K + K + j)) === 0 ? NEG : load<f32>(at(end, j)));
    }
  }
}

/** Whether every tag of a sentence's gold path is a tag id (a row without gold tags is not scored). */
function goldKnown(labels: usize, r: i32, B: i32, len: i32, K: i32): bool {
  for (let t = 0; t < len; t++) {
    const y = load<i32>(at(labels, t * B + r));
    if (y < 0 || y >= K) return false;
  }
  return true;
}

/** Whether a sentence's gold path uses only allowed moves (a row that does not is scored unconstrained). */
function goldAllowed(labels: usize, r: i32, B: i32, len: i32, K: i32, allowed: usize): bool {
  if (allowed === 0) return true;
  let prev = load<i32>(at(labels, r));
  if (load<i32>(at(allowed, K * K + prev)) === 0) return false;
  for (let t = 1; t < len; t++) {
    const y = load<i32>(at(labels, t * B + r));
    if (load<i32>(at(allowed, prev * K + y)) === 0) return false;
    prev = y;
  }
  return load<i32>(at(allowed, K * K + K + prev)) !== 0;
}

/**
 * The CRF's summed negative log-likelihood over the B sentences (labels [T·B] i32, −1 on padding; lengths
 * [B] i32; a sentence with a label that is not a tag id counts 0, with zero gradients). With allowed ≠ 0, Z sums over the allowed paths only (a sentence whose gold path is itself
 * forbidden, possible when ingest only warns about IOB2, is scored without the constraint).
 * When grad: the gradients of scale · NLL replace the emissions in place (zeros on padding, as softmaxXent)
 * and are written (not accumulated) to dtr [K, K], dstart [K], dend [K]:
 *   d/de_t[j] = p(y_t = j) − [gold_t = j];  d/dtr[i, j] = Σ_t p(y_{t−1} = i, y_t = j) − #gold moves i → j;
 *   d/dstart, d/dend = the first / last tag's marginal − its gold indicator.
 * work: crfScratch(T, K) floats.
 */
export function crfNll(emis: usize, labels: usize, lengths: usize, T: i32, B: i32, K: i32,
  tr: usize, start: usize, end: usize, allowed: usize, scale: f32, grad: i32,
  dtr: usize, dstart: usize, dend: usize, work: usize): f64 {
  const KK = K * K;
  const n = 2 * KK + 2 * K;
  const alpha = work;
  const beta = at(alpha, T * K);
  const tabs = at(beta, T * K);
  const tmp = at(tabs, 2 * n);
  buildTables(tr, start, end, allowed, K, tabs);
  if (grad) {
    memory.fill(dtr, 0, <usize>KK << 2);
    memory.fill(dstart, 0, <usize>K << 2);
    memory.fill(dend, 0, <usize>K << 2);
  }
  const rowBytes = <usize>K << 2;
  const stepBytes = <usize>B * rowBytes;
  let total: f64 = 0;
  for (let r = 0; r < B; r++) {
    const len = load<i32>(at(lengths, r));
    const e0 = emis + <usize>r * rowBytes; // e_t = e0 + t·stepBytes
    if (len <= 0 || !goldKnown(labels, r, B, len, K)) {
      if (grad) for (let t = 0; t < T; t++) memory.fill(e0 + <usize>t * stepBytes, 0, rowBytes);
      continue;
    }
    const tab = goldAllowed(labels, r, B, len, K, allowed) ? at(tabs, allowed !== 0 ? n : 0) : tabs;
    const ttr = tab;
    const ttrT = at(tab, KK);
    const tst = at(tab, 2 * KK);
    const ten = at(tab, 2 * KK + K);
    // forward: alpha_t[j] = e_t[j] + log Σ_i exp(alpha_{t−1}[i] + tr[i, j])
    for (let j = 0; j < K; j++) store<f32>(at(alpha, j), load<f32>(at(tst, j)) + load<f32>(at(e0, j)));
    for (let t = 1; t < len; t++) {
      const ap = at(alpha, (t - 1) * K);
      const a = at(alpha, t * K);
      const et = e0 + <usize>t * stepBytes;
      for (let j = 0; j < K; j++) store<f32>(at(a, j), load<f32>(at(et, j)) + lse2(ap, at(ttrT, j * K), K));
    }
    const logZ = lse2(at(alpha, (len - 1) * K), ten, K);
    // the gold path's score
    let y = load<i32>(at(labels, r));
    let gold: f32 = load<f32>(at(tst, y)) + load<f32>(at(e0, y));
    for (let t = 1; t < len; t++) {
      const yt = load<i32>(at(labels, t * B + r));
      gold += load<f32>(at(ttr, y * K + yt)) + load<f32>(at(e0 + <usize>t * stepBytes, yt));
      y = yt;
    }
    gold += load<f32>(at(ten, y));
    total += <f64>(logZ - gold);
    if (!grad) continue;

    // backward: beta_t[i] = log Σ_j exp(tr[i, j] + e_{t+1}[j] + beta_{t+1}[j]); beta_{L−1} = end
    memory.copy(at(beta, (len - 1) * K), ten, rowBytes);
    for (let t = len - 2; t >= 0; t--) {
      const bn = at(beta, (t + 1) * K);
      const en = e0 + <usize>(t + 1) * stepBytes;
      for (let j = 0; j < K; j++) store<f32>(at(tmp, j), load<f32>(at(en, j)) + load<f32>(at(bn, j)));
      const b = at(beta, t * K);
      for (let i = 0; i < K; i++) store<f32>(at(b, i), lse2(at(ttr, i * K), tmp, K));
    }
    // pairwise marginals p(y_{t−1} = i, y_t = j) = exp(alpha_{t−1}[i] + tr[i, j] + e_t[j] + beta_t[j] − log Z),
    // read before e_t is overwritten by its gradient
    for (let t = 1; t < len; t++) {
      const et = e0 + <usize>t * stepBytes;
      const bt = at(beta, t * K);
      for (let j = 0; j < K; j++) store<f32>(at(tmp, j), load<f32>(at(et, j)) + load<f32>(at(bt, j)) - logZ);
      const ap = at(alpha, (t - 1) * K);
      const vs = f32x4.splat(scale);
      for (let i = 0; i < K; i++) {
        const ai = f32x4.splat(load<f32>(at(ap, i)));
        const trow = at(ttr, i * K);
        const drow = at(dtr, i * K);
        let j = 0;
        for (; j + 4 <= K; j += 4) {
          const p = vexp(f32x4.add(ai, f32x4.add(v128.load(at(trow, j)), v128.load(at(tmp, j)))));
          v128.store(at(drow, j), f32x4.add(v128.load(at(drow, j)), f32x4.mul(p, vs)));
        }
        for (; j < K; j++) {
          const p = sexp(f32x4.extract_lane(ai, 0) + load<f32>(at(trow, j)) + load<f32>(at(tmp, j)));
          store<f32>(at(drow, j), load<f32>(at(drow, j)) + p * scale);
        }
      }
    }
    // unary marginals → emission gradients (in place); start and end; minus the gold path's counts
    for (let t = 0; t < T; t++) {
      const et = e0 + <usize>t * stepBytes;
      if (t >= len) {
        memory.fill(et, 0, rowBytes);
        continue;
      }
      const a = at(alpha, t * K);
      const b = at(beta, t * K);
      const yt = load<i32>(at(labels, t * B + r));
      for (let j = 0; j < K; j++) {
        const p = sexp(load<f32>(at(a, j)) + load<f32>(at(b, j)) - logZ);
        const g = (p - (j === yt ? <f32>1 : <f32>0)) * scale;
        store<f32>(at(et, j), g);
        if (t === 0) store<f32>(at(dstart, j), load<f32>(at(dstart, j)) + g);
        if (t === len - 1) store<f32>(at(dend, j), load<f32>(at(dend, j)) + g);
      }
      if (t > 0) {
        const yp = load<i32>(at(labels, (t - 1) * B + r));
        store<f32>(at(dtr, yp * K + yt), load<f32>(at(dtr, yp * K + yt)) - scale);
      }
    }
  }
  return total;
}

/**
 * Viterbi decoding: the highest-scoring tag path of each sentence into pred [T·B] (i32, time-major; 0 on
 * padding). With allowed ≠ 0, forbidden moves are never taken (they are skipped, not just penalised), so the
 * path is valid in the tag scheme whenever any valid path exists. Ties go to the lowest tag id.
 * work: crfScratch(T, K) floats (uses T·K + 2K of them).
 */
export function crfViterbi(emis: usize, lengths: usize, T: i32, B: i32, K: i32,
  tr: usize, start: usize, end: usize, allowed: usize, pred: usize, work: usize): void {
  const bp = work; // i32 [T, K]: the best previous tag
  const d0 = at(bp, T * K);
  const d1 = at(d0, K);
  const rowBytes = <usize>K << 2;
  const stepBytes = <usize>B * rowBytes;
  for (let r = 0; r < B; r++) {
    const len = load<i32>(at(lengths, r));
    for (let t = max(len, 0); t < T; t++) store<i32>(at(pred, t * B + r), 0);
    if (len <= 0) continue;
    const e0 = emis + <usize>r * rowBytes;
    let prev = d0;
    let cur = d1;
    for (let j = 0; j < K; j++) {
      const ok = allowed === 0 || load<i32>(at(allowed, K * K + j)) !== 0;
      store<f32>(at(prev, j), ok ? load<f32>(at(start, j)) + load<f32>(at(e0, j)) : NEG);
    }
    for (let t = 1; t < len; t++) {
      const et = e0 + <usize>t * stepBytes;
      for (let j = 0; j < K; j++) {
        let best: f32 = NEG;
        let arg = -1;
        for (let i = 0; i < K; i++) {
          if (allowed !== 0 && load<i32>(at(allowed, i * K + j)) === 0) continue;
          const v = load<f32>(at(prev, i)) + load<f32>(at(tr, i * K + j));
          if (arg < 0 || v > best) {
            best = v;
            arg = i;
          }
        }
        store<i32>(at(bp, t * K + j), arg < 0 ? 0 : arg);
        store<f32>(at(cur, j), arg < 0 ? NEG : best + load<f32>(at(et, j)));
      }
      const s = prev;
      prev = cur;
      cur = s;
    }
    let best: f32 = NEG;
    let y = -1;
    for (let j = 0; j < K; j++) {
      if (allowed !== 0 && load<i32>(at(allowed, K * K + K + j)) === 0) continue;
      const v = load<f32>(at(prev, j)) + load<f32>(at(end, j));
      if (y < 0 || v > best) {
        best = v;
        y = j;
      }
    }
    if (y < 0) y = 0;
    for (let t = len - 1; t >= 0; t--) {
      store<i32>(at(pred, t * B + r), y);
      if (t > 0) y = load<i32>(at(bp, t * K + y));
    }
  }
}
