import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import { allowedTransitions, pathAllowed } from './crf.js';
import type { Batch } from './data.js';
import { FusedBiLstm } from './fused.js';
import { LayersBiLstm } from './layers.js';
import type { TaggerSpec } from './spec.js';
import { createTagger, loadTagger } from './tagger.js';

// The whole model with the CRF head: the same checks as fused.test.ts gives the softmax head.

before(async () => {
  await initBackend('wasm');
});

const TAGS = ['O', 'B-a', 'I-a', 'B-b', 'I-b'];
const spec: TaggerSpec = {
  kind: 'fused',
  vocabSize: 12,
  numTags: 5,
  embeddingDim: 4,
  lstmUnits: 3,
  dropout: 0,
  recurrentDropout: 0,
  learningRate: 1e-3,
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  seed: 3,
  head: 'crf',
  crf: { constrain: true, tags: TAGS },
};
// three rows of lengths 4, 2, 3 padded to 4 steps; gold paths valid IOB2
const batch: Batch = {
  size: 3,
  steps: 4,
  lengths: Int32Array.from([4, 2, 3]),
  tokens: Int32Array.from([2, 5, 7, 3, 9, 4, 0, 0, 11, 6, 2, 0]),
  tags: Int32Array.from([0, 1, 2, 0, 3, 4, 0, 0, 1, 1, 0, 0]),
  index: Int32Array.from([0, 1, 2]),
};

function relError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - n[i]) ** 2;
    den += (a[i] + n[i]) ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

/** Weights less tame than the init (the CRF's zeros included), so every path matters. */
function roughen(m: FusedBiLstm, seed: number): void {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 0.6 - 0.3;
  for (const [name] of [...m.shapes(), ...m.headShapes()]) {
    const w = m.view('param', name);
    for (let i = 0; i < w.length; i++) w[i] += name.startsWith('crf/') ? 5 * rand() : rand();
  }
}

test('fused BiLSTM-CRF gradients match finite differences (every weight, the CRF and the embedding rows)', () => {
  for (const s of [
    spec,
    {
      ...spec,
      lstmUnits: 4,
      embeddingDim: 5,
      recurrentDropout: 0.3,
      dropout: 0.2,
      crf: { constrain: false, tags: TAGS },
    },
  ]) {
    const m = new FusedBiLstm(s);
    roughen(m, 7);
    const draws = Array.from({ length: 4096 }, m.rand);
    const fixed = () => {
      let k = 0;
      m.rand = () => draws[k++];
    };
    fixed();
    const { grads, dx } = m.compute(batch, true);
    const eps = 1e-2;
    const analytic: number[] = [];
    const numeric: number[] = [];
    const lossAt = () => {
      fixed();
      return m.compute(batch, false, { dropout: true }).loss;
    };
    for (const [name] of [...m.shapes(), ...m.headShapes()]) {
      const w = m.view('param', name);
      const step = name.startsWith('crf/') ? 1 : Math.max(1, Math.floor(w.length / 23));
      for (let j = 0; j < w.length; j += step) {
        const v = w[j];
        w[j] = v + eps;
        const up = lossAt();
        w[j] = v - eps;
        const down = lossAt();
        w[j] = v;
        analytic.push(grads![name][j]);
        numeric.push((up - down) / (2 * eps));
      }
    }
    const E = s.embeddingDim;
    for (const [pos, k] of [
      [0, 0],
      [1, 2],
      [4, 3],
      [9, 1],
    ]) {
      const id = batch.tokens[pos];
      m.emb[id * E + k] += eps;
      const up = lossAt();
      m.emb[id * E + k] -= 2 * eps;
      const down = lossAt();
      m.emb[id * E + k] += eps;
      let sum = 0;
      for (let p = 0; p < batch.tokens.length; p++)
        if (batch.tokens[p] === id && p % batch.steps < batch.lengths[Math.floor(p / batch.steps)])
          sum += dx![p * E + k];
      analytic.push(sum);
      numeric.push((up - down) / (2 * eps));
    }
    const err = relError(analytic, numeric);
    assert.ok(analytic.length > 130, `${analytic.length} entries checked`);
    assert.ok(err < 1e-3, `relative error ${err} (constrained ${s.crf?.constrain}, dropout ${s.dropout})`);
  }
});

