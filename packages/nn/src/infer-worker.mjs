// The inference engine's per-batch computation (infer.ts), plain JavaScript so that a worker thread runs it
// without a TypeScript loader; the calling thread imports the same function (infer.ts' sync mode).
// When loaded as an inference worker it instantiates the kernel on the model's shared memory and answers jobs.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

/**
 * Floats of scratch one batch of B rows × T steps needs (the arena each thread owns): lengths, both
 * directions' ids and h, the step's gates and cell, the joined h, the logits, and the CRF's buffers.
 */
export function arenaFloats(L, crfScratch, B, T) {
  const TB = T * B;
  const up = (n) => ((n * 4 + 15) & ~15) / 4;
  let n = up(B) + 2 * up(TB) + 2 * up(TB * L.H) + up(B * 4 * L.H) + up(B * L.H) + up(TB * 2 * L.H) + up(TB * L.K);
  if (L.crf) n += up(TB) + up(crfScratch) + up(L.K * L.K) + 2 * up(L.K);
  return n;
}

/**
 * out[dst..dst+K) = softmax of logits[src..src+K): the max subtracted, exp, divided by the sum (added in tag order).
 * The one copy of the formula that training's probabilities (fused.ts softmaxRows) and inference share.
 */
export function softmaxAt(logits, src, out, dst, K) {
  let mx = -Infinity;
  for (let c = 0; c < K; c++) mx = Math.max(mx, logits[src + c]);
  let sum = 0;
  for (let c = 0; c < K; c++) sum += out[dst + c] = Math.exp(logits[src + c] - mx);
  for (let c = 0; c < K; c++) out[dst + c] /= sum;
}

/** One position's probabilities (compact batches; reused: no allocation per position). */
let row = new Float32Array(0);

/**
 * One batch (rows sorted by length ascending: see infer.ts) → { predictions [B·T], probabilities [B·T·K] },
 * row-major like the batch, exactly what FusedBiLstm.decode returns for it: the argmax of the softmax, or
 * with a CRF head the Viterbi path and the marginals. With `job.compact`, probabilities is [B·T]: each
 * position's probability of its own tag (what prediction reports; 17× less to allocate and hand over).
 * `arena` = { base, end }: byte range this thread owns.
 */
export function computeBatch(k, memory, L, arena, job) {
  const { B, T, tokens, lengths } = job;
  const { H, K } = L;
  const TB = T * B;
  let top = arena.base;
  const a = (n) => {
    const at = top;
    top += (n * 4 + 15) & ~15;
    if (top > arena.end) throw new Error(`inference arena too small for a batch of ${B} × ${T}`);
    return at;
  };
  const pl = a(B);
  const ids = [a(TB), a(TB)];
  const h = [a(TB * H), a(TB * H)];
  const gates = a(B * 4 * H);
  const cell = a(B * H);
  const hcat = a(TB * 2 * H);
  const logits = a(TB * K);
  const buf = memory.buffer;
  new Int32Array(buf, pl, B).set(lengths);
  const fw = new Int32Array(buf, ids[0], TB);
  const bw = new Int32Array(buf, ids[1], TB);
  for (let r = 0; r < B; r++) {
    const len = lengths[r];
    const row = r * T;
    for (let t = 0; t < len; t++) {
      fw[t * B + r] = tokens[row + t];
      bw[t * B + r] = tokens[row + len - 1 - t];
    }
  }
  for (let d = 0; d < 2; d++) k.inferDirection(L.tables[d], ids[d], pl, T, B, H, 0, 0, 0, L.wh[d], h[d], gates, cell);
  k.joinDirections(h[0], h[1], pl, T, B, H, hcat);
  k.gemmBias(hcat, 2 * H, 1, L.denseKernel, K, logits, K, TB, 2 * H, K, L.denseBias);
  const predictions = new Int32Array(B * T);
  if (!L.crf) {
    // softmaxAt (FusedBiLstm's softmaxRows uses it too) and decode's argmax, the same operations in the same order
    const lg = new Float32Array(buf, logits, TB * K);
    if (job.compact) {
      // each real position's softmax in a K-float row, then its argmax and that tag's probability: the same
      // operations as below on the same values (padding keeps tag 0 and probability 0, as there)
      if (row.length < K) row = new Float32Array(K);
      const own = new Float32Array(B * T);
      for (let r = 0; r < B; r++) {
        for (let t = 0; t < lengths[r]; t++) {
          softmaxAt(lg, (t * B + r) * K, row, 0, K);
          let best = 0;
          for (let c = 1; c < K; c++) if (row[c] > row[best]) best = c;
          predictions[r * T + t] = best;
          own[r * T + t] = row[best];
        }
      }
      return { predictions, probabilities: own };
    }
    const out = new Float32Array(B * T * K);
    for (let r = 0; r < B; r++) {
      for (let t = 0; t < lengths[r]; t++) softmaxAt(lg, (t * B + r) * K, out, (r * T + t) * K, K);
    }
    for (let i = 0; i < predictions.length; i++) {
      let best = 0;
      for (let c = 1; c < K; c++) if (out[i * K + c] > out[i * K + best]) best = c;
      predictions[i] = best;
    }
    return { predictions, probabilities: out };
  }
  const { transitions, start, end, allowed } = L.crf;
  const pred = a(TB);
  const work = a(k.crfScratch(T, K));
  const dtr = a(K * K);
  const ds = a(K);
  const de = a(K);
  k.crfViterbi(logits, pl, T, B, K, transitions, start, end, allowed, pred, work);
  k.crfNll(logits, 0, pl, T, B, K, transitions, start, end, allowed, 1, 1, dtr, ds, de, work);
  const p = new Float32Array(memory.buffer, logits, TB * K);
  const path = new Int32Array(memory.buffer, pred, TB);
  for (let t = 0; t < T; t++) for (let r = 0; r < B; r++) predictions[r * T + t] = path[t * B + r];
  if (job.compact) {
    // the marginal of each position's own tag, read where the kernel left it (time-major)
    const own = new Float32Array(B * T);
    for (let t = 0; t < T; t++) for (let r = 0; r < B; r++) own[r * T + t] = p[(t * B + r) * K + path[t * B + r]];
    return { predictions, probabilities: own };
  }
  const out = new Float32Array(B * T * K);
  for (let t = 0; t < T; t++)
    for (let r = 0; r < B; r++) out.set(p.subarray((t * B + r) * K, (t * B + r + 1) * K), (r * T + t) * K);
  return { predictions, probabilities: out };
}

if (!isMainThread && workerData?.nerflowInfer) {
  const { module, memory, L, arena, table } = workerData;
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
  // an input-projection table the engine left to this worker (infer.ts: built while the calling thread builds
  // the other one), before it reports ready
  if (table) k.inferTable(table.emb, table.wx, table.bias, table.V, table.We, table.H, table.table);
  const claims = workerData.claims;
  parentPort.on('message', (job) => {
    // the calling thread may have taken this job while it waited in the port (InferenceEngine.helpOne)
    if (claims && Atomics.compareExchange(claims, job.id % claims.length, 0, 1) !== 0) {
      parentPort.postMessage({ id: job.id, skipped: true });
      return;
    }
    try {
      const r = computeBatch(k, memory, L, arena, job);
      parentPort.postMessage({ id: job.id, ...r }, [r.predictions.buffer, r.probabilities.buffer]);
    } catch (e) {
      parentPort.postMessage({ id: job.id, error: String((e && e.stack) || e) });
    }
  });
  parentPort.postMessage({ ready: true });
}
