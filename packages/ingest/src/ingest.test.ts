import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { repoRoot, ValidationError } from '@nerflow/core';
import { ingest } from './ingest.js';
import { corpusRows as rows, tempWorkspace } from './test-helpers/workspace.js';

const CRLF = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n', 'latin1');
const HEADER = 'Sentence #,Word,POS,Tag';
const GOOD = [
  HEADER,
  'Sentence: 1,Korea\x92s,NNP,B-geo',
  ',"10,000",CD,O',
  ',"""",``,O',
  ',None,NN,O',
  'Sentence: 2,Peter,NNP,B-per',
  ',Smith,NNP,I-per',
  ',\x85,:,O',
];

async function ingestError(csv: string | Buffer, opts: Parameters<typeof tempWorkspace>[1] = {}): Promise<string> {
  const ws = tempWorkspace(csv, opts);
  try {
    await ingest(ws.ctx());
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${(e as Error).stack}`);
    return e.message.replace(ws.root + path.sep, '');
  }
  assert.fail('ingest should have failed');
}

test('forward-fills sentence numbers, keeps quoting, None and Windows-1252 characters, in file order', async () => {
  const ws = tempWorkspace(CRLF(GOOD));
  const r = await ingest(ws.ctx());
  assert.equal(r.upToDate, false);
  assert.deepEqual(await rows(ws.root, 'SELECT sentence_id, position, word, pos, tag FROM tokens ORDER BY rowid'), [
    [1, 0, 'Korea’s', 'NNP', 'B-geo'],
    [1, 1, '10,000', 'CD', 'O'],
    [1, 2, '"', '``', 'O'],
    [1, 3, 'None', 'NN', 'O'],
    [2, 0, 'Peter', 'NNP', 'B-per'],
    [2, 1, 'Smith', 'NNP', 'I-per'],
    [2, 2, '…', ':', 'O'],
  ]);
  assert.deepEqual(r.manifest.counts.tag_counts, { O: 4, 'B-geo': 1, 'B-per': 1, 'I-per': 1 });
  assert.equal(r.manifest.counts.sentences, 2);
  assert.equal(r.manifest.counts.max_length, 4);
});

test('a second run is up to date; --force recomputes; a changed input recomputes', async () => {
  const ws = tempWorkspace(CRLF(GOOD));
  const first = await ingest(ws.ctx());
  assert.equal((await ingest(ws.ctx())).upToDate, true);
  const forced = await ingest(ws.ctx(true));
  assert.equal(forced.upToDate, false);
  assert.equal(forced.manifest.fingerprint, first.manifest.fingerprint);
  assert.deepEqual(forced.manifest, first.manifest, 'identical inputs give an identical manifest');
  writeFileSync(ws.csvPath, CRLF([...GOOD, ',more,NN,O']));
  const changed = await ingest(ws.ctx());
  assert.equal(changed.upToDate, false);
  assert.equal(changed.manifest.counts.rows, 8);
});

test('.csv.gz input works the same', async () => {
  const ws = tempWorkspace(gzipSync(CRLF(GOOD)), { fileName: 'corpus.csv.gz' });
  const r = await ingest(ws.ctx());
  assert.equal(r.manifest.counts.rows, 7);
});

test('column names come from the config', async () => {
  const csv = CRLF(['sid,token,tag,postag', 'S1,Hello,O,UH', ',world,O,NN']);
  const ws = tempWorkspace(csv, { yaml: '  columns: { sentence: sid, word: token, pos: postag, tag: tag }\n' });
  const r = await ingest(ws.ctx());
  assert.equal(r.manifest.counts.rows, 2);
  assert.deepEqual(await rows(ws.root, 'SELECT word, pos FROM tokens ORDER BY rowid'), [
    ['Hello', 'UH'],
    ['world', 'NN'],
  ]);
});

test('bad inputs: each names the file and line and says what to do', async () => {
  assert.equal(
    await ingestError(CRLF(['Sentence #,Word,Tag', 'Sentence: 1,a,O'])),
    'corpus.csv:1: missing column "POS" (data.columns.pos); the header has "Sentence #", "Word", "Tag". Set data.columns in the config to this file\'s column names.',
  );
  assert.equal(await ingestError(''), 'corpus.csv:1: the file is empty. Point data.path at the corpus CSV.');
  assert.equal(
    await ingestError('version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 15208151\n'),
    'corpus.csv:1: this is a Git LFS pointer, not the data. Run `git lfs pull` (or download the real file) and try again.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, ',a,DT,O', 'Sentence: 1,b,NN,O'])),
    'corpus.csv:2: the first data row has no sentence number in "Sentence #", so its tokens belong to no sentence. The first token of each sentence must carry "Sentence: N" (the column is forward-filled from there).',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a,DT,O', ',b,NN'])),
    'corpus.csv:3: 3 fields, expected 4 as in the header (if this is the last line, the file is truncated: re-export or re-download it).',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a,DT,O', ',"unterminated'])),
    'corpus.csv: the file ends inside a quoted field opened on line 3 (which starts at byte 45): it was cut off there, or that quote is stray (a quote inside a quoted field is written ""). ' +
      'The last complete sentence is none (no sentence of this file is complete). Re-download or re-export the file, or set data.allow_truncated: true to load it without the incomplete last sentence.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a\x81b,DT,O'])),
    "corpus.csv:2: byte 0x81 is not defined in Windows-1252, so the file is not Windows-1252 text. Set data.encoding to the file's real encoding (utf-8 or latin1).",
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,Korea\x92s,NNP,O']), { yaml: '  encoding: utf-8\n' }),
    'corpus.csv:2: byte 0x92 at offset 42 is not valid UTF-8. The file is probably Windows-1252 (the Kaggle ner_dataset.csv is): set data.encoding: windows-1252.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a,DT,geo'])),
    'corpus.csv:2: tag "geo" is not IOB2: expected O, B-<type> or I-<type>; it fits no tag scheme (a tag is O, or B-, I-, E-, S-, L- or U- and a type). Fix the tag, or point data.conll.tag / data.columns.tag at the tag column.',
  );
  assert.equal(
    await ingestError(Buffer.from(`${HEADER}\r\nSentence: 1,a\0b,DT,O\r\n`, 'latin1')),
    'corpus.csv:1: the file contains NUL bytes, so it is binary, not CSV text. Point data.path at the CSV.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER])),
    'corpus.csv:2: the file has a header but no data rows (a truncated export?). Point data.path at the full corpus.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a,DT,O', 'Sentence: 2,b,DT,O', 'Sentence: 1,c,DT,O'])),
    'corpus.csv:4: sentence 1 starts again here (it first started at line 2). Sentence numbers must be unique.',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a,DT,O', 'Sentence: two,b,DT,O'])),
    'corpus.csv:3: "Sentence #" is "Sentence: two"; expected a sentence number such as "Sentence: 12".',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,a"b,DT,O'])),
    'corpus.csv:2: a double quote inside an unquoted field. Quote the whole field and double the quote ("...""...").',
  );
  assert.equal(
    await ingestError(CRLF([HEADER, 'Sentence: 1,"a"b,DT,O'])),
    'corpus.csv:2: unexpected text after a closing quote. A quote inside a quoted field must be doubled ("").',
  );
  assert.equal(
    await ingestError(CRLF(GOOD), { fileName: 'corpus.csv.gz' }),
    'corpus.csv.gz: the name ends in .gz but the file is not gzip-compressed. Rename it to .csv or compress it with gzip.',
  );
  assert.equal(
    await ingestError(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), { fileName: 'corpus.csv.gz' }).then((m) =>
      m.replace(/\(.*\)/, '(…)'),
    ),
    'corpus.csv.gz: the gzip stream is damaged (…): the file is truncated or corrupt. Re-create it with gzip.',
  );
});

test('IOB2 violations: an error with the count and the first sentences, or a warning when data.iob2 is warn', async () => {
  const csv = CRLF([
    HEADER,
    'Sentence: 1,a,DT,O',
    ',b,NN,I-geo',
    'Sentence: 2,c,NN,B-per',
    ',d,NN,I-org',
    'Sentence: 3,e,NN,I-tim',
  ]);
  assert.equal(
    await ingestError(csv),
    'corpus.csv: 3 tags in 3 sentences break IOB2 (an I-X must follow B-X or I-X); first: line 3 (sentence 1: I-geo after O), line 5 (sentence 2: I-org after B-per), line 6 (sentence 3: I-tim after (sentence start)). Fix the tags, or set data.iob2: warn to load them as they are.',
  );
  const ws = tempWorkspace(csv, { yaml: '  iob2: warn\n' });
  const r = await ingest(ws.ctx());
  assert.equal(r.manifest.counts.iob2_violations, 3);
});

test('a failed run leaves the previous corpus.duckdb and manifest untouched', async () => {
  const ws = tempWorkspace(CRLF(GOOD));
  await ingest(ws.ctx());
  const dir = path.join(ws.root, 'runs', 't', 'ingest');
  const before = readFileSync(path.join(dir, 'manifest.json'));
  const db = readFileSync(path.join(dir, 'corpus.duckdb'));
  writeFileSync(ws.csvPath, CRLF([HEADER, 'Sentence: 1,a,DT,O', ',b,NN']).subarray(0, -2));
  await assert.rejects(ingest(ws.ctx()), ValidationError);
  assert.deepEqual(readFileSync(path.join(dir, 'manifest.json')), before);
  assert.deepEqual(readFileSync(path.join(dir, 'corpus.duckdb')), db);
});

test('limit_sentences keeps the first N sentences in file order', async () => {
  const ws = tempWorkspace(CRLF(GOOD), { yaml: '  limit_sentences: 1\n' });
  const r = await ingest(ws.ctx());
  assert.equal(r.manifest.counts.sentences, 1);
  assert.equal(r.manifest.counts.rows, 4);
});

const bundled = path.join(repoRoot(), 'data', 'ner_dataset.csv.gz');
test(
  'the real corpus: 1,048,575 rows, 47,959 sentences, 17 tags with the documented counts, max length 104',
  { skip: !existsSync(bundled) && 'bundled corpus missing' },
  async () => {
    const ws = tempWorkspace('');
    writeFileSync(path.join(ws.root, 'configs', 't.yaml'), `data:\n  path: ${bundled}\n`);
    const r = await ingest(ws.ctx());
    const c = r.manifest.counts;
    assert.equal(c.rows, 1_048_575);
    assert.equal(c.sentences, 47_959);
    assert.equal(c.max_length, 104);
    assert.equal(c.min_length, 1);
    assert.deepEqual(c.tag_counts, {
      O: 887908,
      'B-geo': 37644,
      'B-tim': 20333,
      'B-org': 20143,
      'I-per': 17251,
      'B-per': 16990,
      'I-org': 16784,
      'B-gpe': 15870,
      'I-geo': 7414,
      'I-tim': 6528,
      'B-art': 402,
      'B-eve': 308,
      'I-art': 297,
      'I-eve': 253,
      'B-nat': 201,
      'I-gpe': 198,
      'I-nat': 51,
    });
    assert.equal(c.distinct_words, 35_178);
    // The 56 non-ASCII bytes of the source, decoded as Windows-1252.
    const nonAscii = await rows(
      ws.root,
      `SELECT string_agg(word, ' ' ORDER BY rowid) FROM tokens WHERE regexp_matches(word, '[^\\x00-\\x7f]')`,
    );
    const chars = [...String(nonAscii[0][0])].filter((ch) => ch.charCodeAt(0) > 0x7f);
    assert.equal(chars.length, 56);
    const tally: Record<string, number> = {};
    for (const ch of chars) tally[ch] = (tally[ch] ?? 0) + 1;
    assert.deepEqual(
      Object.keys(tally).sort(),
      ['\u00a0', '°', 'é', 'ë', 'ö', 'ü', '–', '—', '‘', '’', '“', '”', '…'].sort(),
    );
    assert.equal((await rows(ws.root, `SELECT count(*) FROM tokens WHERE word = 'Korea’s'`))[0][0], 1);
    assert.equal((await rows(ws.root, `SELECT count(*) FROM tokens WHERE word = 'None'`))[0][0], 10);
    assert.deepEqual(await rows(ws.root, `SELECT max(position) + 1 FROM tokens WHERE sentence_id = 22480`), [[104]]);
  },
);
