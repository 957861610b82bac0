import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend, tf } from './backend.js';
import { encodeChars } from './data.js';
import { FusedBiLstm } from './fused.js';
import { LayersBiLstm } from './layers.js';
import type { TaggerSpec } from './spec.js';
import { embeddingRowGrads, gradCheck, relError, roughen } from './test-helpers/grad-check.js';
import { charBatch, tinyCharRows, tinySpec } from './test-helpers/tiny.js';

before(async () => {
  // cpu: the wasm backend has no Conv2DBackpropFilter kernel, which tf.layers' Conv1D gradient needs
  await initBackend('cpu');
});

const spec: TaggerSpec = { ...tinySpec, chars: { type: 'cnn', vocabSize: 9, dim: 3, filters: 5, width: 3 } };

// rows of 4, 2, 3 tokens; words of 1 to 6 characters (shorter and longer than the window), an unknown char 'z'
const batch = charBatch(tinyCharRows, 4);

test('char CNN + BiLSTM gradients match finite differences (char embeddings, conv kernel and bias, every LSTM weight)', () => {
  for (const s of [
    spec,
    { ...spec, lstmUnits: 4, dropout: 0.2, recurrentDropout: 0.3, chars: { ...spec.chars!, width: 5, filters: 4 } },
    { ...spec, lstmUnits: 4, dropout: 0.5, outputDropout: 0.5, chars: { ...spec.chars!, filters: 4 } },
  ]) {
    const m = new FusedBiLstm(s);
    roughen(m, 7);
    const charWeights = ['char_embedding/embeddings', 'char_conv/kernel', 'char_conv/bias'];
    const { analytic, err, grads } = gradCheck(m, batch, {
      everyEntry: (name) => charWeights.includes(name),
      // row 0 (padding) of the char embedding is never read
      firstEntry: (name) => (name === 'char_embedding/embeddings' ? s.chars!.dim : 0),
      // max-pooling has kinks where two positions tie: a smaller step for the char weights keeps the
      // central difference on one side of them
      stepOf: (name) => (charWeights.includes(name) ? 1e-3 : undefined),
    });
    assert.equal(
      grads['char_embedding/embeddings'].slice(0, s.chars!.dim).some((g) => g !== 0),
      false,
      'no gradient reaches the padding row',
    );
    const charGrad = grads['char_conv/kernel'].reduce((a, g) => a + Math.abs(g), 0);
    assert.ok(charGrad > 1e-3, `the conv kernel gets a gradient (${charGrad})`);
    assert.ok(analytic.length > 150, `${analytic.length} entries checked`);
    assert.ok(err < 1e-3, `relative error ${err} (${JSON.stringify(s.chars)}, dropout ${s.dropout})`);
  }
});

