import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detokenize, splitSentences, tokenize, type Token } from '@nerflow/core';
import { createTagger, InferenceEngine, paddedBatch, relaxedSimd, type Batch, type Tagger } from '@nerflow/nn';
import { corpusSentences } from '../../core/src/test-helpers/corpus.js';
import { Predictor } from './predictor.js';
import { tinyModelDir } from './test-helpers/tiny-model.js';

/** Corpus sentences the tiny models never saw (they train on the first 1,500), as a person would type them. */
const texts = () =>
  corpusSentences()
    .slice(3000, 3400)
    .map((s) => detokenize(s.words).text);

/** Batches of the given row counts from word-id rows, each batch sorted by length (as predict builds them). */
function batchesOf(rows: Int32Array[], sizes: number[], sorted = true): Batch[] {
  const out: Batch[] = [];
  let at = 0;
  for (const n of sizes) {
    const part = rows.slice(at, at + n);
    at += n;
    if (sorted) part.sort((a, b) => a.length - b.length);
    const b = paddedBatch(part.map((r) => r.length));
    part.forEach((r, i) => b.tokens.set(r, i * b.steps));
    out.push(b);
  }
  return out;
}

/** The engine's results equal the tagger's decode to the bit on real positions: tags and every probability. */
async function assertSameAsDecode(tagger: Tagger, engine: InferenceEngine, batches: Batch[], what: string) {
  const K = tagger.spec.numTags;
  for (const b of batches) {
    const want = tagger.decodeBatch(b);
    const sync = engine.decodeSync(b);
    const [onWorker, compact] = await Promise.all([engine.decode(b), engine.decode(b, true)]);
    for (const [name, got] of [
      ['calling thread', sync],
      ['worker', onWorker],
    ] as const) {
      for (let r = 0; r < b.size; r++) {
        for (let t = 0; t < b.lengths[r]; t++) {
          const i = r * b.steps + t;
          assert.equal(got.predictions[i], want.predictions[i], `${what}, ${name}: tag of row ${r} step ${t}`);
          for (let k = 0; k < K; k++) {
            assert.ok(
              Object.is(got.probabilities[i * K + k], want.probabilities[i * K + k]),
              `${what}, ${name}: p(tag ${k}) of row ${r} step ${t}: ${got.probabilities[i * K + k]} ≠ ${want.probabilities[i * K + k]}`,
            );
          }
          assert.ok(
            Object.is(compact.probabilities[i], want.probabilities[i * K + want.predictions[i]]),
            `${what}: compact`,
          );
        }
      }
    }
  }
}

const kernels = relaxedSimd() ? (['exact', 'fma'] as const) : (['exact'] as const);

test('the inference engine gives FusedBiLstm.decode results to the bit: softmax and CRF heads, every kernel build, calling thread and workers, any batch shape', async () => {
  for (const crf of [false, true]) {
    const dir = await tinyModelDir({ crf });
    for (const kernel of kernels) {
      const p = await Predictor.load(dir, { kernel, threads: 2 });
      const engine = await InferenceEngine.create(p.tagger, { workers: 2, maxRows: 256, maxSteps: p.maxLen });
      assert.ok(engine, 'a fused word model gets the engine');
      try {
        const vocab = new Map(p.meta.vocab.words.map((w, i) => [w, i]));
        const rows = texts().map((t) =>
          Int32Array.from(p.prepare({ text: t }).tokens, (x) => vocab.get(x.text.toLowerCase()) ?? 1),
        );
        // full batches, sizes off the GEMM's 4-row blocks, one row, and rows not sorted by length
        const what = `${crf ? 'crf' : 'softmax'} head, ${kernel}`;
        await assertSameAsDecode(p.tagger, engine, batchesOf(rows, [256, 37, 1, 6, 99]), what);
        await assertSameAsDecode(p.tagger, engine, batchesOf(rows.slice(50), [45, 13], false), `${what}, unsorted`);
      } finally {
        engine.close();
        p.dispose();
      }
    }
  }
});

test('the inference engine to the bit with saturated gates (large weights: exp clamps at both ends)', async () => {
  const tagger = createTagger({
    kind: 'fused',
    vocabSize: 50,
    numTags: 5,
    embeddingDim: 8,
    lstmUnits: 6, // 4H = 24: H itself is not a multiple of 4 (the scalar tails)
    dropout: 0,
    recurrentDropout: 0,
    learningRate: 0.001,
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    seed: 7,
  });
  const m = (tagger as unknown as { m: { emb: Float32Array; view(r: string, n: string): Float32Array } }).m;
  for (let i = 0; i < m.emb.length; i++) m.emb[i] *= 400; // pre-activations of ±100 and more
  m.view('param', 'forward_lstm/recurrent_kernel').forEach((v, i, a) => (a[i] = v * 60));
  const engine = (await InferenceEngine.create(tagger, { workers: 1, maxRows: 64, maxSteps: 30 }))!;
  try {
    let seed = 3;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const rows = Array.from({ length: 40 }, () =>
      Int32Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => 1 + Math.floor(rnd() * 49)),
    );
    await assertSameAsDecode(tagger, engine, batchesOf(rows, [40]), 'saturated');
  } finally {
    engine.close();
    tagger.dispose();
  }
});

