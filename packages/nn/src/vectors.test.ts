import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { pretrainedRows, readVectorFile, VectorFileError } from './vectors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-vectors-'));
const put = (name: string, body: string | Buffer) => {
  const f = path.join(dir, name);
  writeFileSync(f, body);
  return f;
};
// a GloVe-style file the test writes: 3-dimensional, lowercased and cased words
const glove = ['the 0.1 0.2 0.3', 'paris 1 2 3', 'Paris 4 5 6', 'london -1 -2 -3', 'cat 0.5 0.5 0.5', ''].join('\n');

test('GloVe and word2vec text files, plain or gzip: the matching vocabulary rows, exact form first, coverage of types and tokens', async () => {
  const words = ['<PAD>', '<UNK>', 'the', 'Paris', 'London', 'dog'];
  const counts = [0, 3, 10, 4, 2, 1]; // train tokens per id (3 unknown tokens count as not found)
  for (const [file, format] of [
    [put('v.txt', glove), 'glove'],
    [put('v.txt.gz', gzipSync(glove)), 'glove'],
    [put('v.w2v', `5 3\n${glove}`), 'word2vec-text'],
    [put('v.noext', gzipSync(`5 3\n${glove}`)), 'word2vec-text'], // gzip recognised by its bytes, not its name
  ] as const) {
    const r = await pretrainedRows({ path: file, format, lowercase: true }, words, counts);
    assert.equal(r.dim, 3);
    assert.equal(r.wordsInFile, 5);
    assert.deepEqual(Array.from(r.rows.get(2)!), [0.1, 0.2, 0.3].map(Math.fround));
    assert.deepEqual(Array.from(r.rows.get(3)!), [4, 5, 6], `${file}: "Paris" takes its exact form, not "paris"`);
    assert.deepEqual(Array.from(r.rows.get(4)!), [-1, -2, -3], 'London found lowercased');
    assert.ok(
      !r.rows.has(5) && !r.rows.has(0) && !r.rows.has(1),
      'dog is not in the file; padding and unknown are never set',
    );
    assert.deepEqual([r.foundTypes, r.types, r.foundTokens, r.tokens], [3, 4, 16, 20]);
  }
  const cased = await pretrainedRows({ path: put('c.txt', glove), format: 'glove', lowercase: false }, words, counts);
  assert.ok(!cased.rows.has(4), 'without lowercase, London is not london');
});

test('bad vector files are errors that name the file and the line', async () => {
  const read = (body: string | Buffer, format: 'glove' | 'word2vec-text' = 'glove') =>
    readVectorFile({ path: put(`bad-${Math.random()}.txt`, body), format }, () => true);
  const fails = async (p: Promise<unknown>, re: RegExp) =>
    assert.rejects(
      p,
      (e: unknown) => e instanceof VectorFileError && re.test(e.message) && /bad-[\d.]+\.txt/.test(e.message),
      String(re),
    );
  await fails(read('a 1 2 3\nb 1 2\n'), /:2: expected a word and 3 numbers \(the dimension of line 1\), found 2/);
  await fails(read('2 3\na 1 2 3\n'), /:1: "2 3" looks like a word2vec header line.*format: word2vec-text/);
  await fails(read('a 1 2 3\n', 'word2vec-text'), /:1: expected word2vec's header line/);
  await fails(read('2 3\na 1 2 3\nb 1 x 3\n', 'word2vec-text'), /:3: field 3 \("x"\) is not a number/);
  await fails(read('Sentence #,Word,POS,Tag\nSentence: 1,Thousands,NNS,O\n'), /:1: not a vector line/);
  await fails(read(Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 1, 2])), /a binary file, not a text vector file/);
  await fails(read(''), /no word vectors in it/);
  await fails(
    read(Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('not really gzip')])),
    /cannot read it as a gzip-compressed text vector file/,
  );
});
