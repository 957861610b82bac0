import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig, repoRoot, silentLogger, ValidationError } from '@nerflow/core';
import { pngSize } from '@nerflow/viz';
import { featurize } from './featurize.js';
import { ingestFixture } from './test-helpers/ingest-fixture.js';

/** A workspace whose ingest output is a small hand-made corpus.duckdb (the ingest contract). */
const fixture = (sentences: [string, string][][], yaml = '') =>
  ingestFixture(
    sentences.map((toks) => ({ toks })),
    yaml,
  );

const S = (...ws: string[]): [string, string][] =>
  ws.map((w) => (w.includes('/') ? (w.split('/') as [string, string]) : [w, 'O']));

test('a missing ingest output says which command to run', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-feat-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'configs', 't.yaml'), '');
  await assert.rejects(
    featurize({ config: loadConfig('t', { root }), root, log: silentLogger, force: false }),
    (e: unknown) =>
      e instanceof ValidationError &&
      /corpus\.duckdb: missing\. Run `npx nerflow ingest --config t` first/.test(e.message),
  );
});

test('long sentences are chunked (or truncated) at max_len, counted in the manifest, true lengths kept', async () => {
  const sents = Array.from({ length: 20 }, (_, i) => S(...Array.from({ length: i === 0 ? 7 : 2 }, (_, k) => `w${k}`)));
  const chunk = await fixture(sents, 'featurize:\n  max_len: 3\n  split: {train: 1, val: 0, test: 0}\n');
  const r = await chunk.run();
  assert.equal(r.manifest.counts.chunked_sentences, 1);
  const t = tableFromIPC(readFileSync(path.join(chunk.dir, 'train.arrow')));
  assert.equal(t.numRows, 19 + 3);
  const first = t
    .toArray()
    .filter((row) => row.sentence_id === 1)
    .map((row) => [row.chunk, row.length]);
  assert.deepEqual(first, [
    [0, 3],
    [1, 3],
    [2, 1],
  ]);
  const trunc = await fixture(
    sents,
    'featurize:\n  max_len: 3\n  long_sentences: truncate\n  split: {train: 1, val: 0, test: 0}\n',
  );
  const r2 = await trunc.run();
  assert.equal(r2.manifest.counts.truncated_sentences, 1);
  assert.equal(r2.manifest.counts.truncated_tokens, 4);
});

test('min_count, lowercase and max_vocab shape the vocabulary; unknown words map to 1', async () => {
  const sents = [...Array.from({ length: 9 }, () => S('The', 'cat', 'the')), S('Dog')];
  const f = await fixture(
    sents,
    'featurize:\n  lowercase: true\n  min_count: 2\n  split: {train: 0.9, val: 0.1, test: 0}\n  seed: 1\n',
  );
  await f.run();
  const vocab = JSON.parse(readFileSync(path.join(f.dir, 'vocab.json'), 'utf8'));
  assert.deepEqual(vocab.words.slice(0, 2), ['<PAD>', '<UNK>']);
  assert.ok(vocab.words.includes('the') && !vocab.words.includes('The'));
  const capped = await fixture(sents, 'featurize:\n  max_vocab: 3\n  split: {train: 1, val: 0, test: 0}\n');
  await capped.run();
  assert.equal(JSON.parse(readFileSync(path.join(capped.dir, 'vocab.json'), 'utf8')).words.length, 3);
  const none = await fixture(sents, 'featurize:\n  min_count: 1000\n');
  await assert.rejects(none.run(), /featurize\.min_count 1000 leaves no word in the vocabulary/);
});

test('tag index: O first, then by type, B before I; padded tags are -1 and padded tokens 0', async () => {
  const f = await fixture(
    [S('a/B-per', 'b/I-per', 'c'), S('x/B-geo')],
    'featurize:\n  split: {train: 1, val: 0, test: 0}\n',
  );
  await f.run();
  assert.deepEqual(JSON.parse(readFileSync(path.join(f.dir, 'tags.json'), 'utf8')).tags, [
    'O',
    'B-geo',
    'B-per',
    'I-per',
  ]);
  const t = tableFromIPC(readFileSync(path.join(f.dir, 'train.arrow')));
  const row = t.get(1)!;
  assert.equal(row.length, 1);
  assert.deepEqual(Array.from(row.tags.toArray() as Int8Array), [1, -1, -1]);
  assert.equal(row.tokens.toArray()[1], 0);
});

