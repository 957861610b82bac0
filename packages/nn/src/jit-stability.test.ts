// The batch's JavaScript (FusedBiLstm's pass, the dropout masks' draws) is compiled once by V8's optimizing compiler
// and then stays compiled. Each bail-out ("deoptimization") means a recompile: ~0.1-0.6 s of CPU on a background
// thread for pass(), which on 2 cores competes with the two kernel threads (issue 15: 3-4 compiles of pass() in the
// first ~300 batches of bench:train, and the masks' loop bailing out on every call). Checked with V8's own trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const script = fileURLToPath(new URL('./test-helpers/train-loop.ts', import.meta.url));

test('training batches of changing shapes: pass() is optimized once and never deoptimized; the mask draws do not bail out per call', () => {
  const r = spawnSync(process.execPath, ['--trace-opt', '--trace-deopt', '--import', 'tsx', script, '1500'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /trained 1500 batches/);
  const lines = r.stdout.split('\n');
  const optimized = lines.filter((l) => /completed (optimizing|compiling) .*<JSFunction pass /.test(l));
  const deopts = (name: string) =>
    lines.filter((l) => l.includes('deoptimizing') && l.includes(`<JSFunction ${name} `));
  // the check means something only if V8 did optimize pass() in this run
  assert.ok(optimized.length >= 1, 'pass() was never optimized: train more batches in the test');
  assert.deepEqual(deopts('pass'), [], 'pass() was deoptimized (and so compiled again)');
  for (const name of ['maskInto', 'maskDraws'])
    assert.ok(
      deopts(name).length <= 1,
      `${name} deoptimized ${deopts(name).length} times:\n${deopts(name).join('\n')}`,
    );
});
