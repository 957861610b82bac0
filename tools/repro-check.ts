// The reproducibility check: run the pipeline twice from clean runs/ folders and compare manifests'
// fingerprints, every output's hash (Arrow files, model weights, reports) and every metric. The first run
// plans for 1 core and the second for 2 (NERFLOW_CPUS, with train.threads auto): the fused kernel on one
// thread and on two must give the same bits.
// Usage: node --import tsx tools/repro-check.ts [--config smoke.yaml]   (exit 1 and a diff on any difference)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
for (const [n, dir] of dirs.entries()) {
  const cpus = String(n + 1);
  console.log(`repro-check: pipeline --config ${config} into ${dir} (NERFLOW_CPUS=${cpus}: ${cpus} kernel thread(s))`);
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'packages/cli/bin/nerflow.js'), 'pipeline', '--config', config, '--quiet'],
    {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, NERFLOW_RUNS_DIR: dir, MLFLOW_TRACKING_URI: '', NERFLOW_CPUS: cpus },
    },
  );
  if (r.status !== 0) {
    console.error(`repro-check: the pipeline failed (exit ${r.status})`);
    process.exit(1);
  }
}
// the two runs must really have trained on 1 and on 2 threads (fused trials record it in run.json)
const threadsOf = (dir: string) => {
  const train = path.join(dir, name, 'train');
  return readdirSync(train)
    .filter((d) => existsSync(path.join(train, d, 'run.json')))
    .map((d) => JSON.parse(readFileSync(path.join(train, d, 'run.json'), 'utf8')).threads as number | undefined);
};
const [ta, tb] = dirs.map(threadsOf);
console.log(`repro-check: kernel threads per trial: ${ta.join(', ')} vs ${tb.join(', ')}`);
if (ta.some((t) => t !== undefined && t !== 1) || tb.some((t) => t !== undefined && t !== 2)) {
  console.error('repro-check: FAILED — the runs did not use 1 and 2 kernel threads as planned');
  process.exit(1);
}
const diffs = compareRunDirs(path.join(dirs[0], name), path.join(dirs[1], name));
if (diffs.length) {
  console.error(`repro-check: FAILED — ${diffs.length} difference(s) between two runs of ${config}:`);
  for (const d of diffs) console.error(`  ${d}`);
  process.exit(1);
}
console.log(`repro-check: OK — two runs of ${config} are identical (fingerprints, output hashes, metrics).`);
rmSync(work, { recursive: true, force: true });
