import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpusSentences } from '../../core/src/test-helpers/corpus.js';
import { VocabIndex } from './vocab-index.js';

test('VocabIndex answers as a Map of the words: every corpus word, case variants, strangers, repeats, non-ASCII', () => {
  const corpus = corpusSentences();
  const words = ['<PAD>', '<UNK>', ...new Set(corpus.slice(0, 5000).flatMap((s) => s.words))];
  words.push('Paris', 'dup', 'dup', 'é', '😀', ''); // repeats: the later id, as a Map built in order
  const map = new Map(words.map((w, i) => [w, i]));
  const index = new VocabIndex(words);
  const probes = [
    ...words,
    ...corpus.slice(5000, 8000).flatMap((s) => s.words),
    ...words.slice(0, 3000).map((w) => w.toUpperCase()),
    ...words.slice(0, 3000).map((w) => w + 'x'),
    'Pari',
    'Parisx',
    'e\u0301',
    '😁',
  ];
  let known = 0;
  for (const w of probes) {
    assert.equal(index.get(w), map.get(w), JSON.stringify(w));
    if (map.has(w)) known++;
  }
  assert.ok(known > words.length && known < probes.length, `${known} of ${probes.length} probes known`);
});
