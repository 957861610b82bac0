import { DuckDBInstance } from '@duckdb/node-api';

/**
 * The words of each row of a split, read from ingest's corpus.duckdb (contract: tokens(sentence_id,
 * position, word, ...)); a row is chunk `chunk` of its sentence, `maxLen` tokens per chunk.
 */
export async function wordsForRows(
  dbFile: string,
  sentenceIds: Int32Array,
  chunks: Int32Array,
  lengths: Int32Array,
  maxLen: number,
): Promise<string[][]> {
  // attached read-only to an in-memory database that holds the temp table: ingest's file is never written
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run(`ATTACH '${dbFile.replace(/'/g, "''")}' AS corpus (READ_ONLY)`);
    const ids = [...new Set(sentenceIds)];
    await conn.run('CREATE TEMP TABLE wanted(sentence_id INTEGER)');
    const app = await conn.createAppender('wanted');
    for (const id of ids) {
      app.appendInteger(id);
      app.endRow();
    }
    app.closeSync();
    const reader = await conn.runAndReadAll(
      'SELECT t.sentence_id, t.position, t.word FROM corpus.tokens t JOIN wanted USING (sentence_id) ORDER BY t.sentence_id, t.position',
    );
    const bySentence = new Map<number, string[]>();
    const cols = reader.getColumns();
    const sid = cols[0] as number[];
    const words = cols[2] as string[];
    for (let i = 0; i < sid.length; i++) {
      let list = bySentence.get(sid[i]);
      if (!list) bySentence.set(sid[i], (list = []));
      list.push(words[i]);
    }
    return Array.from(sentenceIds, (id, r) =>
      (bySentence.get(id) ?? []).slice(chunks[r] * maxLen, chunks[r] * maxLen + lengths[r]),
    );
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
