import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { repoRoot } from '@nerflow/core';
import { tagsOf, type TagScheme } from '@nerflow/metrics';
import { runNerflow } from './test-helpers/run-cli.js';

// Bring-your-own-corpus, end to end on the real CLI: corpora written by the test in each layout and scheme.

const nerflow = (root: string, ...args: string[]) => runNerflow(root, args);

type Span = { start: number; end: number; type: string };
type Sentence = { words: string[]; pos: string[]; spans: Span[] };

/** A learnable synthetic corpus: names, cities and companies in a few templates (seeded). */
function makeCorpus(n: number, seed: number): Sentence[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)];
  const PER = [['Anna'], ['Peter', 'Smith'], ['Maria', 'de', 'Souza'], ['Li', 'Wei'], ['Jon']];
  const LOC = [['Paris'], ['New', 'York'], ['São', 'Paulo'], ['Oslo'], ['Rio', 'de', 'Janeiro']];
  const ORG = [['Siemens'], ['Acme', 'Corp'], ['Red', 'Cross'], ['UN']];
  const out: Sentence[] = [];
  for (let k = 0; k < n; k++) {
    const words: string[] = [];
    const pos: string[] = [];
    const spans: Span[] = [];
    const add = (ws: string[], p: string, type?: string) => {
      if (type) spans.push({ start: words.length, end: words.length + ws.length - 1, type });
      for (const w of ws) {
        words.push(w);
        pos.push(p);
      }
    };
    const t = Math.floor(rand() * 4);
    const templates: [string[], string, string?][][] = [
      [
        [pick(PER), 'NNP', 'PER'],
        [['visited'], 'VBD'],
        [pick(LOC), 'NNP', 'LOC'],
        [['.'], '.'],
      ],
      [
        [pick(ORG), 'NNP', 'ORG'],
        [['hired'], 'VBD'],
        [pick(PER), 'NNP', 'PER'],
        [['in'], 'IN'],
        [pick(LOC), 'NNP', 'LOC'],
      ],
      [
        [['the'], 'DT'],
        [['talks'], 'NNS'],
        [['in'], 'IN'],
        [pick(LOC), 'NNP', 'LOC'],
        [['ended'], 'VBD'],
        [['.'], '.'],
      ],
      [
        [pick(PER), 'NNP', 'PER'],
        [pick(PER), 'NNP', 'PER'],
        [['and'], 'CC'],
        [pick(ORG), 'NNP', 'ORG'],
        [['met'], 'VBD'],
      ],
    ];
    for (const [ws, p, type] of templates[t]) add(ws, p, type);
    out.push({ words, pos, spans });
  }
  return out;
}

const SPLITS = { train: makeCorpus(240, 1), val: makeCorpus(40, 2), test: makeCorpus(57, 3) };

