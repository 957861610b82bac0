import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import { type FixtureToken, ingestFixture } from './test-helpers/ingest-fixture.js';

type Tok = FixtureToken;
/** An ingest output (the contract, with doc_id and split) made by hand: sentences with their split. */
async function fixture(sentences: { split: string | null; toks: Tok[] }[], yaml = '') {
  const f = await ingestFixture(sentences, yaml, { prefix: 'nerflow-feat-splits-', pos: '_', splits: true });
  const ids = (split: string) =>
    Array.from(
      tableFromIPC(readFileSync(path.join(f.dir, `${split}.arrow`)))
        .getChild('sentence_id')!
        .toArray() as Int32Array,
    );
  return { dir: f.dir, ids, run: () => f.run() };
}

const sent = (split: string | null, ...words: string[]) => ({ split, toks: words.map((w): Tok => [w, 'O']) });

test("a corpus's own split is kept as it is (no reshuffle), the vocabulary comes from train only, counts per split", async () => {
  const f = await fixture(
    [
      sent('train', 'a', 'b'),
      sent('train', 'a'),
      sent('train', 'c'),
      sent('val', 'v', 'a'),
      sent('test', 'z', 'b', 'a'),
    ],
    'featurize:\n  max_len: 8\n',
  );
  const r = await f.run();
  assert.deepEqual([f.ids('train'), f.ids('val'), f.ids('test')], [[1, 2, 3], [4], [5]]);
  const c = r.manifest.counts as {
    split_from: string;
    splits: Record<string, { sentences: number; tokens: number; oov_tokens: number }>;
  };
  assert.equal(c.split_from, 'corpus');
  assert.deepEqual(
    ['train', 'val', 'test'].map((s) => [c.splits[s].sentences, c.splits[s].tokens, c.splits[s].oov_tokens]),
    [
      [3, 4, 0],
      [1, 2, 1],
      [1, 3, 1],
    ],
  );
  assert.deepEqual(JSON.parse(readFileSync(path.join(f.dir, 'vocab.json'), 'utf8')).words, [
    '<PAD>',
    '<UNK>',
    'a',
    'b',
    'c',
  ]);
});

test("without a val file, val is carved from train (featurize.split.val, seeded); test stays the corpus's own", async () => {
  const f = await fixture(
    [...Array.from({ length: 20 }, (_, i) => sent('train', `w${i}`)), sent('test', 'x'), sent('test', 'y')],
    'featurize:\n  split: {train: 0.75, val: 0.25, test: 0}\n',
  );
  const r = await f.run();
  assert.equal(f.ids('val').length, 5);
  assert.equal(f.ids('train').length, 15);
  assert.deepEqual(f.ids('test'), [21, 22]);
  assert.ok(f.ids('val').every((id) => id <= 20));
  assert.equal((r.manifest.counts as { split_from: string }).split_from, 'corpus, val from train');
});

test('featurize.tag_scheme: bioes trains on BIOES tags converted from the IOB2 corpus', async () => {
  const toks: Tok[] = [
    ['Peter', 'B-PER'],
    ['Smith', 'I-PER'],
    ['and', 'O'],
    ['Anna', 'B-PER'],
    ['New', 'B-LOC'],
    ['York', 'I-LOC'],
    ['City', 'I-LOC'],
    ['x', 'I-ORG'],
  ];
  const f = await fixture(
    [{ split: null, toks }],
    'featurize:\n  tag_scheme: bioes\n  split: {train: 1, val: 0, test: 0}\n',
  );
  const r = await f.run();
  const { tags, scheme, corpus_scheme } = JSON.parse(readFileSync(path.join(f.dir, 'tags.json'), 'utf8'));
  assert.equal(scheme, 'bioes');
  assert.equal(corpus_scheme, 'iob2');
  assert.deepEqual(tags, ['O', 'B-LOC', 'I-LOC', 'E-LOC', 'S-ORG', 'B-PER', 'E-PER', 'S-PER']);
  const t = tableFromIPC(readFileSync(path.join(f.dir, 'train.arrow')));
  assert.deepEqual(
    Array.from(t.get(0)!.tags.toArray() as Int8Array).map((i) => tags[i]),
    ['B-PER', 'E-PER', 'O', 'S-PER', 'B-LOC', 'I-LOC', 'E-LOC', 'S-ORG'],
  );
  assert.equal(t.schema.metadata.get('tag_scheme'), 'bioes');
  assert.equal((r.manifest.counts as { splits: Record<string, { entities: number }> }).splits.train.entities, 4);
});
