import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The benchmark's PyTorch CRF (torch_tagger.py) must be a real CRF for the speed ratio to be honest.
const here = path.dirname(fileURLToPath(import.meta.url));
const py = '/usr/bin/python3';
const hasTorch = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

test(
  'the PyTorch reference CRF of the benchmark equals brute-force enumeration (NLL and Viterbi, IOB2 constraint)',
  { skip: hasTorch ? false : `${py} cannot import torch (Debian's python3-torch; npm run bench:train installs it)` },
  () => {
    const r = spawnSync(py, [path.join(here, 'torch_crf_check.py')], {
      encoding: 'utf8',
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(out.ok, true);
    assert.equal(out.checks, 10);
  },
);
