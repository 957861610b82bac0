#!/usr/bin/env node
// npm run bench:ingest | bench:featurize — one stage on the full bundled corpus (baseline.yaml, --force):
// wall time and peak memory (RSS of the whole process, from /usr/bin/time -v when present).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const stage = process.argv[2];
if (!['ingest', 'featurize'].includes(stage)) {
  console.error('usage: stage-bench.mjs ingest|featurize');
  process.exit(1);
}
const cli = path.join(root, 'packages/cli/bin/nerflow.js');
if (stage === 'featurize') spawnSync(process.execPath, [cli, 'ingest', '--config', 'baseline.yaml', '--quiet'], { stdio: 'inherit', cwd: root });
const argv = [cli, stage, '--config', 'baseline.yaml', '--force', '--quiet'];
const useTime = existsSync('/usr/bin/time');
const t0 = performance.now();
const r = useTime
  ? spawnSync('/usr/bin/time', ['-v', process.execPath, ...argv], { cwd: root, encoding: 'utf8' })
  : spawnSync(process.execPath, argv, { cwd: root, encoding: 'utf8' });
const wall = (performance.now() - t0) / 1000;
if (r.status !== 0) {
  process.stderr.write(r.stderr);
  process.exit(1);
}
const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '');
console.log(`${stage}: ${wall.toFixed(2)} s wall${rss ? `, peak RSS ${(Number(rss[1]) / 1024).toFixed(0)} MiB` : ''} (full corpus, baseline.yaml, --force)`);
