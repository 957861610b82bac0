import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function reproCheck(config: string, env: Record<string, string> = {}) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(repo, 'tools/repro-check.ts'), '--config', config],
    {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, MLFLOW_TRACKING_URI: '', CI: 'true', ...env },
    },
  );
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test('repro-check on the real pipeline: passes for two clean runs, fails with a diff when a nondeterminism is planted', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nerflow-repro-test-'));
  const config = path.join(dir, 'rtiny.yaml');
  writeFileSync(
    config,
    `data:\n  path: ${path.join(repo, 'data/ner_dataset.csv.gz')}\n  limit_sentences: 300\ntrain:\n  epochs: 1\n  lstm_units: 8\n  embedding_dim: 8\ntracking:\n  experiment: repro-test\n`,
  );
  const clean = reproCheck(config);
  assert.equal(clean.code, 0, clean.out);
  assert.match(clean.out, /repro-check: OK — two runs of .*rtiny\.yaml are identical/);

  // a clock-seeded RNG in both runs (see plant-nondeterminism.mjs)
  const plant = pathToFileURL(path.join(repo, 'tools/repro/plant-nondeterminism.mjs')).href;
  const planted = reproCheck(config, { NODE_OPTIONS: `--import ${plant}` });
  assert.equal(planted.code, 1, planted.out);
  assert.match(planted.out, /repro-check: FAILED — \d+ difference\(s\)/);
  assert.match(planted.out, /train\/main\/model\/weights\.bin: sha256 \w+ ≠ \w+/, 'the weights differ');
  assert.match(planted.out, /train\/main\/history\.json: \d+\.loss: /, 'and so do the metrics');
  assert.doesNotMatch(planted.out, /ingest\/corpus\.duckdb: sha256/, 'ingest uses no randomness: it still reproduces');
});
