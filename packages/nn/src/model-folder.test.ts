import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, test } from 'node:test';
import { corpusSentences } from '../../core/src/test-helpers/corpus.js';
import { initBackend } from './backend.js';
import { encodeChars, type Batch } from './data.js';
import { MODEL_FORMAT_VERSION, readModelMeta, writeModelMeta } from './model-folder.js';
import { createTagger, loadTagger } from './tagger.js';

before(async () => {
  await initBackend('wasm');
});

/**
 * A small fused tagger trained on the first 600 corpus sentences; the next 40 are its test sentences.
 * With `chars`, a char CNN too (its vocabulary: the train words' characters; words cut at 12 characters).
 */
function tinyModel(o: { chars?: boolean } = {}) {
  const all = corpusSentences();
  const train = all.slice(0, 600);
  const test = all.slice(600, 640);
  const words = ['<PAD>', '<UNK>', ...new Set(train.flatMap((s) => s.words.map((w) => w.toLowerCase())))];
  const tags = [...new Set(train.flatMap((s) => s.tags))].sort();
  const chars = ['<PAD>', '<UNK>', ...new Set(train.flatMap((s) => s.words.flatMap((w) => [...w])))];
  const charIds = (s: { words: string[] }) =>
    s.words.map((w) => [...w].slice(0, 12).map((c) => Math.max(1, chars.indexOf(c))));
  const wid = new Map(words.map((w, i) => [w, i]));
  const ids = (s: { words: string[] }) => s.words.map((w) => wid.get(w.toLowerCase()) ?? 1);
  const batchOf = (rows: { words: string[]; tags: string[] }[]): Batch => {
    const steps = Math.max(...rows.map((r) => r.words.length));
    const b: Batch = {
      size: rows.length,
      steps,
      tokens: new Int32Array(rows.length * steps),
      tags: new Int32Array(rows.length * steps),
      lengths: Int32Array.from(rows.map((r) => r.words.length)),
      index: Int32Array.from(rows.keys()),
      chars: o.chars
        ? encodeChars(
            rows.map((r) => r.words),
            steps,
            chars,
            12,
          )
        : undefined,
    };
    rows.forEach((r, i) => {
      b.tokens.set(ids(r), i * steps);
      b.tags.set(
        r.tags.map((t) => Math.max(0, tags.indexOf(t))),
        i * steps,
      );
    });
    return b;
  };
  const tagger = createTagger({
    kind: 'fused',
    vocabSize: words.length,
    numTags: tags.length,
    embeddingDim: 12,
    lstmUnits: 10,
    dropout: 0,
    recurrentDropout: 0,
    learningRate: 0.01,
    adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    seed: 5,
    ...(o.chars ? { chars: { type: 'cnn' as const, vocabSize: chars.length, dim: 6, filters: 7, width: 3 } } : {}),
  });
  for (let epoch = 0; epoch < 2; epoch++)
    for (let i = 0; i < train.length; i += 32) tagger.trainBatch(batchOf(train.slice(i, i + 32)));
  return { tagger, words, tags, test, ids, charIds, batchOf };
}