/** CoNLL lines: `word tag`, `word POS tag`, or with `chunk` the CoNLL-2003 `word POS chunk tag`. */
function conllText(sents: Sentence[], scheme: TagScheme, o: { pos: boolean; sep: string; chunk?: boolean }): string {
  const lines = ['-DOCSTART-' + (o.pos ? `${o.sep}-X-${o.chunk ? `${o.sep}-X-` : ''}${o.sep}O` : `${o.sep}O`), ''];
  for (const s of sents) {
    const tags = tagsOf(s.spans, s.words.length, scheme);
    s.words.forEach((w, i) =>
      lines.push(
        [w, ...(o.pos ? [s.pos[i]] : []), ...(o.chunk ? [s.pos[i] === 'NNP' ? 'I-NP' : 'O'] : []), tags[i]].join(o.sep),
      ),
    );
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

function csvText(sents: Sentence[], scheme: TagScheme): string {
  const lines = ['Sentence #,Word,POS,Tag'];
  sents.forEach((s, k) => {
    const tags = tagsOf(s.spans, s.words.length, scheme);
    s.words.forEach((w, i) => lines.push(`${i === 0 ? `Sentence: ${k + 1}` : ''},${w},${s.pos[i]},${tags[i]}`));
  });
  return lines.join('\r\n') + '\r\n';
}

const TINY =
  'train:\n  epochs: 4\n  lstm_units: 8\n  embedding_dim: 8\n  batch_size: 16\n  optimizer: { name: adam, learning_rate: 0.02 }\ntracking:\n  experiment: corpora\n';

/** Each layout of README "Bring your own corpus", one scheme each: the same annotation every time. */
const LAYOUTS: {
  name: string;
  scheme: TagScheme;
  files: (split: keyof typeof SPLITS) => [string, string | Buffer];
  data: string;
}[] = [
  {
    name: 'csv-iob2',
    scheme: 'iob2',
    files: (sp) => [`${sp}.csv`, Buffer.from(csvText(SPLITS[sp], 'iob2'), 'utf8')],
    data: '  encoding: utf-8\n',
  },
  {
    name: 'conll-pos-iob1',
    scheme: 'iob1',
    files: (sp) => [`eng.${sp}`, conllText(SPLITS[sp], 'iob1', { pos: true, chunk: true, sep: ' ' })],
    data: '  conll: { word: 1, pos: 2, tag: 4 }\n',
  },
  {
    name: 'tsv-bioes',
    scheme: 'bioes',
    files: (sp) => [`${sp}.tsv`, conllText(SPLITS[sp], 'bioes', { pos: false, sep: '\t' })],
    data: '',
  },
  {
    name: 'conll-gz-bilou',
    scheme: 'bilou',
    files: (sp) => [`${sp}.conll.gz`, gzipSync(conllText(SPLITS[sp], 'bilou', { pos: true, sep: '\t' }))],
    data: '',
  },
];

function setup(layout: (typeof LAYOUTS)[number], extra = ''): { root: string; name: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-corpora-'));
  mkdirSync(path.join(root, 'configs'));
  mkdirSync(path.join(root, 'corpus'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  const paths = Object.fromEntries(
    (['train', 'val', 'test'] as const).map((sp) => {
      const [file, body] = layout.files(sp);
      writeFileSync(path.join(root, 'corpus', file), body);
      return [sp, `../corpus/${file}`];
    }),
  );
  writeFileSync(
    path.join(root, 'configs', `${layout.name}.yaml`),
    `data:\n  splits: { train: ${paths.train}, val: ${paths.val}, test: ${paths.test} }\n  scheme: ${layout.scheme}\n${layout.data}${TINY}${extra}`,
  );
  return { root, name: layout.name };
}

const report = (root: string, name: string) =>
  JSON.parse(readFileSync(path.join(root, 'runs', name, 'evaluate', 'main', 'report.json'), 'utf8'));
const predictions = (root: string, name: string) =>
  readFileSync(path.join(root, 'runs', name, 'evaluate', 'main', 'predictions.conll'), 'utf8');

test('the same annotation as CSV/IOB2, CoNLL/IOB1, TSV/BIOES and CoNLL.gz/BILOU (own train/val/test files): identical entity scores on the CLI', () => {
  const results = LAYOUTS.map((layout) => {
    const { root, name } = setup(layout);
    const r = nerflow(root, 'pipeline', '--config', name);
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    const rep = report(root, name);
    // the shared-task layout: trained and scored on its own test file, counts equal the test file's sentences
    assert.equal(rep.sentences, SPLITS.test.length, name);
    assert.equal(rep.split, 'test');
    const feat = JSON.parse(readFileSync(path.join(root, 'runs', name, 'featurize', 'manifest.json'), 'utf8'));
    assert.deepEqual(
      ['train', 'val', 'test'].map((s) => feat.counts.splits[s].sentences),
      [240, 40, 57],
      name,
    );
    const ing = JSON.parse(readFileSync(path.join(root, 'runs', name, 'ingest', 'manifest.json'), 'utf8'));
    assert.deepEqual(
      ['train', 'val', 'test'].map((s) => ing.counts.splits[s].sentences),
      [240, 40, 57],
      name,
    );
    // predictions.conll speaks the corpus's own scheme: its gold column is the test file's tags
    const gold = predictions(root, name)
      .trim()
      .split('\n\n')
      .map((block) => block.split('\n').map((l) => l.split(' ')[1]));
    assert.deepEqual(
      gold,
      SPLITS.test.map((s) => tagsOf(s.spans, s.words.length, layout.scheme)),
      `${name}: gold tags written back in ${layout.scheme}`,
    );
    return { name, entity: rep.entity, token: rep.token.accuracy };
  });
  for (const r of results)
    assert.deepEqual(r, { ...results[0], name: r.name }, `${r.name} scores like ${results[0].name}`);
  assert.ok(results[0].entity.micro.f1 > 0.3, `the model learned something: entity F1 ${results[0].entity.micro.f1}`);
  assert.equal(
    results[0].entity.gold_entities,
    SPLITS.test.reduce((a, s) => a + s.spans.length, 0),
  );
});

test("featurize.tag_scheme: bioes trains on BIOES and still writes predictions in the corpus's IOB1", () => {
  const layout = LAYOUTS[1];
  const { root, name } = setup(layout, 'featurize:\n  tag_scheme: bioes\n');
  const r = nerflow(root, 'pipeline', '--config', name);
  assert.equal(r.code, 0, r.err);
  const tags = JSON.parse(readFileSync(path.join(root, 'runs', name, 'featurize', 'tags.json'), 'utf8'));
  assert.equal(tags.scheme, 'bioes');
  assert.ok(tags.tags.includes('S-LOC') && tags.tags.includes('E-PER'));
  const lines = predictions(root, name).split('\n').filter(Boolean);
  assert.ok(
    lines.every((l) => /^\S+ (O|[BI]-\w+) (O|[BI]-\w+)$/.test(l)),
    'IOB tags only',
  );
  const rep = report(root, name);
  assert.equal(rep.sentences, SPLITS.test.length);
  assert.ok(rep.entity.micro.f1 > 0.3, `entity F1 ${rep.entity.micro.f1}`);
  // an independent scorer (Python, conlleval's IOB rules) reading predictions.conll, converted back to IOB1,
  // finds the entities nerflow scored on the BIOES tags: the conversion keeps every span
  const file = path.join(root, 'runs', name, 'evaluate', 'main', 'predictions.conll');
  const py = JSON.parse(
    execFileSync('python3', [path.join(repoRoot(), 'tools/conlleval-check/score.py'), file], { encoding: 'utf8' }),
  );
  assert.equal(py.entity.gold, rep.entity.gold_entities);
  assert.ok(
    Math.abs(py.entity.f1 - rep.entity.micro.f1) < 1e-9,
    `python ${py.entity.f1} vs nerflow ${rep.entity.micro.f1}`,
  );
  assert.ok(Math.abs(py.entity.precision - rep.entity.micro.precision) < 1e-9);
});

test('one CoNLL file (no split of its own) keeps the seeded split of featurize.split', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-corpora-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'nx.json'), '{}');
  writeFileSync(
    path.join(root, 'all.tsv'),
    conllText([...SPLITS.train, ...SPLITS.val, ...SPLITS.test], 'iob2', { pos: false, sep: '\t' }),
  );
  writeFileSync(path.join(root, 'configs', 'one.yaml'), `data:\n  path: ../all.tsv\n${TINY}`);
  const r = nerflow(root, 'pipeline', '--config', 'one');
  assert.equal(r.code, 0, r.err);
  const feat = JSON.parse(readFileSync(path.join(root, 'runs', 'one', 'featurize', 'manifest.json'), 'utf8'));
  assert.equal(feat.counts.split_from, 'seeded');
  assert.deepEqual(
    ['train', 'val', 'test'].map((s) => feat.counts.splits[s].sentences),
    [236, 34, 67],
  ); // 337 sentences at 70/10/20
  assert.equal(report(root, 'one').sentences, 67);
});

test('bad corpora on the CLI: exit 1, the message, no stack, the earlier outputs untouched', () => {
  const layout = LAYOUTS[1];
  const { root, name } = setup(layout);
  assert.equal(nerflow(root, 'ingest', '--config', name).code, 0);
  const manifest = path.join(root, 'runs', name, 'ingest', 'manifest.json');
  const before = readFileSync(manifest);
  // an IOB1 file declared IOB2
  writeFileSync(
    path.join(root, 'configs', `${name}.yaml`),
    readFileSync(path.join(root, 'configs', `${name}.yaml`), 'utf8').replace('scheme: iob1', 'scheme: iob2'),
  );
  const iob1 = nerflow(root, 'ingest', '--config', name);
  assert.equal(iob1.code, 1);
  assert.match(
    iob1.err,
    /break IOB2 \(an I-X must follow B-X or I-X\); first: .*eng\.train:line 3 .* The file looks like IOB1 .*: declare it with data\.scheme: iob1\./,
  );
  assert.doesNotMatch(iob1.err, /\n\s+at /);
  // a test file cut off mid-line
  writeFileSync(
    path.join(root, 'configs', `${name}.yaml`),
    readFileSync(path.join(root, 'configs', `${name}.yaml`), 'utf8').replace('scheme: iob2', 'scheme: iob1'),
  );
  const testFile = path.join(root, 'corpus', 'eng.test');
  writeFileSync(testFile, readFileSync(testFile).subarray(0, 512));
  const cut = nerflow(root, 'ingest', '--config', name);
  assert.equal(cut.code, 1);
  assert.match(
    cut.err,
    /eng\.test: the file is cut off: it ends at byte 512 in the middle of line \d+ \(which starts at byte \d+\), without the line terminator every other line has\. The last complete sentence is sentence \d+ at line \d+ \("/,
  );
  assert.deepEqual(readFileSync(manifest), before);
});
