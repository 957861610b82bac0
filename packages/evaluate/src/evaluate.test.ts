import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { METRIC_NAMES, repoRoot } from '@nerflow/core';
import { pngSize } from '@nerflow/viz';
import { formatTrialsTable } from './table.js';
import { writeEvaluation } from './write.js';

const tags = ['O', 'B-geo', 'I-geo', 'B-per', 'I-per', 'B-tim'];
function fixture() {
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const gold: Int32Array[] = [];
  const pred: Int32Array[] = [];
  const words: string[][] = [];
  for (let s = 0; s < 120; s++) {
    const n = 1 + Math.floor(rand() * 15);
    const g = Int32Array.from({ length: n }, () => (rand() < 0.6 ? 0 : Math.floor(rand() * tags.length)));
    gold.push(g);
    pred.push(g.map((t) => (rand() < 0.8 ? t : Math.floor(rand() * tags.length))));
    words.push(Array.from({ length: n }, (_, i) => (s === 3 && i === 0 ? '5\u00a0storm' : `w${s}_${i}`)));
  }
  return {
    gold,
    pred,
    words,
    tags,
    sentenceIds: gold.map((_, i) => i + 1),
    config: 'train:\n  epochs: 1\n',
    trial: 'main',
    split: 'test' as const,
    topConfusions: 10,
    history: [
      { epoch: 1, loss: 1, val_loss: 0.9, val_entity_f1: 0.5, val_token_accuracy: 0.8 },
      { epoch: 2, loss: 0.5, val_loss: 0.6, val_entity_f1: 0.7, val_token_accuracy: 0.9 },
    ],
  };
}

test('predictions.conll scored by an independent scorer (Python, conlleval rules) gives the same numbers', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-eval-'));
  const input = fixture();
  const { report, metrics } = await writeEvaluation(dir, input);
  const out = JSON.parse(
    execFileSync(
      'python3',
      [path.join(repoRoot(), 'tools/conlleval-check/score.py'), path.join(dir, 'predictions.conll')],
      { encoding: 'utf8' },
    ),
  );
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
  close(report.entity.micro.f1, out.entity.f1, 'entity f1');
  close(report.entity.micro.precision, out.entity.precision, 'entity precision');
  close(report.entity.micro.recall, out.entity.recall, 'entity recall');
  assert.equal(report.entity.gold_entities, out.entity.gold);
  for (const [type, s] of Object.entries(report.entity.per_type))
    close(s.f1, out.entity.per_type[type].f1, `f1 ${type}`);
  close(report.token.accuracy, out.token.accuracy, 'accuracy');
  for (const [tag, s] of Object.entries(report.token.per_tag))
    if (s.support) close(s.f1, out.token.f1[tag], `token f1 ${tag}`);
  assert.equal(metrics.test_entity_f1, report.entity.micro.f1);
  assert.ok('test_f1_geo' in metrics && 'test_token_macro_f1' in metrics);
  // per-type supports add up to the gold entity count
  assert.equal(
    Object.values(report.entity.per_type).reduce((s, t) => s + t.support, 0),
    report.entity.gold_entities,
  );
  // the no-break-space token stays one field
  assert.match(readFileSync(path.join(dir, 'predictions.conll'), 'utf8'), /^5_storm \S+ \S+$/m);
});

test('report files: the PNG is a real image, the SVG and HTML are self-contained', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-eval-'));
  const { report } = await writeEvaluation(dir, fixture());
  const size = pngSize(readFileSync(path.join(dir, 'confusion.png')));
  assert.ok(size && size.width > 300 && size.height > 300, JSON.stringify(size));
  const svg = readFileSync(path.join(dir, 'confusion.svg'), 'utf8');
  assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
  for (const t of tags) assert.ok(svg.includes(`>${t}</text>`), `label ${t}`);
  const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)=["']https?:/, 'no network assets');
  assert.match(html, /<svg/);
  assert.match(html, /Training curves/);
  // report.md shows the heatmap and the training curves, from files beside it
  const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
  const images = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
  assert.deepEqual(images, ['confusion.png', 'curves.svg']);
  for (const f of images) assert.ok(existsSync(path.join(dir, f)), `${f} is beside report.md`);
  const json = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
  for (const k of ['token', 'entity', 'confusion']) assert.ok(k in json);
  assert.deepEqual(Object.keys(json.token).slice(0, 4), ['per_tag', 'accuracy', 'macro_f1', 'weighted_f1']);
  assert.equal(json.entity.scheme, 'conlleval');
  assert.equal(report.top_confusions.length, 10);
  assert.ok(report.top_confusions[0].count >= report.top_confusions[9].count);
  assert.ok(report.top_confusions[0].examples.length > 0 && report.top_confusions[0].examples[0].includes('[['));
});

test('the trials table ranks by entity F1', () => {
  const t = formatTrialsTable([
    { trial: 'a', entity_f1: 0.7, token_macro_f1: 0.5, epochs: 3, train_seconds: 100, status: 'finished' },
    { trial: 'b', entity_f1: 0.8, token_macro_f1: 0.6, epochs: 3, train_seconds: 90, status: 'finished' },
    { trial: 'c', entity_f1: null, token_macro_f1: null, epochs: 1, train_seconds: 10, status: 'not evaluated' },
  ]).split('\n');
  assert.match(t[0], /^rank\s+trial\s+entity F1/);
  assert.match(t[2], /^1\s+b\s+0\.8000/);
  assert.match(t[4], /^3\s+c\s+—/);
});

test('evaluate.split reaches the report: metric names, report.md/html and the heatmap title name the scored split', async () => {
  const onTest = await writeEvaluation(mkdtempSync(path.join(tmpdir(), 'nerflow-eval-')), fixture());
  assert.ok('test_entity_f1' in onTest.metrics && 'test_f1_geo' in onTest.metrics);
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-eval-'));
  const { report, metrics } = await writeEvaluation(dir, { ...fixture(), split: 'val' });
  assert.equal(report.split, 'val');
  assert.ok(Object.keys(metrics).length > 5);
  for (const k of Object.keys(metrics)) {
    assert.match(k, /^eval_val_/, `${k}: names the split, never test_`);
    assert.ok(
      !(METRIC_NAMES as string[]).includes(k),
      `${k} would overwrite training's per-epoch curve in the same MLflow run`,
    );
  }
  assert.equal(metrics.eval_val_entity_f1, report.entity.micro.f1);
  assert.match(readFileSync(path.join(dir, 'confusion.svg'), 'utf8'), /Confusion matrix \(val, real tokens only\)/);
  assert.doesNotMatch(readFileSync(path.join(dir, 'confusion.svg'), 'utf8'), /\btest\b/);
  assert.match(readFileSync(path.join(dir, 'report.md'), 'utf8'), /\(val split, /);
  assert.match(readFileSync(path.join(dir, 'report.html'), 'utf8'), /val split, /);
});
