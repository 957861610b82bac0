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
export async function openCorpus(
  file: string,
  tagScheme: 'iob2' | 'bioes' = 'iob2',
): Promise<{ conn: DuckDBConnection; close: () => void; hasSplit: boolean }> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(`ATTACH '${file.replace(/'/g, "''")}' AS corpus (READ_ONLY)`);
  const cols = columns<[string[]]>(
    await conn.runAndReadAll(
      `SELECT column_name FROM duckdb_columns() WHERE database_name = 'corpus' AND table_name = 'tokens'`,
    ),
  )[0];
  const hasSplit = cols.includes('split');
  // The training tag: ingest's IOB2 as is, or BIOES (featurize.tag_scheme) from each token's neighbours.
  // (a temp table for BIOES, so the window runs once rather than in every query)
  const select = `SELECT sentence_id, position, word, pos, ${tagScheme === 'iob2' ? 'tag' : BIOES_SQL} AS tag${hasSplit ? ', split AS corpus_split' : ''} FROM corpus.tokens`;
  if (tagScheme === 'iob2') await conn.run(`CREATE VIEW tokens AS ${select}`);
  else
    await conn.run(
      `CREATE TEMP TABLE tokens AS ${select} WINDOW w AS (PARTITION BY sentence_id ORDER BY position) ORDER BY sentence_id, position`,
    );
  return {
    conn,
    hasSplit,
    close: () => {
      conn.closeSync();
      db.closeSync();
    },
  };
}

/**
 * IOB2 → BIOES per token: an entity's first token (B-X, or an I-X not after B-X/I-X) is B-X, or S-X when the
 * next token does not continue it; a later token is I-X, or E-X when the next one does not continue it.
 */
const BIOES_SQL = `CASE
    WHEN tag = 'O' THEN 'O'
    WHEN (CASE WHEN tag LIKE 'B-%' THEN true ELSE coalesce(lag(tag) OVER w, 'O') NOT IN ('B-' || substr(tag, 3), tag) END)
      THEN (CASE WHEN lead(tag) OVER w = 'I-' || substr(tag, 3) THEN 'B-' ELSE 'S-' END) || substr(tag, 3)
    ELSE (CASE WHEN lead(tag) OVER w = 'I-' || substr(tag, 3) THEN 'I-' ELSE 'E-' END) || substr(tag, 3)
  END`;

export async function sentenceLengths(conn: DuckDBConnection): Promise<{ ids: Int32Array; lengths: Int32Array }> {
  const r = await conn.runAndReadAll('SELECT sentence_id, count(*)::INTEGER FROM tokens GROUP BY 1 ORDER BY 1');
  const [ids, lens] = columns<number[][]>(r);
  return { ids: Int32Array.from(ids), lengths: Int32Array.from(lens) };
}

/** The corpus's own split (ingest's split column, from data.splits): sentence ids per split, or null for one file. */
export async function corpusSplit(
  conn: DuckDBConnection,
  hasSplit: boolean,
): Promise<Record<SplitName, Int32Array> | null> {
  if (!hasSplit) return null; // a corpus.duckdb from before ingest had the split column
  const r = await conn.runAndReadAll(
    'SELECT DISTINCT sentence_id, corpus_split FROM tokens WHERE corpus_split IS NOT NULL ORDER BY 1',
  );
  const [ids, split] = columns<[number[], string[]]>(r);
  if (!ids.length) return null;
  const out = { train: [] as number[], val: [] as number[], test: [] as number[] };
  ids.forEach((id, i) => out[split[i] as SplitName].push(id));
  return { train: Int32Array.from(out.train), val: Int32Array.from(out.val), test: Int32Array.from(out.test) };
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
export async function buildVocab(
  conn: DuckDBConnection,
  cfg: FeaturizeConfig,
): Promise<{ words: string[]; counts: number[]; trainTypes: number }> {
  const r = await conn.runAndReadAll(`
    SELECT w, count(*)::INTEGER AS c FROM (
      SELECT ${wordExpr(cfg)} AS w FROM tokens JOIN split_of USING (sentence_id) WHERE split = 0
    ) GROUP BY w ORDER BY c DESC, w COLLATE "binary"`);
  const [ws, cs] = columns<[string[], number[]]>(r);
  const keep: number[] = [];
  for (let i = 0; i < ws.length; i++) if (cs[i] >= cfg.min_count) keep.push(i);
  const cap = cfg.max_vocab === null ? keep.length : Math.max(0, cfg.max_vocab - 2);
  const chosen = keep.slice(0, cap);
  return {
    words: ['<PAD>', '<UNK>', ...chosen.map((i) => ws[i])],
    counts: [0, 0, ...chosen.map((i) => cs[i])],
    trainTypes: ws.length,
  };
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
export async function oovTypes(
  conn: DuckDBConnection,
  cfg: FeaturizeConfig,
): Promise<Record<SplitName, { types: number; oov_types: number }>> {
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

export async function entityCounts(
  conn: DuckDBConnection,
): Promise<{ split: SplitName; type: string; count: number }[]> {
  const r =
    await conn.runAndReadAll(`SELECT s.split::INTEGER, substr(tag, 3) AS type, count(*)::INTEGER FROM tokens JOIN split_of s USING (sentence_id)
    WHERE tag LIKE 'B-%' OR tag LIKE 'S-%' GROUP BY ALL ORDER BY 1, 2`);
  const [sp, type, n] = columns<[number[], string[], number[]]>(r);
  return sp.map((s, i) => ({ split: SPLITS[s], type: type[i], count: n[i] }));
}

export async function tagCounts(conn: DuckDBConnection): Promise<Record<string, number>> {
  const r = await conn.runAndReadAll('SELECT tag, count(*)::INTEGER FROM tokens GROUP BY 1 ORDER BY 2 DESC, 1');
  const [t, n] = columns<[string[], number[]]>(r);
  return Object.fromEntries(t.map((x, i) => [x, n[i]]));
}

/** Tag counts per split (in the training scheme), for eda.json. */
export async function tagCountsBySplit(conn: DuckDBConnection): Promise<Record<SplitName, Record<string, number>>> {
  const r = await conn.runAndReadAll(
    'SELECT s.split::INTEGER, tag, count(*)::INTEGER FROM tokens JOIN split_of s USING (sentence_id) GROUP BY ALL ORDER BY 1, 3 DESC, 2',
  );
  const [sp, t, n] = columns<[number[], string[], number[]]>(r);
  const out = { train: {}, val: {}, test: {} } as Record<SplitName, Record<string, number>>;
  sp.forEach((k, i) => (out[SPLITS[k]][t[i]] = n[i]));
  return out;
}
