import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from './backend.js';
import { allowedTransitions, pathAllowed } from './crf.js';
import { FusedBiLstm } from './fused.js';
import { LayersBiLstm } from './layers.js';
import type { TaggerSpec } from './spec.js';
import { createTagger, loadTagger } from './tagger.js';
import {
  assertSameAsReference,
  assertSameGrads,
  copyIntoReference,
  gradCheck,
  roughen,
} from './test-helpers/grad-check.js';
import { padSteps, TINY_EMBEDDING_CHECKS, TINY_TAGS, tinyBatch, tinySpec } from './test-helpers/tiny.js';

// The whole model with the CRF head: the same checks as fused.test.ts gives the softmax head.

before(async () => {
  await initBackend('wasm');
});

const TAGS = TINY_TAGS;
const spec: TaggerSpec = { ...tinySpec, head: 'crf', crf: { constrain: true, tags: TAGS } };
const batch = tinyBatch;

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
    { ...spec, lstmUnits: 4, embeddingDim: 5, dropout: 0.5, outputDropout: 0.5 },
  ]) {
    const m = new FusedBiLstm(s);
    roughen(m, 7);
    const { analytic, err } = gradCheck(m, batch, {
      everyEntry: (name) => name.startsWith('crf/'),
      embedding: TINY_EMBEDDING_CHECKS,
    });
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
    copyIntoReference(m, ref);
    assert.ok(ref.crf, 'the reference has the CRF head');
    const ours = m.compute(batch, true);
    const theirs = ref.gradients(batch);
    assertSameAsReference(batch, m, ours, theirs, `TF.js (constrained ${constrain})`);
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
    // the tf.layers reference's marginals (forward-backward in plain JS) are the kernel's
    const refMarg = ref.marginals(batch);
    let maxDiff = 0;
    for (let q = 0; q < marg.length; q++) maxDiff = Math.max(maxDiff, Math.abs(marg[q] - refMarg[q]));
    assert.ok(maxDiff < 1e-5, `marginals: max |Δ| ${maxDiff} (constrained ${constrain})`);
    ref.dispose();
  }
});

test('BiLSTM-CRF: padding never matters, and the softmax head is untouched by the CRF code', () => {
  const m = new FusedBiLstm(spec);
  roughen(m, 5);
  const a = m.compute(batch, true);
  const b = m.compute(padSteps(batch, 6), true);
  assertSameGrads(m, a, b);
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