test('the fused BiLSTM-CRF computes what tf.layers + a TF.js-ops CRF computes: same loss, same gradient for every weight, same Viterbi paths', () => {
  for (const constrain of [true, false]) {
    const s: TaggerSpec = { ...spec, lstmUnits: 6, embeddingDim: 5, crf: { constrain, tags: TAGS } };
    const m = new FusedBiLstm(s);
    roughen(m, 11);
    const ref = new LayersBiLstm({ ...s, kind: 'layers' });
    const E = s.embeddingDim;
    const shapes = m.shapes();
    ref.model.setWeights([
      tf.tensor(m.emb, [s.vocabSize, E]),
      ...shapes.map(([name, shape]) => tf.tensor(m.view('param', name).slice(), shape)),
    ]);
    ref.crf!.transitions.assign(tf.tensor(m.view('param', 'crf/transitions').slice(), [5, 5]));
    ref.crf!.start.assign(tf.tensor(m.view('param', 'crf/start').slice()));
    ref.crf!.end.assign(tf.tensor(m.view('param', 'crf/end').slice()));
    const ours = m.compute(batch, true);
    const theirs = ref.gradients(batch);
    assert.ok(
      Math.abs(ours.loss - theirs.loss) < 1e-5 * Math.abs(theirs.loss),
      `loss ${ours.loss} vs TF.js ${theirs.loss}`,
    );
    const demb = new Float32Array(s.vocabSize * E);
    for (let r = 0; r < batch.size; r++)
      for (let t = 0; t < batch.lengths[r]; t++) {
        const pos = r * batch.steps + t;
        for (let k = 0; k < E; k++) demb[batch.tokens[pos] * E + k] += ours.dx![pos * E + k];
      }
    assert.ok(
      relError(demb, theirs.grads[0]) < 1e-4,
      `embedding gradient: relative error ${relError(demb, theirs.grads[0])}`,
    );
    [...shapes, ...m.headShapes()].forEach(([name], i) => {
      const err = relError(ours.grads![name], theirs.grads[i + 1]);
      assert.ok(err < 1e-4, `${name}: relative error ${err} against TF.js (constrained ${constrain})`);
    });
    const real = (p: Int32Array) => Array.from(p).filter((_, q) => q % 4 < batch.lengths[Math.floor(q / 4)]);
    // tag probabilities: the CRF's marginals, each real token's summing to 1, padding 0
    const marg = m.marginals(batch);
    for (let r = 0; r < batch.size; r++)
      for (let t = 0; t < batch.steps; t++) {
        const sum = marg.subarray((r * 4 + t) * 5, (r * 4 + t + 1) * 5).reduce((x, y) => x + y, 0);
        assert.ok(Math.abs(sum - (t < batch.lengths[r] ? 1 : 0)) < 1e-5, `row ${r} step ${t}: ${sum}`);
      }
    if (constrain)
      for (let r = 0; r < batch.size; r++) for (const k of [2, 4]) assert.equal(marg[r * 4 * 5 + k], 0, 'no I- first');
    assert.deepEqual(real(m.evaluate(batch).predictions), real(ref.evaluate(batch).predictions), 'same Viterbi paths');
    ref.dispose();
  }
});

test('BiLSTM-CRF: padding never matters, and the softmax head is untouched by the CRF code', () => {
  const m = new FusedBiLstm(spec);
  roughen(m, 5);
  const a = m.compute(batch, true);
  const wider: Batch = { ...batch, steps: 6, tokens: new Int32Array(18), tags: new Int32Array(18) };
  for (let r = 0; r < 3; r++)
    for (let t = 0; t < 4; t++) {
      wider.tokens[r * 6 + t] = batch.tokens[r * 4 + t];
      wider.tags[r * 6 + t] = batch.tags[r * 4 + t];
    }
  const b = m.compute(wider, true);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
  for (const [name] of [...m.shapes(), ...m.headShapes()]) {
    const x = a.grads![name];
    const y = b.grads![name];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `${name}[${i}]`);
  }
  // the same seed draws the same LSTM and dense weights with either head (the CRF starts at zeros)
  const soft = new FusedBiLstm({ ...spec, head: 'softmax', crf: undefined });
  for (const [name] of soft.shapes())
    assert.deepEqual(soft.view('param', name), new FusedBiLstm(spec).view('param', name), name);
  assert.deepEqual(soft.headShapes(), []);
});

for (const kind of ['fused', 'layers'] as const) {
  test(`${kind} BiLSTM-CRF: learns a batch, decodes valid IOB2, saves crf.json beside the TF.js weights and loads back the same`, async () => {
    const s: TaggerSpec = {
      ...spec,
      kind,
      vocabSize: 40,
      embeddingDim: 6,
      lstmUnits: 5,
      dropout: 0.1,
      recurrentDropout: 0.1,
      learningRate: 0.01,
      seed: 9,
    };
    const t = createTagger(s);
    const first = t.trainBatch(batch);
    let last = first;
    for (let i = 0; i < 60; i++) last = t.trainBatch(batch);
    assert.ok(last < first * 0.5, `${kind}: loss ${first} → ${last}`);
    const before = t.evaluateBatch(batch);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'nerflow-crf-')), 'model');
    await t.save(dir, { withOptimizer: true });
    const crf = JSON.parse(readFileSync(path.join(dir, 'crf.json'), 'utf8'));
    assert.equal(crf.format, 'nerflow-crf');
    assert.deepEqual(crf.tags, TAGS);
    assert.equal(crf.transitions.length, 5);
    assert.ok(
      crf.transitions.flat().some((v: number) => v !== 0),
      'the transitions were learned',
    );
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'nerflow.json'), 'utf8')).spec.head, 'crf');
    const u = await loadTagger(dir, { withOptimizer: true });
    const after = u.evaluateBatch(batch);
    assert.deepEqual(after.predictions, before.predictions);
    assert.ok(Math.abs(after.loss - before.loss) < 1e-6, `${after.loss} vs ${before.loss}`);
    const allowed = allowedTransitions(TAGS);
    for (let r = 0; r < batch.size; r++) {
      const p = after.predictions.subarray(r * batch.steps, r * batch.steps + batch.lengths[r]);
      assert.ok(pathAllowed(p, allowed, 5), `row ${r}`);
      assert.deepEqual(
        Array.from(p),
        Array.from(batch.tags.subarray(r * batch.steps, r * batch.steps + batch.lengths[r])),
        `row ${r} learned`,
      );
    }
    if (kind === 'fused') {
      // --resume: the CRF's Adam moments are saved with the rest of the optimizer state
      const names = JSON.parse(readFileSync(path.join(dir, 'optimizer.json'), 'utf8')).weights.map(
        (w: { name: string }) => w.name,
      );
      for (const n of ['crf/transitions/m', 'crf/transitions/v', 'crf/start/m', 'crf/end/v'])
        assert.ok(names.includes(n), n);
    }
    t.dispose();
    u.dispose();
    // the transitions are part of the model: a CRF folder without crf.json is refused, naming the file
    rmSync(path.join(dir, 'crf.json'));
    await assert.rejects(loadTagger(dir), /crf\.json: missing|has no crf\.json/);
  });
}