test('predict on the engine: predictAsync (workers) = predict (calling thread); a char model has no engine and predicts through its tagger', async () => {
  for (const opts of [{}, { crf: true }, { chars: true }]) {
    const p = await Predictor.load(await tinyModelDir(opts));
    try {
      const inputs = texts()
        .slice(0, 120)
        .map((text) => ({ text }));
      assert.deepEqual(await p.predictAsync(inputs), p.predict(inputs), JSON.stringify(opts));
      const engine = await InferenceEngine.create(p.tagger, { workers: 0, maxRows: 8, maxSteps: 8 });
      assert.equal(engine === null, !!opts.chars, 'the engine takes word models only');
      engine?.close();
    } finally {
      p.dispose();
    }
  }
});

test("prepare tokenizes a document once: each sentence's tokens are the text's tokens in its range, as tokenizing the sentence alone gives them", async () => {
  const p = await Predictor.load(await tinyModelDir(), { threads: 1 });
  try {
    const all = texts();
    // documents: corpus sentences joined by a space, a newline, a blank line
    const docs = [...all];
    for (const sep of [' ', '\n', '\n\n'])
      for (let i = 0; i + 5 <= all.length; i += 5) docs.push(all.slice(i, i + 5).join(sep));
    let sentences = 0;
    for (const text of docs) {
      const got = p.prepare({ text });
      // the reference: every sentence tokenized on its own, offsets moved to the document's
      const tokens: Token[] = [];
      const ranges: [number, number][] = [];
      for (const s of splitSentences(text)) {
        const first = tokens.length;
        for (const t of tokenize(text.slice(s.start, s.end)))
          tokens.push({ text: t.text, start: t.start + s.start, end: t.end + s.start });
        if (tokens.length > first) ranges.push([first, tokens.length]);
      }
      assert.deepEqual(got.tokens, tokens, text);
      assert.deepEqual(got.sentences, ranges, text);
      sentences += ranges.length;
    }
    assert.ok(sentences > all.length, `documents split into sentences (${sentences})`);
  } finally {
    p.dispose();
  }
});

test('helpOne: batches the calling thread takes (queued, or posted and not started) give the same bits', async () => {
  const dir = await tinyModelDir({ crf: false });
  const p = await Predictor.load(dir, { threads: 1 });
  const engine = (await InferenceEngine.create(p.tagger, { workers: 1, maxRows: 256, maxSteps: p.maxLen }))!;
  try {
    const vocab = new Map(p.meta.vocab.words.map((w, i) => [w, i]));
    const rows = texts().map((t) =>
      Int32Array.from(p.prepare({ text: t }).tokens, (x) => vocab.get(x.text.toLowerCase()) ?? 1),
    );
    const batches = batchesOf(rows, [64, 64, 64, 64, 64, 40, 20, 5]);
    const want = batches.map((b) => engine.decodeSync(b, true));
    for (let round = 0; round < 3; round++) {
      // 8 batches: the worker holds 2 (engine.ahead), 6 wait in the queue; this thread takes what it can
      const got = batches.map((b) => engine.decode(b, true));
      let helped = 0;
      while (engine.helpOne()) helped++;
      assert.ok(helped >= 6, `the calling thread computed ${helped} of 8 batches (the 6 queued at least)`);
      assert.equal(engine.helpOne(), false, 'nothing left to take');
      const results = await Promise.all(got);
      results.forEach((d, i) => {
        assert.deepEqual(Array.from(d.predictions), Array.from(want[i].predictions), `batch ${i}: tags`);
        assert.ok(
          d.probabilities.every((v, j) => Object.is(v, want[i].probabilities[j])),
          `batch ${i}: probabilities`,
        );
      });
    }
    // a stolen job: two posted to the worker at once, it cannot have started both: this thread takes one
    const long = batchesOf(rows, [256])[0];
    const first = engine.decode(long, true);
    const second = engine.decode(batches[7], true);
    assert.equal(engine.helpOne(), true, 'a job posted to the worker and not started yet is taken');
    await Promise.all([first, second]);
    const again = await engine.decode(batches[6], true); // the worker skipped the stolen job and goes on
    assert.deepEqual(Array.from(again.predictions), Array.from(want[6].predictions));
  } finally {
    engine.close();
    p.dispose();
  }
});