test('the char CNN kernel computes what stock tf.layers computes (TimeDistributed Conv1D + GlobalMaxPooling1D): same loss, same gradients', () => {
  const s: TaggerSpec = { ...spec, lstmUnits: 6, embeddingDim: 5 };
  const m = new FusedBiLstm(s);
  roughen(m, 11);
  const ref = new LayersBiLstm({ ...s, kind: 'layers' });
  const E = s.embeddingDim;
  // tf.layers orders weights by layer; ours by name: match them by name fragments
  const ours = new Map<string, Float32Array>([
    ['embedding', m.emb],
    ...m.shapes().map(([n]) => [n, m.view('param', n).slice()] as [string, Float32Array]),
  ]);
  // (TimeDistributed wrappers hide the inner layer's name: the conv is the one with a rank-3 kernel)
  const refName = (w: tf.LayerVariable, i: number, all: tf.LayerVariable[]): string => {
    const n = w.originalName;
    if (w.shape.length === 3) return 'char_conv/kernel';
    if (/bias/.test(n) && i > 0 && all[i - 1].shape.length === 3) return 'char_conv/bias';
    if (/embedding/.test(n))
      return w.shape[1] === s.chars!.dim && w.shape[0] === s.chars!.vocabSize
        ? 'char_embedding/embeddings'
        : 'embedding';
    const dir = /forward/.test(n) ? 'forward' : 'backward';
    if (/lstm/.test(n))
      return `${dir}_lstm/${/recurrent_kernel/.test(n) ? 'recurrent_kernel' : /kernel/.test(n) ? 'kernel' : 'bias'}`;
    return `dense/${/kernel/.test(n) ? 'kernel' : 'bias'}`;
  };
  const names = ref.model.trainableWeights.map(refName);
  assert.equal(new Set(names).size, names.length, `every tf.layers weight maps to one of ours: ${names.join(', ')}`);
  ref.model.setWeights(ref.model.trainableWeights.map((w, i) => tf.tensor(ours.get(names[i])!, w.shape as number[])));
  const a = m.compute(batch, true);
  const b = ref.gradients(batch);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * Math.abs(b.loss), `loss ${a.loss} vs tf.layers ${b.loss}`);
  names.forEach((name, i) => {
    if (name === 'embedding') {
      const demb = embeddingRowGrads(batch, a.dx!, s.vocabSize, E);
      assert.ok(relError(demb, b.grads[i]) < 1e-4, `embedding: relative error ${relError(demb, b.grads[i])}`);
      return;
    }
    // the char embedding's padding row: tf.layers trains it, the kernel reads it as zeros
    const from = name === 'char_embedding/embeddings' ? s.chars!.dim : 0;
    const err = relError(a.grads![name].slice(from), b.grads[i].slice(from));
    assert.ok(err < 1e-4, `${name}: relative error ${err} against tf.layers`);
  });
  ref.dispose();
});

test("a token's char features depend on its own characters only: extra padded steps and longer words elsewhere change nothing", () => {
  const m = new FusedBiLstm(spec);
  roughen(m, 5);
  const a = m.compute(batch, true);
  // the same rows padded to 6 steps, plus a fourth row with a very long word (the batch's widest)
  const rows = tinyCharRows;
  const wide = charBatch(rows, 6);
  const b = m.compute(wide, true);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `${a.loss} vs ${b.loss}`);
  for (const [name] of m.shapes()) {
    const x = a.grads![name];
    const y = b.grads![name];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) < 1e-6, `${name}[${i}]`);
  }
  // predictions of the first rows do not move when a row with a 12-character word joins the batch
  const more = charBatch([...rows, { tokens: [4], tags: [0], words: ['abcdefgabcde'] }], 4);
  const p1 = m.evaluate(batch).predictions;
  const p2 = m.evaluate(more).predictions;
  assert.deepEqual(Array.from(p2.slice(0, p1.length)), Array.from(p1));
  // and the characters matter: changing one word's letters changes the loss
  const changed = charBatch([{ ...rows[0], words: ['Abc', 'g', 'efgab', 'cc'] }, rows[1], rows[2]], 4);
  assert.notEqual(m.compute(changed, false).loss, a.loss);
});

test('freezeEmbeddings keeps the word embedding table fixed while the rest trains', () => {
  const m = new FusedBiLstm({ ...spec, freezeEmbeddings: true });
  const emb = m.emb.slice();
  const conv = m.view('param', 'char_conv/kernel').slice();
  for (let i = 0; i < 3; i++) m.train(batch);
  assert.deepEqual(m.emb, emb);
  assert.notDeepEqual(m.view('param', 'char_conv/kernel').slice(), conv);
});

test("encodeChars (raw words → a batch's character ids) lays them out as featurize + makeBatches do", () => {
  const c = encodeChars([['Ab', 'cé'], ['bbbbbbb']], 3, ['<PAD>', '<UNK>', 'A', 'b', 'c'], 4);
  assert.deepEqual(Array.from(c.offsets), [0, 2, 4, 4, 8, 8, 8]);
  assert.deepEqual(Array.from(c.ids), [2, 3, 4, 1, 3, 3, 3, 3]);
});
