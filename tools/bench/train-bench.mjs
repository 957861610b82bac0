#!/usr/bin/env node
// npm run bench:train [-- --quick] [-- --batches N] [-- --warmup N] [-- --profile]   speed, side by side
// npm run bench:train -- --epochs N                                      val entity F1 after each of N full epochs, side by side
// npm run bench:train -- --config crf.yaml                               that config's model (head, sizes) vs PyTorch's same
//                                                                        model, and vs nerflow's softmax baseline, in one run
// Trains the baseline shapes (embedding 50, BiLSTM 100, batch 32, Adam) on the real train split for a fixed
// number of bucketed batches with nerflow (2 kernel threads, then 1) AND with the same model in PyTorch (Debian's
// python3-torch, OpenBLAS) on the SAME batches, side by side, and extrapolates seconds per epoch from real tokens.
// PyTorch on 2 cores runs every thread configuration of torch-threads.mjs (OpenBLAS threads × torch threads) and
// is compared at its fastest; then on 1 thread. It prints the CPU model, Node/V8, and the LSTM's GFLOP/s next to the kernel's GEMM peak.
// The last line is exactly: nerflow_s_per_epoch=<x> pytorch_s_per_epoch=<y> ratio=<x/y>
// (with --config, followed by: softmax_s_per_epoch=<nerflow's baseline> vs_softmax=<x/baseline>)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bestOfTwoCore, ONE_CORE_CONFIG, runTorch, TWO_CORE_CONFIGS } from './torch-threads.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const nIdx = args.indexOf('--batches');
const timedBatches = nIdx >= 0 ? Number(args[nIdx + 1]) : quick ? 60 : 300;
// warm-up batches (each model, and PyTorch): with 10, V8's optimizing compile of the training step (fused.ts pass,
// ~0.1 s, and ~0.1 s of others, on a third thread beside the two kernel threads) still ran in the first timed turns,
// which are the 2-thread model's: --trace-opt showed 209 ms of compiles there at 10 and 83 at 50
const wIdx = args.indexOf('--warmup');
const warmup = wIdx >= 0 ? Number(args[wIdx + 1]) : quick ? 20 : 50;
const profile = args.includes('--profile');
const cfgIdx = args.indexOf('--config');
const configFile = cfgIdx >= 0 ? args[cfgIdx + 1] : null;

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status})`);
}

// 1. the real train split, featurized by nerflow itself (with its chars column, for configs with train.chars)
const featDir = path.join(root, 'runs', 'baseline', 'featurize');
if (!existsSync(path.join(featDir, 'train.arrow')) || !existsSync(path.join(featDir, 'chars.json'))) {
  console.log('bench: ingesting and featurizing the real corpus (baseline.yaml) first');
  for (const stage of ['ingest', 'featurize'])
    sh(process.execPath, [
      path.join(root, 'packages/cli/bin/nerflow.js'),
      stage,
      '--config',
      'baseline.yaml',
      '--quiet',
    ]);
}

// 2. PyTorch with OpenBLAS (pthread): install from Debian if missing
const py = '/usr/bin/python3';
const hasTorch = () => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const hasOpenblas = () => existsSync('/usr/lib/x86_64-linux-gnu/openblas-pthread');
if (!hasTorch() || !hasOpenblas()) {
  console.log('bench: installing python3-torch and libopenblas0-pthread from Debian (apt-get)');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  sh(sudo[0] ?? 'apt-get', [...(sudo.length ? ['apt-get'] : []), 'update', '-qq']);
  sh(
    sudo[0] ?? 'apt-get',
    [...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', 'python3-torch', 'libopenblas0-pthread'],
    { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
  );
}

const startLoad = loadavg()
  .map((l) => l.toFixed(2))
  .join(', ');
const work = mkdtempSync(path.join(tmpdir(), 'nerflow-bench-'));
// accuracy runs: PyTorch on the configuration that was fastest on 2 cores where it was measured (torch-threads.mjs)
const torchEnv = { ...process.env, ...TWO_CORE_CONFIGS[0].env };
const eIdx = args.indexOf('--epochs');
if (eIdx >= 0) {
  // accuracy: both train N full epochs on the same batches; nerflow first (it writes them)
  const epochs = Number(args[eIdx + 1]);
  const file = path.join(work, 'epochs.bin');
  const run = (cmd, argv, env) => {
    const r = spawnSync(cmd, argv, {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0) throw new Error(`${argv[argv.length - 3] ?? cmd} failed`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)).history;
  };
  const ours = run(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'tools/bench/accuracy.ts'),
      featDir,
      file,
      String(epochs),
      ...(configFile ? ['--config', configFile] : []),
    ],
    process.env,
  );
  const theirs = run(py, [path.join(root, 'tools/bench/pytorch_train.py'), file], torchEnv);
  console.log(
    `\nval entity F1 (conlleval) after each full epoch of the real train split, same batches (batch 32, bucketed)`,
  );
  console.log('| epoch | nerflow val F1 | nerflow s | PyTorch val F1 | PyTorch s |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const [i, o] of ours.entries())
    console.log(
      `| ${o.epoch} | ${o.val_entity_f1.toFixed(4)} | ${o.seconds.toFixed(1)} | ${theirs[i].val_entity_f1.toFixed(4)} | ${theirs[i].seconds.toFixed(1)} |`,
    );
  console.log(
    `nerflow_val_f1=${ours.at(-1).val_entity_f1.toFixed(4)} pytorch_val_f1=${theirs.at(-1).val_entity_f1.toFixed(4)} epochs=${epochs}`,
  );
  process.exit(0);
}

// 3. nerflow side (TypeScript through tsx) writes the batches for PyTorch and times itself; 4. PyTorch side
// on the same batches: on 2 cores in every thread configuration, the fastest compared (torch-threads.mjs), and
// on 1 thread (the single-core reference). With --config: that config's model, after the softmax baseline on the
// same batches (its PyTorch on 2 cores only).
const torchArgv = (batchesFile) => [path.join(root, 'tools/bench/pytorch_bench.py'), batchesFile];
const torch2 = (batchesFile) => bestOfTwoCore(py, torchArgv(batchesFile), (r) => r.tokens_per_s);
const torch1 = (batchesFile) => runTorch(py, torchArgv(batchesFile), ONE_CORE_CONFIG);
function measure(extra, tag, oneThread = true) {
  const batchesFile = path.join(work, `batches-${tag}.bin`);
  const node = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'tools/bench/nerflow-bench.ts'),
      featDir,
      batchesFile,
      String(timedBatches),
      String(warmup),
      ...(profile ? ['--profile'] : []),
      ...extra,
    ],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (node.status !== 0) throw new Error('nerflow side failed');
  const ours = JSON.parse(node.stdout.trim().split('\n').at(-1));
  const two = torch2(batchesFile);
  return { ours, theirs: two.best, theirs2all: two.all, theirs1: oneThread ? torch1(batchesFile) : null };
}
const base = configFile ? measure([], 'softmax', false) : null;
const { ours, theirs, theirs2all, theirs1 } = measure(
  configFile ? ['--config', configFile] : [],
  configFile ? 'config' : 'softmax',
);

if (ours.profile) {
  // per-call timers add a little; the table says where the time goes, the timed run above says how much
  const total = ours.ms_per_batch;
  console.log(
    `\nnerflow (${ours.kernel}, ${ours.threads} threads), where a batch's time goes (kernel steps and functions; a step ends when both threads are done; the rest is JS: inputs, masks, sorting the batch's words):`,
  );
  let inKernel = 0;
  // a step's "<step> ·main" / "<step> ·worker": each thread's own compute in it (the rest of the step it waited)
  const entries = Object.entries(ours.profile);
  for (const [name, p] of entries
    .filter(([n]) => !n.includes(' ·'))
    .sort((a, b) => b[1].ms_per_batch - a[1].ms_per_batch)) {
    inKernel += p.ms_per_batch;
    const side = (w) => ours.profile[`${name} ·${w}`]?.ms_per_batch;
    const sides =
      side('main') === undefined
        ? ''
        : `; compute: main ${side('main').toFixed(2)}, worker ${side('worker').toFixed(2)}`;
    console.log(
      `  ${name.padEnd(16)} ${p.ms_per_batch.toFixed(2).padStart(7)} ms/batch ${((100 * p.ms_per_batch) / total).toFixed(1).padStart(5)}%  (${p.calls_per_batch.toFixed(1)} calls${sides})`,
    );
  }
  console.log(
    `  ${'JS (the rest)'.padEnd(16)} ${(total - inKernel).toFixed(2).padStart(7)} ms/batch ${((100 * (total - inKernel)) / total).toFixed(1).padStart(5)}%`,
  );
}
const epochTokens = ours.epoch_tokens;
const nerflowEpoch = epochTokens / ours.tokens_per_s;
const torchEpoch = epochTokens / theirs.tokens_per_s;
const row = (name, r) =>
  `| ${name.padEnd(40)} | ${r.ms_per_batch.toFixed(1).padStart(8)} | ${r.cpu_ms_per_batch.toFixed(1).padStart(12)} | ${Math.round(r.tokens_per_s).toLocaleString('en-US').padStart(10)} | ${(epochTokens / r.tokens_per_s).toFixed(1).padStart(8)} |`;
console.log(
  `\nCPU: ${ours.cpu} (${ours.cores} cores); Node ${ours.node}, V8 ${ours.v8}; load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')} (at the start: ${startLoad})`,
);
if (loadavg()[0] > ours.cores)
  console.log(
    `(the load average exceeds the ${ours.cores} cores: other work shared the CPUs, so wall times are inflated, two-thread ones most)`,
  );
