import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonLine, predictionJson, formatPrediction } from './io.js';
import type { Prediction } from './predictor.js';

const pred = (text: string, tokens: string[], entities: Prediction['entities']): Prediction => ({
  text,
  tokens,
  offsets: [],
  tags: tokens.map((_, i) => (i ? 'O' : 'B-PER')),
  sentences: [[0, tokens.length]],
  entities,
});

test('jsonLine is JSON.stringify(predictionJson(...)) byte for byte (escapes, surrogates, ids, numbers)', () => {
  const odd = 'Zoë "quoted" \\ back\tslash \u0001 \ud83d\ude00 lone \ud800 end \u2028';
  const cases: Prediction[] = [
    pred('', [], []),
    pred(
      'Angela Merkel visited Paris .',
      ['Angela', 'Merkel', 'visited', 'Paris', '.'],
      [
        { type: 'PER', text: 'Angela Merkel', start: 0, end: 13, token_start: 0, token_end: 2, confidence: 0.9871 },
        { type: 'LOC', text: 'Paris', start: 22, end: 27, token_start: 3, token_end: 4, confidence: 1 },
      ],
    ),
    pred(odd, odd.split(' '), [
      { type: 'M"ISC', text: odd.slice(0, 9), start: 0, end: 9, token_start: 0, token_end: 2, confidence: 1e-7 },
      { type: 'ORG', text: '\ud800', start: -0, end: 1, token_start: 0, token_end: 1, confidence: NaN },
    ]),
  ];
  const ids: unknown[] = [undefined, 7, 'a"b', null, { k: [1, 'x'] }, 1.5e300];
  for (const p of cases)
    for (const id of ids) {
      const want = JSON.stringify(predictionJson(p, id)) + '\n';
      assert.equal(jsonLine(p, id), want);
      assert.equal(formatPrediction(p, 'jsonl', id), want);
    }
});
