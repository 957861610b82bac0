import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chunks,
  convertTags,
  entityReportFromTags,
  schemeAllows,
  schemesThatFit,
  spansOf,
  tagFits,
  tagsOf,
  TAG_SCHEMES,
  type TagScheme,
} from './index.js';

// "Peter Smith | Anna | visited New York City" with two adjacent PER entities and a one-token one.
const SPANS = [
  { start: 0, end: 1, type: 'PER' },
  { start: 2, end: 2, type: 'PER' },
  { start: 4, end: 6, type: 'LOC' },
  { start: 8, end: 8, type: 'ORG' },
];
const WRITTEN: Record<Exclude<TagScheme, 'io'>, string[]> = {
  iob2: ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC', 'I-LOC', 'I-LOC', 'O', 'B-ORG'],
  iob1: ['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC', 'I-LOC', 'I-LOC', 'O', 'I-ORG'],
  bioes: ['B-PER', 'E-PER', 'S-PER', 'O', 'B-LOC', 'I-LOC', 'E-LOC', 'O', 'S-ORG'],
  bilou: ['B-PER', 'L-PER', 'U-PER', 'O', 'B-LOC', 'I-LOC', 'L-LOC', 'O', 'U-ORG'],
};

test('each scheme writes the same spans as its own tags, and reads them back exactly', () => {
  for (const [scheme, tags] of Object.entries(WRITTEN) as [TagScheme, string[]][]) {
    assert.deepEqual(tagsOf(SPANS, 9, scheme), tags, scheme);
    assert.deepEqual(spansOf(tags, scheme), SPANS, scheme);
    for (const to of Object.keys(WRITTEN) as TagScheme[])
      assert.deepEqual(convertTags(tags, scheme, to), WRITTEN[to as 'iob2'], `${scheme} → ${to}`);
    assert.deepEqual(schemesThatFit(tags, [tags.length]).includes(scheme), true, `${scheme} fits itself`);
  }
  // IO cannot separate the two adjacent PER entities: they merge into one, the rest is exact.
  const io = tagsOf(SPANS, 9, 'io');
  assert.deepEqual(io, ['I-PER', 'I-PER', 'I-PER', 'O', 'I-LOC', 'I-LOC', 'I-LOC', 'O', 'I-ORG']);
  assert.deepEqual(spansOf(io, 'io'), [{ start: 0, end: 2, type: 'PER' }, ...SPANS.slice(2)]);
});

test('validation: which scheme a sentence fits', () => {
  assert.deepEqual(schemesThatFit(WRITTEN.iob2, [9]), ['iob2']);
  assert.deepEqual(schemesThatFit(WRITTEN.iob1, [9]), ['iob1']);
  assert.deepEqual(schemesThatFit(WRITTEN.bioes, [9]), ['bioes']);
  assert.deepEqual(schemesThatFit(['I-PER', 'O', 'I-LOC'], [3]), ['iob1', 'io']);
  assert.equal(schemeAllows('O', 'I-PER', 'iob2'), false);
  assert.equal(schemeAllows('B-LOC', 'I-PER', 'iob2'), false);
  assert.equal(schemeAllows('O', 'B-PER', 'iob1'), false);
  assert.equal(schemeAllows('B-PER', null, 'bioes'), false, 'an open entity at the sentence end');
  assert.equal(schemeAllows('B-PER', 'O', 'bilou'), false);
  assert.equal(schemeAllows('E-PER', 'B-PER', 'bioes'), true);
  assert.equal(tagFits('E-PER', 'iob2'), false);
  assert.equal(tagFits('L-PER', 'bilou'), true);
  assert.equal(tagFits('geo', 'iob2'), false);
});

test('entity scores do not depend on the scheme the same annotation is written in', () => {
  const pred = [
    { start: 0, end: 1, type: 'PER' },
    { start: 4, end: 5, type: 'LOC' },
    { start: 8, end: 8, type: 'ORG' },
  ];
  const reports = (Object.keys(WRITTEN) as TagScheme[]).map((s) =>
    entityReportFromTags([WRITTEN[s as 'iob2']], [tagsOf(pred, 9, s)]),
  );
  for (const r of reports) assert.deepEqual(r, reports[0]);
  assert.equal(reports[0].correct_entities, 2);
  assert.equal(reports[0].gold_entities, 4);
});

test("BIOES chunks follow conlleval's E/S rules on ill-formed predictions", () => {
  assert.deepEqual(chunks(['S-PER', 'I-PER']), [
    { start: 0, end: 0, type: 'PER' },
    { start: 1, end: 1, type: 'PER' },
  ]);
  assert.deepEqual(chunks(['B-PER', 'E-PER', 'E-PER']), [
    { start: 0, end: 1, type: 'PER' },
    { start: 2, end: 2, type: 'PER' },
  ]);
  assert.deepEqual(chunks(['O', 'E-LOC']), [{ start: 1, end: 1, type: 'LOC' }]);
  assert.ok(TAG_SCHEMES.length === 5);
});