console.log(
  `${timedBatches} timed batches of the real train split (batch 32, bucketed; ${warmup} warm-up), epoch = ${ours.epoch_batches} batches, ${epochTokens.toLocaleString('en-US')} real tokens`,
);
// CPU ms/batch (all threads) helps read a run on a shared machine: wall time grows with others' load, CPU time much less
console.log('| implementation                           | ms/batch | CPU ms/batch | tokens/s   | s/epoch  |');
console.log('| --- | ---: | ---: | ---: | ---: |');
const model = ours.head === 'crf' ? 'BiLSTM-CRF' : 'BiLSTM';
if (base) {
  console.log(row(`nerflow (fused BiLSTM, ${base.ours.kernel}, ${base.ours.threads} threads)`, base.ours));
  console.log(row(`PyTorch ${base.theirs.torch}, BiLSTM, 2 cores, ${base.theirs.variant}`, base.theirs));
  console.log(`(PyTorch BiLSTM: the fastest on 2 cores was ${base.theirs.config})`);
}
for (const r of ours.runs)
  console.log(
    row(
      `nerflow (fused ${model}, ${r.kernel}, ${r.threads} thread${r.threads > 1 ? 's' : ''}${r.variant ? `, ${r.variant}` : ''})`,
      r,
    ),
  );
