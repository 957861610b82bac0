import { DuckDBInstance, type DuckDBConnection, type DuckDBResultReader } from '@duckdb/node-api';
import type { FeaturizeConfig } from '@nerflow/core';
import { SPLITS, type SplitName } from './split.js';

/** A result's columns as arrays (empty arrays when there are no rows). */
function columns<T extends unknown[][]>(r: DuckDBResultReader): T {
  const cols = r.getColumns();
  return (cols.length ? cols : Array.from({ length: r.columnCount }, () => [])) as T;
}

/**
 * ingest's corpus.duckdb (table tokens(sentence_id, position, word, pos, tag)), attached read-only to an
 * in-memory database where featurize keeps its temp tables: the upstream file is never written.
 */
export async function openCorpus(file: string): Promise<{ conn: DuckDBConnection; close: () => void }> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`ATTACH '${file.replace(/'/g, "''")}' AS corpus (READ_ONLY)`);
  await conn.run('CREATE VIEW tokens AS SELECT * FROM corpus.tokens');
  return { conn, close: () => { conn.closeSync(); db.closeSync(); } };
}

export async function sentenceLengths(conn: DuckDBConnection): Promise<{ ids: Int32Array; lengths: Int32Array }> {
  const r = await conn.runAndReadAll('SELECT sentence_id, count(*)::INTEGER FROM tokens GROUP BY 1 ORDER BY 1');
  const [ids, lens] = columns<number[][]>(r);
  return { ids: Int32Array.from(ids), lengths: Int32Array.from(lens) };
}

/** Register the split as a temp table so the heavy joins run in SQL. */
export async function registerSplit(conn: DuckDBConnection, split: Record<SplitName, Int32Array>): Promise<void> {
  await conn.run('CREATE OR REPLACE TEMP TABLE split_of(sentence_id INTEGER, split UTINYINT)');
  const app = await conn.createAppender('split_of');
  SPLITS.forEach((name, code) => {
    for (const id of split[name]) {
      app.appendInteger(id);
      app.appendUTinyInt(code);
      app.endRow();
    }
  });
  app.closeSync();
}

const wordExpr = (cfg: FeaturizeConfig) => (cfg.lowercase ? 'lower(word)' : 'word');

/** Vocabulary from the TRAIN split only: [<PAD>, <UNK>, words by count desc then bytes], min_count, cap. */
export async function buildVocab(conn: DuckDBConnection, cfg: FeaturizeConfig): Promise<{ words: string[]; counts: number[]; trainTypes: number }> {
  const r = await conn.runAndReadAll(`
    SELECT w, count(*)::INTEGER AS c FROM (
      SELECT ${wordExpr(cfg)} AS w FROM tokens JOIN split_of USING (sentence_id) WHERE split = 0
    ) GROUP BY w ORDER BY c DESC, w COLLATE "binary"`);
  const [ws, cs] = columns<[string[], number[]]>(r);
  const keep: number[] = [];
  for (let i = 0; i < ws.length; i++) if (cs[i] >= cfg.min_count) keep.push(i);
  const cap = cfg.max_vocab === null ? keep.length : Math.max(0, cfg.max_vocab - 2);
  const chosen = keep.slice(0, cap);
  return { words: ['<PAD>', '<UNK>', ...chosen.map((i) => ws[i])], counts: [0, 0, ...chosen.map((i) => cs[i])], trainTypes: ws.length };
}

/** Every token as ids, in (sentence_id, position) order: vocab id (1 = unknown), tag id, split code. */
export async function tokenIds(conn: DuckDBConnection, cfg: FeaturizeConfig, words: string[], tags: string[]) {
  await conn.run('CREATE OR REPLACE TEMP TABLE vocab(w VARCHAR, id INTEGER)');
  const va = await conn.createAppender('vocab');
  for (let i = 2; i < words.length; i++) {
    va.appendVarchar(words[i]);
    va.appendInteger(i);
    va.endRow();
  }
  va.closeSync();
  await conn.run('CREATE OR REPLACE TEMP TABLE tagidx(tag VARCHAR, tid INTEGER)');
  const ta = await conn.createAppender('tagidx');
  tags.forEach((t, i) => {
    ta.appendVarchar(t);
    ta.appendInteger(i);
    ta.endRow();
  });
  ta.closeSync();
  const r = await conn.runAndReadAll(`
    SELECT t.sentence_id, coalesce(v.id, 1)::INTEGER, g.tid, s.split::INTEGER,
           (v.id IS NULL)::INTEGER AS oov
    FROM tokens t
    JOIN split_of s USING (sentence_id)
    JOIN tagidx g ON g.tag = t.tag
    LEFT JOIN vocab v ON v.w = ${cfg.lowercase ? 'lower(t.word)' : 't.word'}
    ORDER BY t.sentence_id, t.position`);
  const [sid, wid, tid, split, oov] = columns<number[][]>(r);
  return { sid, wid, tid, split, oov };
}

/** Distinct words per split that are not in the vocabulary (OOV types). */
export async function oovTypes(conn: DuckDBConnection, cfg: FeaturizeConfig): Promise<Record<SplitName, { types: number; oov_types: number }>> {
  const r = await conn.runAndReadAll(`
    SELECT s.split::INTEGER, count(DISTINCT ${cfg.lowercase ? 'lower(t.word)' : 't.word'})::INTEGER,
           count(DISTINCT CASE WHEN v.id IS NULL THEN ${cfg.lowercase ? 'lower(t.word)' : 't.word'} END)::INTEGER
    FROM tokens t JOIN split_of s USING (sentence_id) LEFT JOIN vocab v ON v.w = ${cfg.lowercase ? 'lower(t.word)' : 't.word'}
    GROUP BY 1 ORDER BY 1`);
  const [sp, types, oov] = columns<number[][]>(r);
  const out = {} as Record<SplitName, { types: number; oov_types: number }>;
  for (let i = 0; i < sp.length; i++) out[SPLITS[sp[i]]] = { types: types[i], oov_types: oov[i] };
  return out;
}

export async function entityCounts(conn: DuckDBConnection): Promise<{ split: SplitName; type: string; count: number }[]> {
  const r = await conn.runAndReadAll(`SELECT s.split::INTEGER, substr(tag, 3) AS type, count(*)::INTEGER FROM tokens JOIN split_of s USING (sentence_id)
    WHERE tag LIKE 'B-%' GROUP BY ALL ORDER BY 1, 2`);
  const [sp, type, n] = columns<[number[], string[], number[]]>(r);
  return sp.map((s, i) => ({ split: SPLITS[s], type: type[i], count: n[i] }));
}

export async function tagCounts(conn: DuckDBConnection): Promise<Record<string, number>> {
  const r = await conn.runAndReadAll('SELECT tag, count(*)::INTEGER FROM tokens GROUP BY 1 ORDER BY 2 DESC, 1');
  const [t, n] = columns<[string[], number[]]>(r);
  return Object.fromEntries(t.map((x, i) => [x, n[i]]));
}
