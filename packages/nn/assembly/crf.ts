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

import { vexp } from './simd-math';

/** Stands for log 0: finite, so max-subtraction never computes −∞ − (−∞). */
const NEG: f32 = -1e30;

/** exp, exactly 0 below −87.3 (vexp clamps there to 1.2e−38, which a large factor could bring back). */
@inline
function vexpz(x: v128): v128 {
  return v128.and(vexp(x), f32x4.gt(x, f32x4.splat(-87.3)));
}

@inline
function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/** Horizontal max of Kp floats (Kp a multiple of 4). */
@inline
function vmax(a: usize, Kp: i32): f32 {
  let m = v128.load(a);
  for (let k = 4; k < Kp; k += 4) m = f32x4.max(m, v128.load(at(a, k)));
  return max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
}

/** out[k] = exp(a[k] − m) over Kp floats (NEG lanes give 0). */
@inline
function expShift(a: usize, m: f32, out: usize, Kp: i32): void {
  const vm = f32x4.splat(m);
  for (let k = 0; k < Kp; k += 4) v128.store(at(out, k), vexpz(f32x4.sub(v128.load(at(a, k)), vm)));
}

/** log Σ_k exp(a[k] + b[k]) over Kp floats (padding lanes at NEG add nothing). */
function lse2(a: usize, b: usize, Kp: i32): f32 {
  let vm = f32x4.add(v128.load(a), v128.load(b));
  for (let k = 4; k < Kp; k += 4) vm = f32x4.max(vm, f32x4.add(v128.load(at(a, k)), v128.load(at(b, k))));
  const mx = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  vm = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  for (let k = 0; k < Kp; k += 4) acc = f32x4.add(acc, vexpz(f32x4.sub(f32x4.add(v128.load(at(a, k)), v128.load(at(b, k))), vm)));
  return mx + Mathf.log(f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
}

/** out[0..Kp) = Σ_{i<K} w[i] · rows[i·Kp ..] (a vector-matrix product over padded rows). */
@inline
function rowsTimes(w: usize, rows: usize, K: i32, Kp: i32, out: usize): void {
  memory.fill(out, 0, <usize>Kp << 2);
  for (let i = 0; i < K; i++) {
    const wi = f32x4.splat(load<f32>(at(w, i)));
    const row = at(rows, i * Kp);
    for (let k = 0; k < Kp; k += 4) v128.store(at(out, k), f32x4.add(v128.load(at(out, k)), f32x4.mul(wi, v128.load(at(row, k)))));
  }
}

/** Tag count rounded up to whole f32x4 vectors: rows of the CRF's scratch are padded to it. */
@inline
function padded(K: i32): i32 {
  return (K + 3) & ~3;
}

/** Floats in one score table (see buildTables). */
@inline
function tableFloats(K: i32): i32 {
  const Kp = padded(K);
  return K * K + 4 * K * Kp + 2 * Kp + 4;
}

/** Floats of scratch crfNll and crfViterbi need. */
export function crfScratch(T: i32, K: i32): i32 {
  const Kp = padded(K);
  return 2 * T * Kp + 2 * tableFloats(K) + K * Kp + 3 * Kp;
}

/**
 * Two score tables at tabs: [0] the free parameters, [1] with the forbidden moves ruled out (when allowed ≠
 * 0). Each is tr [K·K] (log space, forbidden at NEG), ex [K, Kp] = exp(tr) and exT [K, Kp] its transpose
 * (forbidden and padding 0), start and end [Kp] (log space, forbidden and padding at NEG), lt [K, Kp] and
 * ltT [K, Kp] = tr and its transpose on padded rows (padding at NEG), then the largest allowed tr.
 */
function buildTables(tr: usize, start: usize, end: usize, allowed: usize, K: i32, tabs: usize): void {
  const Kp = padded(K);
  const n = tableFloats(K);
  for (let s = 0; s < 2; s++) {
    const base = at(tabs, s * n);
    const ex = at(base, K * K);
    const exT = at(ex, K * Kp);
    const st = at(exT, K * Kp);
    const en = at(st, Kp);
    const lt = at(en, Kp);
    const ltT = at(lt, K * Kp);
    memory.fill(ex, 0, <usize>(2 * K * Kp) << 2);
    for (let k = 0; k < 2 * K * Kp; k++) store<f32>(at(lt, k), NEG);
    const pen = s === 1 && allowed !== 0;
    let top: f32 = NEG;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const off = pen && load<i32>(at(allowed, i * K + j)) === 0;
        const v = load<f32>(at(tr, i * K + j));
        const lv = off ? NEG : v;
        store<f32>(at(base, i * K + j), lv);
        store<f32>(at(lt, i * Kp + j), lv);
        store<f32>(at(ltT, j * Kp + i), lv);
        top = max(top, lv);
        const e: f32 = off ? 0 : Mathf.exp(v);
        store<f32>(at(ex, i * Kp + j), e);
        store<f32>(at(exT, j * Kp + i), e);
      }
    }
    store<f32>(at(ltT, K * Kp), top);
    for (let j = 0; j < Kp; j++) {
      store<f32>(at(st, j), j >= K || (pen && load<i32>(at(allowed, K * K + j)) === 0) ? NEG : load<f32>(at(start, j)));
      store<f32>(at(en, j), j >= K || (pen && load<i32>(at(allowed, K * K + K + j)) === 0) ? NEG : load<f32>(at(end, j)));
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
 * A rescaled sum's log, or NEG when no path reaches the state; EXACT (+∞) when the sum is so small that
 * rescaling may have lost the terms that matter: the caller recomputes that entry term by term.
 */
@inline
function logOr(s: f32): f32 {
  return s > <f32>1e-20 ? Mathf.log(s) : EXACT;
}

/** Marks an entry the rescaled product cannot give precisely (see logOr). */
const EXACT: f32 = Infinity;

/**
 * The CRF's summed negative log-likelihood over the B sentences (labels [T·B] i32, −1 on padding; lengths
 * [B] i32; a sentence with a label that is not a tag id counts 0, with zero gradients). With allowed ≠ 0,
 * Z sums over the allowed paths only (a sentence whose gold path is itself forbidden, possible when ingest
 * only warns about IOB2, is scored without the constraint).
 * Log space: alpha_t[j] = log Σ over the paths up to t ending in j, beta_t[i] the same for the rest of the
 * sentence. Each step's log-sum-exp takes out the previous step's maximum m:
 *   alpha_t[j] = e_t[j] + m + log Σ_i exp(alpha_{t−1}[i] − m) · exp(tr[i, j])
 * so a step is one small vector-matrix product with exp(tr) (computed once per batch) and K logs; nothing
 * overflows while |tr| < 88 (exp of a float32). A state whose rescaled sum is tiny (reached only from states
 * far less likely than the best, which the rescaling flushes to 0) is recomputed as a plain log-sum-exp, and
 * one that no path reaches gets NEG, never −∞.
 * When grad: the gradients of scale · NLL replace the emissions in place (zeros on padding, as softmaxXent)
 * and are written (not accumulated) to dtr [K, K], dstart [K], dend [K]:
 *   d/de_t[j] = p(y_t = j) − [gold_t = j];  d/dtr[i, j] = Σ_t p(y_{t−1} = i, y_t = j) − #gold moves i → j;
 *   d/dstart, d/dend = the first / last tag's marginal − its gold indicator.
 * labels = 0 (no gold tags): returns 0 and, when grad, leaves scale · the marginals p(y_t = j) in place of
 * the emissions (the tag probabilities a CRF gives each token; constrained when allowed ≠ 0).
 * work: crfScratch(T, K) floats.
 */
export function crfNll(emis: usize, labels: usize, lengths: usize, T: i32, B: i32, K: i32,
  tr: usize, start: usize, end: usize, allowed: usize, scale: f32, grad: i32,
  dtr: usize, dstart: usize, dend: usize, work: usize): f64 {
  const Kp = padded(K);
  const n = tableFloats(K);
  const alpha = work; // [T, Kp]
  const beta = at(alpha, T * Kp); // [T, Kp]
  const tabs = at(beta, T * Kp);
  const dtrP = at(tabs, 2 * n); // [K, Kp]: dtr accumulated on padded rows
  const va = at(dtrP, K * Kp); // [Kp] scratch vectors
  const vb = at(va, Kp);
  const vc = at(vb, Kp);
  buildTables(tr, start, end, allowed, K, tabs);
  if (grad) {
    memory.fill(dtrP, 0, <usize>(K * Kp) << 2);
    memory.fill(dstart, 0, <usize>K << 2);
    memory.fill(dend, 0, <usize>K << 2);
  }
  const rowBytes = <usize>K << 2;
  const stepBytes = <usize>B * rowBytes;
  let total: f64 = 0;
  for (let r = 0; r < B; r++) {
    const len = load<i32>(at(lengths, r));
    const e0 = emis + <usize>r * rowBytes; // e_t = e0 + t·stepBytes
    const noGold = labels === 0;
    if (len <= 0 || (!noGold && !goldKnown(labels, r, B, len, K))) {
      if (grad) for (let t = 0; t < T; t++) memory.fill(e0 + <usize>t * stepBytes, 0, rowBytes);
      continue;
    }
    const tab = at(tabs, allowed !== 0 && (noGold || goldAllowed(labels, r, B, len, K, allowed)) ? n : 0);
    const ttr = tab;
    const ex = at(tab, K * K);
    const exT = at(ex, K * Kp);
    const tst = at(exT, K * Kp);
    const ten = at(tst, Kp);
    const lt = at(ten, Kp);
    const ltT = at(lt, K * Kp);
    const trTop = load<f32>(at(ltT, K * Kp));
    // forward (alpha rows padded with NEG)
    for (let j = 0; j < Kp; j++) store<f32>(at(alpha, j), j < K ? load<f32>(at(tst, j)) + load<f32>(at(e0, j)) : NEG);
    for (let t = 1; t < len; t++) {
      const ap = at(alpha, (t - 1) * Kp);
      const a = at(alpha, t * Kp);
      const et = e0 + <usize>t * stepBytes;
      const m = vmax(ap, Kp);
      expShift(ap, m, va, Kp);
      rowsTimes(va, ex, K, Kp, vb);
      for (let j = K; j < Kp; j++) store<f32>(at(a, j), NEG);
      for (let j = 0; j < K; j++) {
        const l = logOr(load<f32>(at(vb, j)));
        store<f32>(at(a, j), load<f32>(at(et, j)) + (l === EXACT ? lse2(ap, at(ltT, j * Kp), Kp) : m + l));
      }
    }
    const logZ = lse2(at(alpha, (len - 1) * Kp), ten, Kp);
    // the gold path's score
    if (noGold && !grad) continue;
    let y = noGold ? 0 : load<i32>(at(labels, r));
    let gold: f32 = load<f32>(at(tst, y)) + load<f32>(at(e0, y));
    for (let t = 1; t < len && !noGold; t++) {
      const yt = load<i32>(at(labels, t * B + r));
      gold += load<f32>(at(ttr, y * K + yt)) + load<f32>(at(e0 + <usize>t * stepBytes, yt));
      y = yt;
    }
    gold += load<f32>(at(ten, y));
    if (!noGold) total += <f64>(logZ - gold);
    if (!grad) continue;

    // backward: beta_t[i] = log Σ_j exp(tr[i, j]) · exp(e_{t+1}[j] + beta_{t+1}[j]); beta_{L−1} = end
    memory.copy(at(beta, (len - 1) * Kp), ten, <usize>Kp << 2);
    for (let t = len - 2; t >= 0; t--) {
      const bn = at(beta, (t + 1) * Kp);
      const en = e0 + <usize>(t + 1) * stepBytes;
      for (let j = 0; j < K; j++) store<f32>(at(vc, j), load<f32>(at(en, j)) + load<f32>(at(bn, j)));
      for (let j = K; j < Kp; j++) store<f32>(at(vc, j), NEG);
      const m = vmax(vc, Kp);
      expShift(vc, m, va, Kp);
      rowsTimes(va, exT, K, Kp, vb);
      const b = at(beta, t * Kp);
      for (let i = K; i < Kp; i++) store<f32>(at(b, i), NEG);
      for (let i = 0; i < K; i++) {
        const l = logOr(load<f32>(at(vb, i)));
        store<f32>(at(b, i), l === EXACT ? lse2(at(lt, i * Kp), vc, Kp) : m + l);
      }
    }
    // pairwise marginals p(y_{t−1} = i, y_t = j) = exp(alpha_{t−1}[i] + tr[i, j] + e_t[j] + beta_t[j] − log Z)
    // = A_i · exp(tr[i, j]) · G_j with A_i = exp(alpha_{t−1}[i] − m) ≤ 1, G_j = exp(e_t[j] + beta_t[j] + m − log Z).
    // A_i is flushed to 0 below e^−87; that loses at most e^−87 · exp(tr) · G, negligible while G · exp(max tr)
    // < e^60. Past that (a state reached only from far less likely ones), term by term in log space.
    // Read before e_t is overwritten by its gradient.
    for (let t = 1; t < len; t++) {
      const et = e0 + <usize>t * stepBytes;
      const bt = at(beta, t * Kp);
      const ap = at(alpha, (t - 1) * Kp);
      const m = vmax(ap, Kp);
      for (let j = 0; j < K; j++) store<f32>(at(vc, j), load<f32>(at(et, j)) + load<f32>(at(bt, j)) + m - logZ);
      for (let j = K; j < Kp; j++) store<f32>(at(vc, j), NEG);
      if (vmax(vc, Kp) + trTop < 60) {
        expShift(ap, m, va, Kp);
        expShift(vc, 0, vb, Kp);
        for (let i = 0; i < K; i++) {
          const w = f32x4.splat(load<f32>(at(va, i)) * scale);
          const row = at(ex, i * Kp);
          const drow = at(dtrP, i * Kp);
          for (let j = 0; j < Kp; j += 4) {
            // (A_i · exp(tr)) first: it is ≤ 1/G, so the product never overflows
            v128.store(at(drow, j), f32x4.add(v128.load(at(drow, j)), f32x4.mul(f32x4.mul(w, v128.load(at(row, j))), v128.load(at(vb, j)))));
          }
        }
      } else {
        for (let i = 0; i < K; i++) {
          const ai = load<f32>(at(ap, i)) - m;
          for (let j = 0; j < K; j++) {
            const p = Mathf.exp(ai + load<f32>(at(ttr, i * K + j)) + load<f32>(at(vc, j)));
            store<f32>(at(dtrP, i * Kp + j), load<f32>(at(dtrP, i * Kp + j)) + p * scale);
          }
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
      const a = at(alpha, t * Kp);
      const b = at(beta, t * Kp);
      for (let j = 0; j < Kp; j += 4) v128.store(at(va, j), f32x4.add(v128.load(at(a, j)), v128.load(at(b, j))));
      expShift(va, logZ, vb, Kp);
      const yt = noGold ? -1 : load<i32>(at(labels, t * B + r));
      for (let j = 0; j < K; j++) {
        const g = (load<f32>(at(vb, j)) - (j === yt ? <f32>1 : <f32>0)) * scale;
        store<f32>(at(et, j), g);
        if (t === 0) store<f32>(at(dstart, j), load<f32>(at(dstart, j)) + g);
        if (t === len - 1) store<f32>(at(dend, j), load<f32>(at(dend, j)) + g);
      }
      if (t > 0 && !noGold) {
        const yp = load<i32>(at(labels, (t - 1) * B + r));
        store<f32>(at(dtrP, yp * Kp + yt), load<f32>(at(dtrP, yp * Kp + yt)) - scale);
      }
    }
  }
  if (grad) for (let i = 0; i < K; i++) memory.copy(at(dtr, i * K), at(dtrP, i * Kp), rowBytes);
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
