import { DuckDBInstance } from '@duckdb/node-api';
import type { Corpus } from './corpus.js';

/** The table every later stage reads (contract: packages/ingest/README.md). */
export const TOKENS_DDL = `CREATE TABLE tokens (
  sentence_id INTEGER NOT NULL,
  position INTEGER NOT NULL,
  word VARCHAR NOT NULL,
  pos VARCHAR NOT NULL,
  tag VARCHAR NOT NULL
)`;

/** Write the corpus to a new DuckDB file, rows in file order, and checkpoint so the file stands alone. */
export async function writeCorpusDb(file: string, c: Corpus): Promise<void> {
  const instance = await DuckDBInstance.create(file);
  const conn = await instance.connect();
  try {
    await conn.run(TOKENS_DDL);
    const app = await conn.createAppender('tokens');
    const { sentenceIds, positions, words, pos, tags } = c;
    for (let r = 0; r < c.rows; r++) {
      app.appendInteger(sentenceIds[r]);
      app.appendInteger(positions[r]);
      app.appendVarchar(words[r]);
      app.appendVarchar(pos[r]);
      app.appendVarchar(tags[r]);
      app.endRow();
    }
    app.closeSync();
    await conn.run(`COMMENT ON TABLE tokens IS 'nerflow ingest: one row per token in file order; sentence_id forward-filled from "Sentence: N"; position is 0-based within the sentence'`);
    await conn.run('CHECKPOINT');
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