/** Serve a folder over HTTP and run tfjs-load.mjs (stock TF.js, no nerflow code) on id rows (+ char ids). */
async function stockPredict(
  dir: string,
  rows: number[][],
  chars?: number[][][],
): Promise<{ layers: string[]; inputs: string[]; out: number[][] }> {
  const server = createServer((req, res) =>
    createReadStream(path.join(dir, path.basename(req.url ?? '')))
      .on('error', () => res.writeHead(404).end())
      .pipe(res),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/model.json`;
    const args = [new URL('./tfjs-load.mjs', import.meta.url).pathname, url, JSON.stringify(rows)];
    if (chars) args.push(JSON.stringify(chars));
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 26 });
    return JSON.parse(stdout);
  } finally {
    server.close();
  }
}

test("the model folder loads with stock tf.loadLayersModel (no nerflow code) and its probabilities equal the kernel's (< 1e-5) on real test sentences", async () => {
  const { tagger, words, tags, test: sentences, ids, batchOf } = tinyModel();
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-model-'));
  await tagger.save(dir);
  await writeModelMeta(dir, {
    vocab: { lowercase: true, words, padding_id: 0, unknown_id: 1 },
    tags,
    max_len: 104,
    tokenizer: { name: 'nerflow-gmb', version: '1' },
    training: {},
  });
  const meta = await readModelMeta(dir);
  assert.equal(meta.format_version, MODEL_FORMAT_VERSION);
  assert.equal(meta.vocab!.words.length, words.length);
  const batch = batchOf(sentences);
  const ours = tagger.probabilities(batch);
  // the folder served over HTTP, as a browser app would fetch it, loaded by plain TF.js in another process
  {
    const stock = await stockPredict(dir, sentences.map(ids));
    assert.deepEqual(stock.layers, ['Embedding', 'Bidirectional', 'TimeDistributed']);
    let maxDiff = 0;
    let agree = 0;
    let n = 0;
    const K = tags.length;
    sentences.forEach((s, r) => {
      for (let t = 0; t < s.words.length; t++) {
        let best = 0;
        for (let k = 0; k < K; k++) {
          const a = ours[(r * batch.steps + t) * K + k];
          maxDiff = Math.max(maxDiff, Math.abs(a - stock.out[r][t * K + k]));
          if (a > ours[(r * batch.steps + t) * K + best]) best = k;
        }
        agree += Number(tags[best] === s.tags[t]);
        n++;
      }
    });
    console.log(
      `stock TF.js vs nerflow kernel: ${n} tokens of ${sentences.length} test sentences, max |Δp| = ${maxDiff.toExponential(2)}; token accuracy ${(agree / n).toFixed(3)}`,
    );
    assert.ok(maxDiff < 1e-5, `max abs difference ${maxDiff}`);
    assert.ok(agree / n > 0.8, 'the tiny model learned something (else the comparison is vacuous)');
  }
  // probabilities and evaluateBatch's argmax agree
  const { predictions } = tagger.evaluateBatch(batch);
  for (let r = 0; r < batch.size; r++) {
    for (let t = 0; t < batch.lengths[r]; t++) {
      const row = ours.subarray((r * batch.steps + t) * tags.length, (r * batch.steps + t + 1) * tags.length);
      assert.equal(predictions[r * batch.steps + t], row.indexOf(Math.max(...row)));
    }
  }
  // nerflow loads its own standard folder back
  const back = await loadTagger(dir);
  assert.deepEqual(Array.from(back.probabilities(batch)), Array.from(ours));
  rmSync(dir, { recursive: true });
});

test('model folders: a missing file, a newer format, an unknown part, damaged JSON → errors naming the folder and the fix', async () => {
  const { tagger } = tinyModel();
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-model-'));
  await tagger.save(dir);
  const metaFile = path.join(dir, 'nerflow.json');
  const good = readFileSync(metaFile, 'utf8');
  rmSync(path.join(dir, 'weights.bin'));
  await assert.rejects(loadTagger(dir), (e: Error) => e.message.includes(dir) && /no weights\.bin/.test(e.message));
  await tagger.save(dir);
  writeFileSync(metaFile, JSON.stringify({ ...JSON.parse(good), format_version: 99, nerflow_version: '9.0.0' }));
  await assert.rejects(
    loadTagger(dir),
    /written by nerflow 9\.0\.0 in model format 99; this nerflow \(.*\) reads format ≤ 2\. Upgrade nerflow/,
  );
  writeFileSync(
    metaFile,
    JSON.stringify({
      ...JSON.parse(good),
      parts: [{ name: 'char-cnn', file: 'model.json', format: 'x', description: 'y' }],
    }),
  );
  await assert.rejects(loadTagger(dir), /has a part "char-cnn" \(model\.json\) that this nerflow .* cannot load/);
  writeFileSync(metaFile, '{oops');
  await assert.rejects(loadTagger(dir), /nerflow\.json: not valid JSON/);
  await assert.rejects(loadTagger(path.join(dir, 'nope')), /no such model folder/);
  rmSync(dir, { recursive: true });
});

test('a char-CNN model folder loads with stock tf.loadLayersModel too (inputs tokens and chars) and equals the kernel (< 1e-5)', async () => {
  const { tagger, tags, test: sentences, ids, charIds, batchOf } = tinyModel({ chars: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-char-model-'));
  try {
    await tagger.save(dir);
    const batch = batchOf(sentences);
    const ours = tagger.probabilities(batch);
    const stock = await stockPredict(dir, sentences.map(ids), sentences.map(charIds));
    assert.deepEqual(stock.inputs, ['tokens', 'chars']);
    assert.deepEqual(stock.layers.slice().sort(), [
      'Add',
      'Bidirectional',
      'Concatenate',
      'Embedding',
      'Embedding',
      'Embedding',
      'InputLayer',
      'InputLayer',
      'TimeDistributed',
      'TimeDistributed',
      'TimeDistributed',
    ]);
    let maxDiff = 0;
    const K = tags.length;
    sentences.forEach((s, r) => {
      for (let t = 0; t < s.words.length; t++)
        for (let k = 0; k < K; k++)
          maxDiff = Math.max(maxDiff, Math.abs(ours[(r * batch.steps + t) * K + k] - stock.out[r][t * K + k]));
    });
    console.log(
      `char model: stock TF.js vs nerflow kernel on ${sentences.length} test sentences, max |Δp| = ${maxDiff.toExponential(2)}`,
    );
    assert.ok(maxDiff < 1e-5, `max abs difference ${maxDiff}`);
    // the chars input matters: the same ids with every character unknown give other probabilities
    const blind = await stockPredict(
      dir,
      sentences.slice(0, 3).map(ids),
      sentences.slice(0, 3).map((s) => charIds(s).map((w) => w.map(() => 1))),
    );
    assert.ok(blind.out[0].some((v, i) => Math.abs(v - stock.out[0][i]) > 1e-3));
    // nerflow reads the folder back (the fixed char_mask weights are the topology's, not the kernel's)
    const back = await loadTagger(dir);
    assert.deepEqual(Array.from(back.probabilities(batch)), Array.from(ours));
    back.dispose();
  } finally {
    tagger.dispose();
    rmSync(dir, { recursive: true });
  }
});
