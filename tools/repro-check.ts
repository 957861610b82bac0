// The reproducibility check: run the pipeline twice from clean runs/ folders and compare manifests'
// fingerprints, every output's hash (Arrow files, model weights, reports) and every metric.
// Usage: node --import tsx tools/repro-check.ts [--config smoke.yaml]   (exit 1 and a diff on any difference)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configName } from '@nerflow/core';
import { compareRunDirs } from './repro/compare.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--config');
const config = i > 0 ? process.argv[i + 1] : 'smoke.yaml';
const name = configName(config);
const work = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-'));
const dirs = ['a', 'b'].map((x) => path.join(work, x));
for (const dir of dirs) {
  console.log(`repro-check: pipeline --config ${config} into ${dir}`);
  const r = spawnSync(process.execPath, [path.join(root, 'packages/cli/bin/nerflow.js'), 'pipeline', '--config', config, '--quiet'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, NERFLOW_RUNS_DIR: dir, MLFLOW_TRACKING_URI: '' },
  });
  if (r.status !== 0) {
    console.error(`repro-check: the pipeline failed (exit ${r.status})`);
    process.exit(1);
  }
}
const diffs = compareRunDirs(path.join(dirs[0], name), path.join(dirs[1], name));
if (diffs.length) {
  console.error(`repro-check: FAILED — ${diffs.length} difference(s) between two runs of ${config}:`);
  for (const d of diffs) console.error(`  ${d}`);
  process.exit(1);
}
console.log(`repro-check: OK — two runs of ${config} are identical (fingerprints, output hashes, metrics).`);
rmSync(work, { recursive: true, force: true });
