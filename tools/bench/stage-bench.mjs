#!/usr/bin/env node
// npm run bench:ingest | bench:featurize | bench:train-memory — one stage on the full bundled corpus (baseline.yaml,
// --force; train: one epoch): wall time and peak memory (RSS of the whole process, from /usr/bin/time -v when
// present); train's peak next to its target (issue 15: ≤ 400 MiB; README "Memory").
// bench:ingest also ingests a 300,000-line CoNLL file (the bundled corpus's first sentences written as
// `word POS tag` lines, -DOCSTART- every 50 sentences) right after the CSV, side by side.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const stage = process.argv[2];
if (!['ingest', 'featurize', 'train'].includes(stage)) {
  console.error('usage: stage-bench.mjs ingest|featurize|train');
  process.exit(1);
}
const cli = path.join(root, 'packages/cli/bin/nerflow.js');
const useTime = existsSync('/usr/bin/time');

/** Run one nerflow command, return wall seconds and peak RSS (MiB, or null). */
function timed(args, cwd, env = {}) {
  const argv = [cli, ...args, '--force', '--quiet'];
  const t0 = performance.now();
  const r = useTime
    ? spawnSync('/usr/bin/time', ['-v', process.execPath, ...argv], {
        cwd,
        encoding: 'utf8',
        env: { ...process.env, ...env },
      })
    : spawnSync(process.execPath, argv, { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(1);
  }
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '');
  return { wall, rss: rss ? Number(rss[1]) / 1024 : null };
}
const fmt = ({ wall, rss }) => `${wall.toFixed(2)} s wall${rss ? `, peak RSS ${rss.toFixed(0)} MiB` : ''}`;

if (stage === 'featurize' || stage === 'train')
  spawnSync(process.execPath, [cli, 'ingest', '--config', 'baseline.yaml', '--quiet'], { stdio: 'inherit', cwd: root });
if (stage === 'train')
  spawnSync(process.execPath, [cli, 'featurize', '--config', 'baseline.yaml', '--quiet'], {
    stdio: 'inherit',
    cwd: root,
  });
if (stage === 'train') {
  // one epoch of the baseline: start-up, the splits, training, validation, the checkpoint, MLflow logging
  const TARGET_MIB = 400;
  const t = timed([stage, '--config', 'baseline.yaml', '--set', 'train.epochs=1'], root);
  const verdict = t.rss === null ? 'not measured: no /usr/bin/time' : t.rss <= TARGET_MIB ? 'met' : 'NOT met';
  console.log(`train: ${fmt(t)} (baseline.yaml, 1 epoch, --force); peak RSS target ≤ ${TARGET_MIB} MiB: ${verdict}`);
} else {
  const csv = timed([stage, '--config', 'baseline.yaml'], root);
  console.log(`${stage}: ${fmt(csv)} (full corpus, baseline.yaml, --force)`);
}

if (stage === 'ingest') {
  // The CoNLL file, from the CSV ingest's own table (so it is the same words and tags as the bundled corpus).
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(path.join(root, 'runs', 'baseline', 'ingest', 'corpus.duckdb'), {
    access_mode: 'READ_ONLY',
  });
  const conn = await db.connect();
  const [sid, word, pos, tag] = (
    await conn.runAndReadAll('SELECT sentence_id, word, pos, tag FROM tokens ORDER BY rowid LIMIT 400000')
  ).getColumns();
  conn.closeSync();
  db.closeSync();
  const lines = [];
  let sentences = 0;
  for (let i = 0; lines.length < 300_000 && i < sid.length; i++) {
    if (i === 0 || sid[i] !== sid[i - 1]) {
      if (i > 0) lines.push('');
      if (sentences % 50 === 0) lines.push('-DOCSTART- -X- O', '');
      sentences++;
    }
    lines.push(`${word[i].replace(/[ \t]/g, '_')} ${pos[i]} ${tag[i]}`);
  }
  // end on a sentence boundary
  while (lines.length && lines[lines.length - 1] !== '') lines.pop();
  const ws = mkdtempSync(path.join(tmpdir(), 'nerflow-bench-conll-'));
  mkdirSync(path.join(ws, 'configs'));
  writeFileSync(path.join(ws, 'nx.json'), '{}');
  writeFileSync(path.join(ws, 'corpus.conll'), lines.join('\n') + '\n');
  writeFileSync(
    path.join(ws, 'configs', 'conll.yaml'),
    'data:\n  path: ../corpus.conll\n  conll: { word: 1, pos: 2, tag: 3 }\n',
  );
  const conll = timed(['ingest', '--config', 'conll'], ws, { NERFLOW_ROOT: ws });
  console.log(
    `ingest (CoNLL): ${fmt(conll)} (${lines.length.toLocaleString('en-US')} lines, ${(sentences - 1).toLocaleString('en-US')} sentences, --force)`,
  );
}