const bundled = path.join(repoRoot(), 'data', 'ner_dataset.csv.gz');
test('the real corpus through the CLI: split sizes, no leakage, deterministic, Arrow matches DuckDB, figures are images', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-feat-real-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'configs', 'real.yaml'), `data:\n  path: ${bundled}\n`);
  writeFileSync(path.join(root, 'nx.json'), '{}');
  const cli = (...args: string[]) =>
    execFileSync(
      process.execPath,
      [path.join(repoRoot(), 'packages/cli/bin/nerflow.js'), ...args, '--config', 'real', '--quiet'],
      { cwd: root, env: { ...process.env, NERFLOW_ROOT: root } },
    );
  cli('ingest');
  cli('featurize');
  const dir = path.join(root, 'runs', 'real', 'featurize');
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.deepEqual(
    [m.counts.splits.train.sentences, m.counts.splits.val.sentences, m.counts.splits.test.sentences],
    [33571, 4796, 9592],
  );
  const files = ['train', 'val', 'test'].map((s) => readFileSync(path.join(dir, `${s}.arrow`)));
  const [train, val, test] = files.map((f) => tableFromIPC(f));
  const ids = (t: typeof train) => new Set(t.getChild('sentence_id')!.toArray() as Int32Array);
  const [a, b, c] = [ids(train), ids(val), ids(test)];
  assert.equal(a.size + b.size + c.size, 47959, 'every sentence in exactly one split');
  for (const x of b) assert.ok(!a.has(x) && !c.has(x));
  // zero-copy: the tokens child is an Int32Array view
  const tokens = train.getChild('tokens')!.data[0].children[0].values;
  assert.ok(tokens instanceof Int32Array);
  assert.equal(tokens.buffer, files[0].buffer, "a view on the file's own bytes, not a copy");
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  for (const t of [train, val, test])
    assert.equal(
      t.schema.metadata.get('fingerprint'),
      manifest.fingerprint,
      'the Arrow files name the featurize run that wrote them',
    );
  // OOV per split: none in train (its own vocabulary), some in val and test
  const oov = (s: string) => manifest.counts.splits[s].oov_token_rate as number;
  assert.equal(oov('train'), 0);
  for (const s of ['val', 'test']) assert.ok(oov(s) > 0.005 && oov(s) < 0.05, `${s} OOV rate ${oov(s)}`);
  // the split is part of the contract: the same sentences on every machine and every version (seed 42)
  const digest = (t: typeof train) =>
    createHash('sha256')
      .update([...(t.getChild('sentence_id')!.toArray() as Int32Array)].sort((x, y) => x - y).join(','))
      .digest('hex')
      .slice(0, 16);
  assert.deepEqual(
    [digest(val), digest(test)],
    ['1483350eb6da9690', 'dc3d637cf9f492a8'],
    'the seeded split changed: every trained model and every reported score would move with it',
  );
  assert.equal(tokens.length, 33571 * 104);
  assert.equal(train.schema.metadata.get('max_len'), '104');
  // Arrow tokens == DuckDB words for a sample of sentences (ids mapped back through vocab.json)
  const vocab: string[] = JSON.parse(readFileSync(path.join(dir, 'vocab.json'), 'utf8')).words;
  const index = new Map(vocab.map((w, i) => [w, i]));
  const db = await DuckDBInstance.create(path.join(root, 'runs', 'real', 'ingest', 'corpus.duckdb'), {
    access_mode: 'READ_ONLY',
  });
  const conn = await db.connect();
  const rows = train.numRows;
  const sids = train.getChild('sentence_id')!.toArray() as Int32Array;
  const lens = train.getChild('length')!.toArray() as Int32Array;
  for (let k = 0; k < 40; k++) {
    const r = (k * 7919) % rows;
    const words = (
      await conn.runAndReadAll(`SELECT word FROM tokens WHERE sentence_id = ${sids[r]} ORDER BY position`)
    ).getColumns()[0] as string[];
    assert.equal(lens[r], words.length);
    assert.deepEqual(
      Array.from(tokens.subarray(r * 104, r * 104 + lens[r])),
      words.map((w) => index.get(w) ?? 1),
    );
  }
  // no test-only word in the vocabulary: every vocabulary word occurs in train
  const trainWords = new Set(
    (
      await conn.runAndReadAll(`SELECT DISTINCT word FROM tokens WHERE sentence_id IN (${[...a].join(',')})`)
    ).getColumns()[0] as string[],
  );
  assert.ok(vocab.slice(2).every((w) => trainWords.has(w)));
  conn.closeSync();
  db.closeSync();
  // figures
  for (const n of ['lengths', 'tags', 'entities']) {
    const size = pngSize(readFileSync(path.join(dir, 'eda', `${n}.png`)));
    assert.ok(size && size.width > 300 && size.height > 200, `${n}.png ${JSON.stringify(size)}`);
    const svg = readFileSync(path.join(dir, 'eda', `${n}.svg`), 'utf8');
    assert.match(svg, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.doesNotMatch(svg, /NaN/);
  }
  // deterministic: --force gives byte-identical files and manifest
  const before = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
  cli('featurize', '--force');
  assert.equal(readFileSync(path.join(dir, 'manifest.json'), 'utf8'), before);
});
