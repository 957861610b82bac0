import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadConfig, silentLogger, ValidationError, type Logger } from '@nerflow/core';
import { tagsOf, type TagScheme } from '@nerflow/metrics';
import { ingest } from './ingest.js';
import { corpusRows as rows } from './test-helpers/workspace.js';

/** A workspace with the given files and a config t.yaml whose data section is `data` (YAML lines). */
function workspace(files: Record<string, string | Buffer>, data: string) {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-conll-'));
  mkdirSync(path.join(root, 'configs'));
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(root, name), body);
  writeFileSync(path.join(root, 'configs', 't.yaml'), `data:\n${data}`);
  const warnings: string[] = [];
  const log: Logger = { ...silentLogger, warn: (m) => warnings.push(m.replace(root + path.sep, '')) };
  return { root, warnings, run: (force = false) => ingest({ config: loadConfig('t', { root }), root, log, force }) };
}

async function error(files: Record<string, string | Buffer>, data: string): Promise<string> {
  const ws = workspace(files, data);
  try {
    await ws.run();
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${(e as Error).stack}`);
    return e.message.replaceAll(ws.root + path.sep, '');
  }
  assert.fail('ingest should have failed');
}

// Sentences as [word, pos] tokens plus entity spans; written in any scheme by the tests.
type Sentence = { words: [string, string][]; spans: { start: number; end: number; type: string }[] };
const CORPUS: Sentence[] = [
  {
    words: [
      ['Peter', 'NNP'],
      ['Smith', 'NNP'],
      ['met', 'VBD'],
      ['Anna', 'NNP'],
      ['in', 'IN'],
      ['New', 'NNP'],
      ['York', 'NNP'],
      ['.', '.'],
    ],
    spans: [
      { start: 0, end: 1, type: 'PER' },
      { start: 3, end: 3, type: 'PER' },
      { start: 5, end: 6, type: 'LOC' },
    ],
  },
  {
    words: [
      ['Siemens', 'NNP'],
      ['AG', 'NNP'],
      ['Bosch', 'NNP'],
      ['sued', 'VBD'],
      ['.', '.'],
    ],
    spans: [
      { start: 0, end: 1, type: 'ORG' },
      { start: 2, end: 2, type: 'ORG' },
    ],
  },
  {
    words: [
      ['It', 'PRP'],
      ['rained', 'VBD'],
      ['.', '.'],
    ],
    spans: [],
  },
];

/** CoNLL text: `word pos tag` (or `word tag`), -DOCSTART- first, a blank line after each sentence. */
function conll(
  sents: Sentence[],
  scheme: TagScheme,
  o: { pos?: boolean; sep?: string; docstart?: boolean } = {},
): string {
  const sep = o.sep ?? ' ';
  const out: string[] = o.docstart === false ? [] : ['-DOCSTART- -X- O', ''];
  for (const s of sents) {
    const tags = tagsOf(s.spans, s.words.length, scheme);
    s.words.forEach(([w, p], i) => out.push([w, ...(o.pos === false ? [] : [p]), tags[i]].join(sep)));
    out.push('');
  }
  return out.join('\n') + '\n';
}

const IOB2_ROWS = [
  ['Peter', 'B-PER'],
  ['Smith', 'I-PER'],
  ['met', 'O'],
  ['Anna', 'B-PER'],
  ['in', 'O'],
  ['New', 'B-LOC'],
  ['York', 'I-LOC'],
  ['.', 'O'],
  ['Siemens', 'B-ORG'],
  ['AG', 'I-ORG'],
  ['Bosch', 'B-ORG'],
  ['sued', 'O'],
  ['.', 'O'],
  ['It', 'O'],
  ['rained', 'O'],
  ['.', 'O'],
];

test('CoNLL with POS: sentences by blank lines, -DOCSTART- and # comments skipped and counted, documents kept', async () => {
  const text =
    '# a comment before the first sentence\n' +
    conll(CORPUS.slice(0, 2), 'iob2') +
    '-DOCSTART- -X- O\n\n# sent_id = 3\n' +
    conll(CORPUS.slice(2), 'iob2', { docstart: false });
  const ws = workspace({ 'train.conll': text }, '  path: ../train.conll\n  conll: { word: 1, pos: 2, tag: 3 }\n');
  const r = await ws.run();
  assert.deepEqual(
    await rows(
      ws.root,
      'SELECT sentence_id, position, word, pos, tag, doc_id, split FROM tokens ORDER BY rowid LIMIT 3',
    ),
    [
      [1, 0, 'Peter', 'NNP', 'B-PER', 1, null],
      [1, 1, 'Smith', 'NNP', 'I-PER', 1, null],
      [1, 2, 'met', 'VBD', 'O', 1, null],
    ],
  );
  assert.deepEqual(
    await rows(ws.root, 'SELECT doc_id, count(DISTINCT sentence_id) FROM tokens GROUP BY 1 ORDER BY 1'),
    [
      [1, 2],
      [2, 1],
    ],
  );
  const c = r.manifest.counts;
  assert.equal(c.sentences, 3);
  assert.equal(c.rows, 16);
  assert.equal(c.documents, 2);
  assert.equal(c.comment_lines, 2);
  assert.deepEqual(ws.warnings, []);
  assert.equal((c.files as { format: string }[])[0].format, 'conll');
});

test('two columns, tab-separated, .gz, UTF-8 by default; a hashtag token is a word, not a comment', async () => {
  const text = conll(
    [
      {
        words: [
          ['#', 'X'],
          ['Zürich', 'X'],
          ['São Paulo', 'X'],
        ],
        spans: [
          { start: 1, end: 1, type: 'LOC' },
          { start: 2, end: 2, type: 'LOC' },
        ],
      },
    ],
    'iob2',
    { pos: false, sep: '\t' },
  );
  const ws = workspace({ 'c.tsv.gz': gzipSync(Buffer.from(text, 'utf8')) }, '  path: ../c.tsv.gz\n');
  await ws.run();
  assert.deepEqual(await rows(ws.root, 'SELECT word, pos, tag FROM tokens ORDER BY rowid'), [
    ['#', '_', 'O'],
    ['Zürich', '_', 'B-LOC'],
    ['São Paulo', '_', 'B-LOC'],
  ]);
});

test('CRLF line ends: the same tokens, and a cut-off CRLF file is found the same way', async () => {
  const crlf = conll(CORPUS, 'iob2').replaceAll('\n', '\r\n');
  const ws = workspace({ 'c.conll': crlf }, '  path: ../c.conll\n');
  await ws.run();
  assert.deepEqual(await rows(ws.root, 'SELECT word, tag FROM tokens ORDER BY rowid'), IOB2_ROWS);
  assert.match(
    await error({ 'c.conll': crlf.slice(0, crlf.indexOf('Bosch') + 3) }, '  path: ../c.conll\n'),
    /^c\.conll: the file is cut off: it ends at byte \d+ in the middle of line 14 .* The last complete sentence is sentence 1 at line 3 \("Peter Smith met Anna in New York \."\)/,
  );
});

test('the same annotation written as IOB1, IOB2, BIOES, BILOU is stored as the same IOB2 tokens', async () => {
  const stored: unknown[][][] = [];
  for (const scheme of ['iob2', 'iob1', 'bioes', 'bilou'] as TagScheme[]) {
    const ws = workspace({ 'c.conll': conll(CORPUS, scheme) }, `  path: ../c.conll\n  scheme: ${scheme}\n`);
    const r = await ws.run();
    assert.equal(r.manifest.counts.scheme, scheme);
    stored.push(await rows(ws.root, 'SELECT word, tag FROM tokens ORDER BY rowid'));
  }
  for (const s of stored) assert.deepEqual(s, IOB2_ROWS);
  // IO cannot tell the adjacent "Siemens AG" and "Bosch" apart: one ORG entity, the rest as above
  const io = workspace({ 'c.conll': conll(CORPUS, 'io') }, '  path: ../c.conll\n  scheme: io\n');
  await io.run();
  assert.deepEqual(
    await rows(io.root, 'SELECT word, tag FROM tokens ORDER BY rowid'),
    IOB2_ROWS.map(([w, t]) => [w, w === 'Bosch' ? 'I-ORG' : t]),
  );
});

test("a corpus's own split: data.splits keeps each file's sentences in its split, counts per split", async () => {
  const ws = workspace(
    {
      'eng.train': conll(CORPUS, 'iob2'),
      'eng.testa': conll(CORPUS.slice(0, 1), 'iob2'),
      'eng.testb': conll(CORPUS.slice(1), 'iob2'),
    },
    '  splits: { train: ../eng.train, val: ../eng.testa, test: ../eng.testb }\n',
  );
  const r = await ws.run();
  assert.deepEqual(
    await rows(
      ws.root,
      'SELECT split, count(DISTINCT sentence_id), count(*), min(sentence_id), max(sentence_id) FROM tokens GROUP BY 1 ORDER BY min(sentence_id)',
    ),
    [
      ['train', 3, 16, 1, 3],
      ['val', 1, 8, 4, 4],
      ['test', 2, 8, 5, 6],
    ],
  );
  const splits = r.manifest.counts.splits as Record<string, { sentences: number; entities: number }>;
  assert.deepEqual([splits.train.sentences, splits.val.sentences, splits.test.sentences], [3, 1, 2]);
  assert.deepEqual([splits.train.entities, splits.val.entities, splits.test.entities], [5, 3, 2]);
  assert.deepEqual(
    r.manifest.inputs.map((i) => (i as { split?: string }).split),
    ['train', 'val', 'test'],
  );
  // limit_sentences counts per file, so a smoke run still has all three splits
  const small = workspace(
    { 'eng.train': conll(CORPUS, 'iob2'), 'eng.testb': conll(CORPUS, 'iob2') },
    '  splits: { train: ../eng.train, test: ../eng.testb }\n  limit_sentences: 2\n',
  );
  const perSplit = (await small.run()).manifest.counts.splits as Record<string, { sentences: number }>;
  assert.deepEqual(
    Object.entries(perSplit).map(([k, v]) => [k, v.sentences]),
    [
      ['train', 2],
      ['test', 2],
    ],
  );
});

test('bad CoNLL: each error names the file, the line and the fix', async () => {
  const good = conll(CORPUS, 'iob2');
  assert.equal(
    await error({ 'c.conll': good.replace('Smith NNP I-PER', 'Smith I-PER') }, '  path: ../c.conll\n'),
    'c.conll:4: 2 columns, expected 3 as on line 3 (the first token line). A missing tag or an extra column? If this is the last line, the file is truncated: re-export or re-download it.',
  );
  assert.equal(
    await error({ 'c.conll': good.replace('met VBD O', 'met VBD PER') }, '  path: ../c.conll\n'),
    'c.conll:5: tag "PER" is not IOB2: expected O, B-<type> or I-<type>; it fits no tag scheme (a tag is O, or B-, I-, E-, S-, L- or U- and a type). ' +
      'Fix the tag, or point data.conll.tag / data.columns.tag at the tag column.',
  );
  assert.equal(
    await error({ 'c.conll': good.replace('met VBD O', 'met VBD S-PER') }, '  path: ../c.conll\n'),
    'c.conll:5: tag "S-PER" is not IOB2: expected O, B-<type> or I-<type> (data.scheme is iob2; the tag fits BIOES: set data.scheme: bioes if the file is written in it).',
  );
  assert.equal(
    await error({ 'c.conll': conll(CORPUS, 'iob1') }, '  path: ../c.conll\n'),
    'c.conll: 4 tags in 2 sentences break IOB2 (an I-X must follow B-X or I-X); first: line 3 (sentence 1: I-PER after (sentence start)), line 6 (sentence 1: I-PER after O), ' +
      'line 8 (sentence 1: I-LOC after O), line 12 (sentence 2: I-ORG after (sentence start)). The file looks like IOB1 (entities start with I-; B- only separates two adjacent ' +
      'entities of one type): declare it with data.scheme: iob1. Fix the tags, or set data.iob2: warn to load them as they are.',
  );
  assert.equal(
    await error({ 'c.conll': good.replace('met VBD O', 'met\uFEFF VBD O') }, '  path: ../c.conll\n'),
    'c.conll:5: a byte-order mark (U+FEFF, bytes EF BB BF) at byte 53, inside the file: it is invisible in an editor and would become part of a word. ' +
      "Files joined with cat keep each one's mark; remove it (sed -i 's/\\xEF\\xBB\\xBF//g' FILE) or re-export the file.",
  );
  assert.equal(
    await error(
      { 'c.conll': conll(CORPUS, 'iob2', { sep: '\t' }).replace('met\tVBD\tO', 'met VBD\tO') },
      '  path: ../c.conll\n',
    ),
    'c.conll:5: 2 columns, expected 3 as on line 3 (the first token line). This line separates its columns with spaces where the file uses tabs: make the separators consistent, or set data.conll.separator: whitespace.',
  );
  assert.equal(
    await error(
      { 'c.conll': good.replace('New NNP B-LOC', 'New York NNP B-LOC') },
      '  path: ../c.conll\n  conll: { separator: whitespace }\n',
    ),
    'c.conll:8: 4 columns, expected 3 as on line 3 (the first token line). A missing tag or an extra column? If this is the last line, the file is truncated: re-export or re-download it.',
  );
  assert.equal(
    await error({ 'c.conll': good }, '  path: ../c.conll\n  conll: { tag: 5 }\n'),
    "c.conll:3: 3 columns (separated by spaces), but data.conll needs 5 (word 1, tag 5). Set data.conll to this file's columns.",
  );
  assert.equal(
    await error({ 'c.conll': '-DOCSTART- -X- O\n\n' }, '  path: ../c.conll\n'),
    'c.conll: no token lines (2 lines: blank, -DOCSTART- or # comments). Point data.path (or data.splits) at the corpus.',
  );
  assert.equal(
    await error({ 'c.conll': good }, '  path: ../c.conll\n  scheme: bioes\n'),
    'c.conll: 5 tags in 2 sentences break BIOES (B-X/I-X must be followed by I-X or E-X, and I-X/E-X must follow B-X or I-X); first: line 5 (sentence 1: O after I-PER), ' +
      'line 7 (sentence 1: O after B-PER), line 10 (sentence 1: O after I-LOC), line 14 (sentence 2: B-ORG after I-ORG), line 15 (sentence 2: O after B-ORG). ' +
      'The file looks like IOB2: declare it with data.scheme: iob2. Fix the tags, or set data.iob2: warn to load them as they are.',
  );
  assert.equal(
    await error({ 'eng.train': good }, '  splits: { train: ../eng.train, test: ../eng.testb }\n'),
    'eng.testb: no such file (data.splits.test in configs/t.yaml). Paths are relative to the config file; the bundled corpus is data/ner_dataset.csv.gz.',
  );
});

test('data.format: auto reads the name, then the first line; an explicit format wins', async () => {
  const text = conll(CORPUS, 'iob2');
  for (const name of ['c.dat', 'eng.testb', 'c.iob.gz']) {
    const ws = workspace({ [name]: name.endsWith('.gz') ? gzipSync(text) : text }, `  path: ../${name}\n`);
    const r = await ws.run();
    assert.equal((r.manifest.counts.files as { format: string }[])[0].format, 'conll', name);
  }
  const csv = workspace({ 'c.dat': 'Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n' }, '  path: ../c.dat\n');
  assert.equal(((await csv.run()).manifest.counts.files as { format: string }[])[0].format, 'csv');
  assert.equal(
    await error({ 'c.csv': text }, '  path: ../c.csv\n'),
    'c.csv:1: missing columns "Sentence #" (data.columns.sentence), "Word" (data.columns.word), "POS" (data.columns.pos), "Tag" (data.columns.tag); ' +
      'the header has "-DOCSTART- -X- O". Set data.columns in the config to this file\'s column names (or, if it is a CoNLL column file, set data.format: conll).',
  );
  assert.equal(
    await error({ 'c.txt': 'Sentence #,Word,POS,Tag\nSentence: 1,a,DT,O\n' }, '  path: ../c.txt\n'),
    'c.txt:1: read as a CoNLL column file (data.format: auto), but this first line looks like a CSV header or row ("Sentence #,Word,POS,Tag"). Set data.format: csv, or rename the file to .csv.',
  );
  const forced = workspace({ 'c.csv': text }, '  path: ../c.csv\n  format: conll\n');
  assert.equal((await forced.run()).manifest.counts.sentences, 3);
});

test('data.path and data.splits in one file: a config error naming both keys', async () => {
  const ws = workspace({}, '  path: ../a.conll\n  splits: { train: ../a.conll, test: ../b.conll }\n');
  assert.throws(
    () => loadConfig('t', { root: ws.root }),
    (e: unknown) =>
      e instanceof ValidationError &&
      e.message.includes(
        't.yaml:3: data.path and data.splits are both set; a corpus is one file (data.path, split by featurize.split) or its own files (data.splits: {train, val, test}). Remove one of the two keys.',
      ),
  );
  // a config that extends one with data.path may name its own files instead
  writeFileSync(path.join(ws.root, 'configs', 'base.yaml'), 'data:\n  path: ../a.conll\n');
  writeFileSync(
    path.join(ws.root, 'configs', 'own.yaml'),
    'extends: base\ndata:\n  splits: { train: ../a.conll, test: ../b.conll }\n',
  );
  const c = loadConfig('own', { root: ws.root });
  assert.equal(c.data.path, null);
  assert.equal(c.data.splits?.test, path.join(ws.root, 'b.conll'));
  assert.equal(c.data.splits?.val, null);
  // and --set may point one split elsewhere (relative to the named config file, as data.path)
  const set = loadConfig('own', { root: ws.root, overrides: ['data.splits.test=../other/b.conll'] });
  assert.equal(set.data.splits?.test, path.join(ws.root, 'other', 'b.conll'));
  assert.equal(set.data.splits?.train, path.join(ws.root, 'a.conll'));
  writeFileSync(path.join(ws.root, 'configs', 'notest.yaml'), 'data:\n  splits: { train: ../a.conll }\n');
  assert.throws(
    () => loadConfig('notest', { root: ws.root }),
    (e: unknown) =>
      e instanceof ValidationError &&
      e.message.endsWith(
        'notest.yaml: data.splits.test is missing: data.splits needs a train and a test file (val is optional).',
      ),
  );
});

// ---- cut-off files ----

const sentencesCsv = (n: number) => {
  const lines = ['Sentence #,Word,POS,Tag'];
  for (let s = 1; s <= n; s++) {
    lines.push(`Sentence: ${s},Zoë${s},NNP,B-per`, `,Smith,NNP,I-per`, `,visited,VBD,O`, `,Genève,NNP,B-geo`, `,.,.,O`);
  }
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
};
const sentencesConll = (n: number) => {
  const out: string[] = [];
  for (let s = 1; s <= n; s++)
    out.push(`Zoë${s} NNP B-PER`, 'Smith NNP I-PER', 'visited VBD O', 'Genève NNP B-LOC', '. . O', '');
  return Buffer.from(out.join('\n') + '\n', 'utf8');
};

test('a file cut off at any byte (mid-line, inside a UTF-8 character, at exactly 4,096 bytes) is an error naming the offset and the last complete sentence', async () => {
  for (const [kind, full, name, cfg] of [
    ['csv', sentencesCsv(200), 'c.csv', '  encoding: utf-8\n'],
    ['conll', sentencesConll(200), 'c.conll', ''],
  ] as const) {
    assert.ok(full.length > 8192);
    // every cut that does not end on a line terminator, including 4,096 (a power of two) and a cut between the bytes of ë (C3 AB)
    const inUtf8 = full.indexOf(Buffer.from('ë', 'utf8'), 3000) + 1;
    for (const at of [4096, (1 << 12) | 1, 5000, inUtf8, full.length - 2]) {
      if (full[at - 1] === 0x0a) continue;
      const cut = full.subarray(0, at);
      const complete = cut.subarray(0, cut.lastIndexOf(0x0a) + 1).toString('utf8');
      const lineNo = complete.split('\n').length;
      const lastLabel = kind === 'csv' ? [...complete.matchAll(/Sentence: (\d+),/g)].map((m) => Number(m[1])) : [];
      const partial = cut.subarray(cut.lastIndexOf(0x0a) + 1).toString('latin1');
      // the last complete sentence: CSV — the sentence before the one the cut line belongs to
      let last: number;
      if (kind === 'csv')
        last = partial.startsWith('Sentence: ') ? lastLabel[lastLabel.length - 1] : lastLabel[lastLabel.length - 1] - 1;
      else last = complete.split('\n\n').length - 1; // sentences followed by their blank line
      const msg = await error({ [name]: cut }, `  path: ../${name}\n${cfg}`);
      const expectHead =
        `${name}: the file is cut off: it ends at byte ${at} in the middle of line ${lineNo} (which starts at byte ${cut.lastIndexOf(0x0a) + 1}), ` +
        `without the line terminator every other line has. The last complete sentence is sentence ${last} at line `;
      assert.ok(msg.startsWith(expectHead), `${kind} cut at ${at}:\n${msg}\nexpected to start with\n${expectHead}`);
      assert.match(
        msg,
        new RegExp(
          `\\("Zoë${last} Smith visited Genève \\."\\)\\. Re-download or re-export the file, or set data\\.allow_truncated: true to load it without the incomplete last sentence \\(if the file is complete, end it with a newline\\)\\.$`,
        ),
      );

      // allow_truncated: a warning, and the incomplete last sentence is dropped
      const ws = workspace({ [name]: cut }, `  path: ../${name}\n${cfg}  allow_truncated: true\n`);
      const r = await ws.run();
      assert.equal(r.manifest.counts.sentences, last, `${kind} cut at ${at}: sentences kept`);
      assert.equal(r.manifest.counts.rows, last * 5);
      assert.equal(ws.warnings.length, 1);
      assert.match(
        ws.warnings[0],
        new RegExp(
          `^${name}: the file is cut off: it ends at byte ${at} .*; data\\.allow_truncated is true, so the incomplete last sentence is dropped\\. The last sentence loaded is sentence ${last} `,
        ),
      );
      assert.deepEqual(await rows(ws.root, 'SELECT max(position) + 1, count(DISTINCT sentence_id) FROM tokens'), [
        [5, last],
      ]);
    }
  }
});

test('a CSV that ends inside a quoted field: the same error, or the incomplete last sentence dropped', async () => {
  const csv = Buffer.from(
    'Sentence #,Word,POS,Tag\r\nSentence: 1,"10,000",CD,O\r\n,men,NNS,O\r\nSentence: 2,Zoë,NNP,B-per\r\n,"said,\r\n',
    'utf8',
  );
  assert.equal(
    await error({ 'c.csv': csv }, '  path: ../c.csv\n  encoding: utf-8\n'),
    'c.csv: the file ends inside a quoted field opened on line 5 (which starts at byte 92): it was cut off there, or that quote is stray (a quote inside a quoted field is written ""). ' +
      'The last complete sentence is sentence 1 at line 2 ("10,000 men"). Re-download or re-export the file, or set data.allow_truncated: true to load it without the incomplete last sentence.',
  );
  const ws = workspace({ 'c.csv': csv }, '  path: ../c.csv\n  encoding: utf-8\n  allow_truncated: true\n');
  const r = await ws.run();
  assert.equal(r.manifest.counts.sentences, 1);
  assert.deepEqual(await rows(ws.root, 'SELECT word FROM tokens ORDER BY rowid'), [['10,000'], ['men']]);
  assert.match(
    ws.warnings[0],
    /^c\.csv: the file ends inside a quoted field opened on line 5 .*; data\.allow_truncated is true, so the incomplete last sentence is dropped\. The last sentence loaded is sentence 1 at line 2/,
  );
});

test('a cut-off file with limit_sentences: the sentences before the limit are all complete, none is dropped', async () => {
  const ws = workspace(
    { 'c.conll': sentencesConll(50).subarray(0, 1000) },
    '  path: ../c.conll\n  limit_sentences: 3\n  allow_truncated: true\n',
  );
  const r = await ws.run();
  assert.equal(r.manifest.counts.sentences, 3);
  assert.match(
    ws.warnings[0],
    /The last sentence loaded is sentence 3 at line 13 \("Zoë3 Smith visited Genève \."\)\.$/,
  );
});

test('a cut-off file leaves the previous ingest output untouched', async () => {
  const ws = workspace({ 'c.conll': sentencesConll(3) }, '  path: ../c.conll\n');
  await ws.run();
  const dir = path.join(ws.root, 'runs', 't', 'ingest');
  const before = [readFileSync(path.join(dir, 'manifest.json')), readFileSync(path.join(dir, 'corpus.duckdb'))];
  writeFileSync(path.join(ws.root, 'c.conll'), sentencesConll(3).subarray(0, 50));
  await assert.rejects(ws.run(), /the file is cut off: it ends at byte 50/);
  assert.deepEqual(
    [readFileSync(path.join(dir, 'manifest.json')), readFileSync(path.join(dir, 'corpus.duckdb'))],
    before,
  );
});
