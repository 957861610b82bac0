// Seconds per epoch of every row of an ablation sweep (configs/ablation.yaml: softmax, +CRF, +chars, +vectors,
// all), side by side in ONE process: each row's model (its train section after the row's sweep.points values,
// the first seed) trains the same sample of the real train split's bucketed batches, interleaved (batch i on
// every model, then batch i + 1), so a changing load hits them alike. Run it on an idle machine:
//   npm run bench:ablation -- [--config ablation.yaml] [--batches 150] [--threads 1]
// --threads: kernel threads per model (the ablation ran its trials on 1 each, two at a time). Pre-trained vectors
// change a model's starting weights, not its compute: a vector row costs what the same row without them costs
// (it is timed anyway). s/epoch counts the training batches of an epoch (extrapolated from real tokens), not the
// validation pass. Prints a Markdown table, the CPU model and the load average at the start and the end.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { expandTrials, loadConfig, repoRoot } from '@nerflow/core';
import { createTagger, initBackend, makeBatches, readSplit, resolveKernel } from '@nerflow/nn';
import { taggerSpec } from '@nerflow/train';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const root = repoRoot();
const config = loadConfig(opt('config', 'ablation.yaml'), { root });
const timed = Number(opt('batches', '150'));
const warm = 5;
const threads = Number(opt('threads', '1')) as 1 | 2;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
const startLoad = load();

// one trial per row: the trials of the first value of every grid parameter (seeds change nothing of the cost)
const trials = expandTrials(config);
const grid = Object.keys(config.sweep?.params ?? {});
const firstOfGrid = (t: (typeof trials)[number]) =>
  grid.every((k) => t.overrides[k] === (config.sweep!.params[k] as unknown[])[0]);
const rows = trials.filter(firstOfGrid);
if (!rows.length) throw new Error(`${config.file}: no trials`);

// the real train split as nerflow featurizes it (with its chars column)
const featDir = path.join(root, 'runs', 'baseline', 'featurize');
if (!existsSync(path.join(featDir, 'train.arrow')) || !existsSync(path.join(featDir, 'chars.json'))) {
  console.log('ablation-speed: ingesting and featurizing the real corpus (baseline.yaml) first');
  for (const stage of ['ingest', 'featurize']) {
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'packages/cli/bin/nerflow.js'), stage, '--config', 'baseline.yaml', '--quiet'],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) throw new Error(`nerflow ${stage} failed`);
  }
}
await initBackend('auto');
const split = readSplit(path.join(featDir, 'train.arrow'));
const tags: string[] = JSON.parse(split.meta.tags);
const data = {
  vocabSize: Number(split.meta.vocab_size),
  tags,
  charVocabSize: split.meta.char_vocab_size ? Number(split.meta.char_vocab_size) : null,
};
const batchSize = rows[0].train.batch_size;
const all = makeBatches(split, { batchSize, seed: 42, epoch: 1, shuffle: true });
const epochTokens = all.reduce((s, b) => s + b.lengths.reduce((a, c) => a + c, 0), 0);
const stride = Math.max(1, Math.floor(all.length / (timed + warm)));
const sample = all.filter((_, i) => i % stride === 0).slice(0, timed + warm);
const kernel = resolveKernel('auto');
const models = rows.map((t) => ({
  t,
  tagger: createTagger(taggerSpec(t, data), { threads, kernel }),
  ms: 0,
  cpuMs: 0,
}));
for (const b of sample.slice(0, warm)) for (const m of models) m.tagger.trainBatch(b);
let real = 0;
for (const b of sample.slice(warm)) {
  real += b.lengths.reduce((a, c) => a + c, 0);
  for (const m of models) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    m.tagger.trainBatch(b);
    m.ms += performance.now() - t0;
    const c = process.cpuUsage(c0);
    m.cpuMs += (c.user + c.system) / 1000;
  }
}
const label = (t: (typeof rows)[number]) =>
  Object.entries(t.overrides)
    .filter(([k]) => !grid.includes(k))
    .map(([k, v]) => `${k.replace(/^train\./, '')}=${v}`)
    .join(' ');
const sPerEpoch = (m: (typeof models)[number]) => epochTokens / (real / (m.ms / 1000));
const base = sPerEpoch(models[0]);
console.log(
  `CPU: ${cpus()[0]?.model.trim() ?? 'unknown'} (${availableParallelism()} cores); Node ${process.version}; ` +
    `kernel ${kernel}, ${threads} thread(s) per model`,
);
console.log(`load average at the start ${startLoad}, at the end ${load()}`);
if (loadavg()[0] > 1.5)
  console.log('(the load average is above 1.5: other work shared the CPUs, so these seconds are inflated)');
console.log(
  `${path.relative(root, config.file)}: ${rows.length} rows; ${timed} timed batches of the real train split ` +
    `(batch ${batchSize}, bucketed, ${warm} warm-up) each, interleaved; ` +
    `epoch = ${all.length} batches, ${epochTokens.toLocaleString('en-US')} real tokens`,
);
console.log('| row (sweep.points) | ms/batch | CPU ms/batch | s/epoch (train batches) | × first row |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const m of models) {
  m.tagger.dispose();
  const cells = [m.ms / timed, m.cpuMs / timed, sPerEpoch(m)].map((x) => x.toFixed(1));
  console.log(`| ${label(m.t)} | ${cells.join(' | ')} | ${(sPerEpoch(m) / base).toFixed(2)} |`);
}
