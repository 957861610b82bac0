import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Tokens and tags of one corpus sentence. */
export interface CorpusSentence {
  words: string[];
  tags: string[];
}

let cached: CorpusSentence[] | null = null;

/** The bundled corpus's sentences (data/ner_dataset.csv.gz: latin-1, "Sentence: N" starts one), for tests. */
export function corpusSentences(): CorpusSentence[] {
  if (cached) return cached;
  const text = gunzipSync(readFileSync(new URL('../../../../data/ner_dataset.csv.gz', import.meta.url))).toString(
    'latin1',
  );
  const out: CorpusSentence[] = [];
  for (const line of text.split(/\r?\n/).slice(1)) {
    const m = /^([^,]*),("(?:[^"]|"")*"|[^,]*),(?:"(?:[^"]|"")*"|[^,]*),(.*)$/.exec(line);
    if (!m) continue;
    const word = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/""/g, '"') : m[2];
    if (m[1]) out.push({ words: [], tags: [] });
    out[out.length - 1]?.words.push(word);
    out[out.length - 1]?.tags.push(m[3].trim());
  }
  return (cached = out);
}