const two = ours.runs.find((r) => r.threads === 2 && !r.variant);
if (two && Number.isFinite(two.main_cpu_ms_per_batch))
  console.log(
    `(nerflow ${two.kernel}, 2 threads: the main thread was on a CPU ${two.main_cpu_ms_per_batch.toFixed(1)} ms/batch, a lower bound of its wall time on an idle machine)`,
  );
// PyTorch on 2 cores: the fastest configuration × variant is the row (and the ratio); every other one is listed
const others = (t) =>
  Object.entries(t.variants)
    .filter(([name]) => !((t === theirs || t === theirs1) && name === t.variant))
    .map(
      ([name, v]) =>
        `${name} ${v.ms_per_batch.toFixed(1)} ms/batch (CPU ${v.cpu_ms_per_batch.toFixed(1)}), ${(epochTokens / v.tokens_per_s).toFixed(1)} s/epoch`,
    )
    .join('; ');
console.log(row(`PyTorch ${theirs.torch} CPU, 2 cores, ${model}, ${theirs.variant}`, theirs));
console.log(`(PyTorch 2 cores: the fastest was ${theirs.config}, ${theirs.variant}; on the same batches:`);
for (const t of theirs2all) if (others(t)) console.log(`   ${t.config}: ${others(t)}`);
console.log(')');
if (theirs1) {
  console.log(row(`PyTorch ${theirs1.torch} CPU, 1 thr, ${model}, ${theirs1.variant}`, theirs1));
  console.log(`(PyTorch 1 thr ${others(theirs1)}; the faster variant is shown)`);
}
const peaks = Object.entries(ours.gemm_peak_gflops)
  .map(([k, g]) => `${k} ${g.toFixed(1)}`)
  .join(', ');
console.log(
  `\nLSTM matrix products per batch: ${ours.mflop_per_batch.forward.toFixed(0)} MFLOP forward, ${ours.mflop_per_batch.backward.toFixed(0)} MFLOP backward (both directions); kernel GEMM peak on 1 thread (GFLOP/s): ${peaks}`,
);
console.log(
  '(GFLOP/s from a second run of the same batches with every kernel call timed (the ms/batch rows above run untimed, as nerflow train does), from the steps lstmForward, which includes the embedding lookup, and lstmBackward, which includes the dense weight gradient, d h and Adam on the LSTM weights)',
);
for (const r of ours.runs) {
  const peak = ours.gemm_peak_gflops[r.kernel];
  const pct = (g) => `${((100 * g) / (r.threads * peak)).toFixed(0)}% of ${r.threads} × peak`;
  console.log(
    `  ${r.kernel}, ${r.threads} thread${r.threads > 1 ? 's' : ' '}${r.variant ? ` (${r.variant})` : ''}: lstmForward ${r.gflops.lstmForward.toFixed(1)} GFLOP/s (${pct(r.gflops.lstmForward)}), lstmBackward ${r.gflops.lstmBackward.toFixed(1)} GFLOP/s (${pct(r.gflops.lstmBackward)})`,
  );
}
console.log(
  `BLAS used by PyTorch: ${theirs.blas}; nerflow bench process peak RSS ${(ours.peak_rss / 2 ** 20).toFixed(0)} MiB (${ours.models} timed models at once, then ${ours.models} profiled ones; the train stage's own peak: npm run bench:train-memory)`,
);
const last = `nerflow_s_per_epoch=${nerflowEpoch.toFixed(1)} pytorch_s_per_epoch=${torchEpoch.toFixed(1)} ratio=${(nerflowEpoch / torchEpoch).toFixed(3)}`;
const softmaxEpoch = base ? epochTokens / base.ours.tokens_per_s : null;
console.log(
  base
    ? `${last} softmax_s_per_epoch=${softmaxEpoch.toFixed(1)} vs_softmax=${(nerflowEpoch / softmaxEpoch).toFixed(3)}`
    : last,
);
