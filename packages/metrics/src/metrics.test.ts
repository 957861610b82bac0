import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  chunks,
  confusionMatrix,
  entityF1FromIds,
  entityReport,
  entityReportFromTags,
  classificationReport,
} from './index.js';

const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} ≠ ${b}`);

test('token report equals scikit-learn classification_report (hand-derived)', () => {
  // gold A A B B C C C / pred A B B B C A C
  // A: tp 1, predicted 2, support 2 → p .5 r .5 f1 .5
  // B: tp 2, predicted 3, support 2 → p 2/3 r 1 f1 .8
  // C: tp 2, predicted 2, support 3 → p 1 r 2/3 f1 .8
  // accuracy 5/7; macro f1 (.5+.8+.8)/3 = .7; weighted f1 (.5·2+.8·2+.8·3)/7 = 5/7
  const r = classificationReport([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], ['A', 'B', 'C']);
  close(r.per_tag.A.precision, 0.5);
  close(r.per_tag.B.precision, 2 / 3);
  close(r.per_tag.B.recall, 1);
  close(r.per_tag.B.f1, 0.8);
  close(r.per_tag.C.recall, 2 / 3);
  assert.equal(r.per_tag.C.support, 3);
  close(r.accuracy, 5 / 7);
  close(r.macro_f1, 0.7);
  close(r.weighted_f1, 5 / 7);
  close(r.macro_avg.precision, (0.5 + 2 / 3 + 1) / 3);
  close(r.weighted_avg.recall, 5 / 7, 'weighted recall equals accuracy');
  // a label with no support and no predictions scores 0 and counts in the macro average (zero_division=0)
  const withD = classificationReport(
    [
      [0, 0, 1],
      [1, 2, 2, 2],
    ],
    [
      [0, 1, 1],
      [1, 2, 0, 2],
    ],
    ['A', 'B', 'C', 'D'],
  );
  assert.deepEqual(withD.per_tag.D, { precision: 0, recall: 0, f1: 0, support: 0 });
  close(withD.macro_f1, 2.1 / 4);
  close(withD.accuracy, 5 / 7, 'sentences are flattened');
});

test('conlleval chunk rules', () => {
  assert.deepEqual(
    chunks(['B-PER', 'B-PER']),
    [
      { start: 0, end: 0, type: 'PER' },
      { start: 1, end: 1, type: 'PER' },
    ],
    'adjacent entities of one type',
  );
  assert.deepEqual(chunks(['O', 'I-LOC', 'I-LOC']), [{ start: 1, end: 2, type: 'LOC' }], 'I-X after O starts a chunk');
  assert.deepEqual(
    chunks(['B-PER', 'I-LOC']),
    [
      { start: 0, end: 0, type: 'PER' },
      { start: 1, end: 1, type: 'LOC' },
    ],
    'a type change inside a span',
  );
  assert.deepEqual(chunks(['I-PER', 'I-LOC', 'I-LOC']), [
    { start: 0, end: 0, type: 'PER' },
    { start: 1, end: 2, type: 'LOC' },
  ]);
  assert.deepEqual(chunks(['O', 'B-ORG']), [{ start: 1, end: 1, type: 'ORG' }], 'an entity at the sentence end');
  assert.deepEqual(chunks(['O', 'O']), [], 'a sentence with no entities');
  assert.deepEqual(chunks(['B-geo', 'I-geo', 'O', 'B-tim']), [
    { start: 0, end: 1, type: 'geo' },
    { start: 3, end: 3, type: 'tim' },
  ]);
});

test('entity scores: exact start, end and type; micro and macro (hand-derived)', () => {
  // gold chunks: PER(0-1) LOC(3) | – | ORG(0) ORG(1)  → 4;  pred: PER(0-1) | LOC(0) | ORG(0-1) → 3; correct: PER → 1
  // micro p 1/3 r 1/4 f1 2/7; per type PER 1/1/1, LOC 0, ORG 0 (support 2); macro f1 1/3
  const gold = [
    ['B-PER', 'I-PER', 'O', 'B-LOC'],
    ['O', 'O'],
    ['B-ORG', 'B-ORG'],
  ];
  const pred = [
    ['B-PER', 'I-PER', 'O', 'O'],
    ['B-LOC', 'O'],
    ['B-ORG', 'I-ORG'],
  ];
  const r = entityReportFromTags(gold, pred);
  close(r.micro.precision, 1 / 3);
  close(r.micro.recall, 1 / 4);
  close(r.micro.f1, 2 / 7);
  assert.deepEqual(r.per_type.PER, { precision: 1, recall: 1, f1: 1, support: 1 });
  assert.deepEqual(r.per_type.ORG, { precision: 0, recall: 0, f1: 0, support: 2 });
  close(r.macro_f1, 1 / 3);
  assert.equal(r.gold_entities, 4);
  assert.equal(r.scheme, 'conlleval');
  const empty = entityReportFromTags([['O']], [['O']]);
  assert.equal(empty.micro.f1, 0);
  assert.deepEqual(empty.per_type, {});
});

test('the integer fast path gives the same numbers as the string path on random data', () => {
  const tags = ['O', 'B-geo', 'I-geo', 'B-per', 'I-per', 'B-tim', 'I-tim'];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const gold: Int32Array[] = [];
  const pred: Int32Array[] = [];
  for (let s = 0; s < 300; s++) {
    const n = 1 + Math.floor(rand() * 30);
    gold.push(Int32Array.from({ length: n }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * tags.length))));
    pred.push(Int32Array.from({ length: n }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * tags.length))));
  }
  const viaStrings = entityReportFromTags(
    gold.map((g) => Array.from(g, (i) => tags[i])),
    pred.map((p) => Array.from(p, (i) => tags[i])),
  );
  const viaIds = entityReport(gold, pred, tags);
  close(viaIds.micro.f1, viaStrings.micro.f1);
  assert.deepEqual(viaIds.per_type, viaStrings.per_type);
  close(entityF1FromIds(gold, pred, tags), viaStrings.micro.f1);
  assert.ok(viaIds.gold_entities > 100);
});

test('confusion matrix: rows gold, columns predicted, row-normalised', () => {
  const { matrix, normalized } = confusionMatrix([[0, 0, 1], [1]], [[0, 1, 1], [0]], 2);
  assert.deepEqual(matrix, [
    [1, 1],
    [1, 1],
  ]);
  assert.deepEqual(normalized, [
    [0.5, 0.5],
    [0.5, 0.5],
  ]);
});
