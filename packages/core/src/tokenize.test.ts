import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpusSentences } from './test-helpers/corpus.js';
import { detokenize, splitSentences, tokenize } from './tokenize.js';

test('the tokenizer keeps ≥ 99% of the corpus tokens whole on the detokenized corpus sentences, offsets exact', () => {
  const sentences = corpusSentences().map((s) => s.words);
  assert.ok(sentences.length > 47_000, `${sentences.length} sentences`);
  let total = 0;
  let whole = 0;
  const misses = new Map<string, number>();
  for (const s of sentences) {
    const { text, offsets } = detokenize(s);
    const spans = new Set<string>();
    for (const t of tokenize(text)) {
      assert.equal(text.slice(t.start, t.end), t.text);
      spans.add(`${t.start}:${t.end}`);
    }
    s.forEach((w, i) => {
      total++;
      if (spans.has(`${offsets[i]}:${offsets[i] + w.length}`)) whole++;
      else misses.set(w, (misses.get(w) ?? 0) + 1);
    });
  }
  const share = whole / total;
  const top = [...misses]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([w, n]) => `${w} ×${n}`)
    .join(', ');
  console.log(
    `tokenizer: ${whole.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} corpus tokens kept whole = ${(100 * share).toFixed(2)}% (most split: ${top})`,
  );
  assert.ok(share >= 0.99, `${(100 * share).toFixed(2)}% < 99%`);
});

test('tokenizer rules: possessives, abbreviations, numbers, hyphens, quotes, currency; exact offsets', () => {
  const text = `Iraq's U.S.-led forces don't pay $1,500 (2.5%) to Mr. Shi'ite al-Qaida in the U.S.. Workers' "fury" -- really...`;
  const tokens = tokenize(text);
  assert.deepEqual(
    tokens.map((t) => t.text),
    [
      'Iraq',
      "'s",
      'U.S.-led',
      'forces',
      'do',
      "n't",
      'pay',
      '$',
      '1,500',
      '(',
      '2.5',
      '%',
      ')',
      'to',
      'Mr.',
      "Shi'ite",
      'al-Qaida',
      'in',
      'the',
      'U.S.',
      '.',
      'Workers',
      "'",
      '"',
      'fury',
      '"',
      '--',
      'really',
      '...',
    ],
  );
  for (const t of tokens) assert.equal(text.slice(t.start, t.end), t.text);
  assert.deepEqual(tokenize('  \n\t '), []);
  const odd = 'Ünïcödé naïve café — 😀 x';
  for (const t of tokenize(odd)) assert.equal(odd.slice(t.start, t.end), t.text);
});

test('sentence splitting: ends at . ? ! before a capital, not after abbreviations; blank lines split', () => {
  const doc = `Mr. Bush went to the U.S. President's house. Then he left! "Good," he said. 3 men died.\n\nNo period here\n\nlast one`;
  const parts = splitSentences(doc).map((r) => doc.slice(r.start, r.end));
  assert.deepEqual(parts, [
    `Mr. Bush went to the U.S. President's house.`,
    'Then he left!',
    '"Good," he said.',
    '3 men died.',
    'No period here',
    'last one',
  ]);
  assert.deepEqual(splitSentences('   '), []);
});
