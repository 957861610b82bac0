import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corpusSentences } from './test-helpers/corpus.js';
import { ABBREVIATIONS, detokenize, sentenceRanges, splitSentences, tokenize, tokenizeFlat } from './tokenize.js';

// The scan tokenize and splitSentences did before tokenizeFlat (a global regex's exec per token, Token objects),
// kept here as the reference: tokenizeFlat and sentenceRanges must give exactly its tokens and sentences.
const L = '\\p{L}\\p{M}';
const LN = `${L}\\p{N}`;
const WORD = `[${LN}]+(?:(?:[-~&]|'(?=[${L}])|(?<=\\p{N})[.,](?=\\p{N})|(?<=(?:^|[^${LN}.])(?:[${L}]\\.)*[${L}])\\.-?(?=[${L}]))[${LN}]+)*`;
const TOKEN_RE = new RegExp(`${WORD}|--+|\\.\\.\\.+|\\S`, 'gu');
const CLITIC_RE = /(?:'[sSdDmM]|n't|N'T|'re|'RE|'ve|'VE|'ll|'LL)$/u;
const isAbbreviation = (w: string) => /^(?:\p{L}\.)+\p{L}$/u.test(w) || /^\p{Lu}$/u.test(w) || ABBREVIATIONS.has(w);
type Tok = { text: string; start: number; end: number };

function referenceTokens(text: string): Tok[] {
  const out: Tok[] = [];
  TOKEN_RE.lastIndex = 0;
  for (let m = TOKEN_RE.exec(text); m; m = TOKEN_RE.exec(text)) {
    let word = m[0];
    let start = m.index;
    let end = start + word.length;
    if (/^[\p{L}\p{M}\p{N}]/u.test(word)) {
      if (text[end] === '.' && isAbbreviation(word)) {
        word += '.';
        end++;
        TOKEN_RE.lastIndex = end;
      }
      const c = CLITIC_RE.exec(word);
      if (c && c.index > 0) {
        out.push({ text: word.slice(0, c.index), start, end: start + c.index });
        start += c.index;
        word = word.slice(c.index);
      }
    }
    out.push({ text: word, start, end });
  }
  return out;
}

function referenceSentences(text: string, tokens: Tok[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  let first = 0;
  const flush = (last: number) => {
    if (last >= first) out.push({ start: tokens[first].start, end: tokens[last].end });
    first = last + 1;
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (!next) break;
    if (next.start - t.end >= 2 && /\n\s*\n/.test(text.slice(t.end, next.start))) {
      flush(i);
      continue;
    }
    if (!/^(?:[.?!]|\.\.\.+)$/.test(t.text)) continue;
    let j = i;
    while (tokens[j + 1] && tokens[j + 1].start === tokens[j].end && /^["')\]]$/.test(tokens[j + 1].text)) j++;
    const after = tokens[j + 1];
    if (!after || after.start === tokens[j].end) continue;
    if (/^[\p{Lu}\p{N}"'([]/u.test(after.text)) {
      flush(j);
      i = j;
    }
  }
  if (first < tokens.length) flush(tokens.length - 1);
  return out;
}

function check(text: string): void {
  const want = referenceTokens(text);
  const flat = tokenizeFlat(text);
  const got = flat.texts.map((t, i) => ({ text: t, start: flat.starts[i], end: flat.ends[i] }));
  assert.deepEqual(got, want, JSON.stringify(text));
  assert.deepEqual(tokenize(text), want);
  const sentences = referenceSentences(text, want);
  assert.deepEqual(splitSentences(text), sentences, JSON.stringify(text));
  assert.deepEqual(
    sentenceRanges(text, flat).map(([a, b]) => ({ start: want[a].start, end: want[b - 1].end })),
    sentences,
  );
}

test('tokenizeFlat and sentenceRanges give the global-regex scan’s tokens and sentences: corpus documents', () => {
  const sentences = corpusSentences().map((s) => detokenize(s.words).text);
  // documents of 1–6 sentences, joined by a space, a newline or a blank line (so every sentence rule is hit)
  const seps = [' ', '  ', '\n', '\n\n', ' \u00a0'];
  let docs = 0;
  for (let i = 0, k = 0; i < sentences.length; k++) {
    const n = 1 + (k % 6);
    let doc = sentences[i];
    for (let j = 1; j < n && i + j < sentences.length; j++) doc += seps[(k + j) % seps.length] + sentences[i + j];
    check(doc);
    docs++;
    i += n;
  }
  assert.ok(docs > 13_000, `${docs} documents`);
});

test('tokenizeFlat: Unicode spaces, surrogate pairs, lone surrogates, abbreviations, clitics, symbols', () => {
  for (const text of [
    '',
    '   ',
    'a',
    "Iraq's U.S.-led forces don't pay $1,500 (2.5%) to Mr. Shi'ite al-Qaida in the U.S.. Workers' \"fury\" -- really...",
    'x\u2003y\u3000z\ufeffw\u2028v\u00a0u\u0085t',
    '𝐀𝐁 café naïve 😀 end. 😀 Next! “Quoted.” (Brackets.) [1] 2.',
    'lone \ud800 surrogate \udc00 here. And J. Smith met Dr. No in St. Louis on Jan. 5 .',
    "WON'T I'M THEY'RE we've you'll she'd... ---- ... . .. ?! \"Yes,\" he said.\n\nNew paragraph",
    '\t\tTabs\tand\r\nCRLF\r\n\r\nlines. 3.14 1,000,000 06-Mar A&M e~x',
  ])
    check(text);
});
