import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@nerflow/core';
import { lines, readRecordChunks, readRecords } from './io.js';

// what `lines` gave before it decoded whole chunks: each line decoded alone (its byte order mark dropped, a
// trailing \r dropped), numbered from 1
function reference(bytes: Buffer): string[] {
  const dec = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  let at = 0;
  for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, at)) {
    const b = bytes.subarray(at, nl);
    parts.push(dec.decode(b[b.length - 1] === 13 ? b.subarray(0, -1) : b));
    at = nl + 1;
  }
  if (at < bytes.length) parts.push(dec.decode(bytes.subarray(at)));
  return parts;
}

async function* chunked(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

test('lines: any chunking (multi-byte characters, BOMs, CRLF) gives the lines each decoded alone', async () => {
  const text =
    '\ufeffAngela Merkel met Emmanuel Macron in Paris .\r\nKorea’s “fury” — 3 € and 😀 emoji\n\ufeffBOM again\n\r\n\n' +
    'last line without newline: naïve café';
  const bytes = Buffer.from(text, 'utf8');
  const want = reference(bytes);
  for (const sizes of [[1], [2], [3], [5, 1], [7], [64], [1 << 16], [4, 9, 1, 30]]) {
    const got: string[] = [];
    let n = 0;
    for await (const l of lines(chunked(bytes, sizes), 'x')) {
      assert.equal(l.line, ++n);
      got.push(l.text);
    }
    assert.deepEqual(got, want, `chunks of ${sizes}`);
  }
});

test('readRecordChunks: the records of readRecords; those before a bad line go out, then the error', async () => {
  const good = Array.from({ length: 50 }, (_, i) => `{"text": "sentence ${i} é"}`).join('\n');
  const bytes = Buffer.concat([
    Buffer.from(good + '\n'),
    Buffer.from([0xff, 0xfe, 10]),
    Buffer.from('{"text": "after"}\n'),
  ]);
  for (const sizes of [[7], [1 << 16]]) {
    const seen: string[] = [];
    await assert.rejects(
      async () => {
        for await (const records of readRecordChunks(chunked(bytes, sizes), 'jsonl', 'in.jsonl'))
          for (const r of records) seen.push(r.input.text!);
      },
      (e: Error) => e instanceof ValidationError && /in\.jsonl:51: not valid UTF-8/.test(e.message),
    );
    assert.equal(seen.length, 50, `chunks of ${sizes}`);
  }
  const conll = Buffer.from('-DOCSTART- -X- O\n\nEU NNP B-org\nrejects VBZ O\n\nPeter NNP B-per\n');
  const flat: unknown[] = [];
  for await (const r of readRecords(chunked(conll, [3]), 'conll', 'x')) flat.push(r);
  const byChunk: unknown[] = [];
  for await (const rs of readRecordChunks(chunked(conll, [1 << 16]), 'conll', 'x')) byChunk.push(...rs);
  assert.deepEqual(flat, byChunk);
  assert.deepEqual(
    flat.map((r) => (r as { input: { tokens: string[] } }).input.tokens),
    [['EU', 'rejects'], ['Peter']],
  );
});
