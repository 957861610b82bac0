// A workspace whose ingest output is a small hand-made corpus.duckdb (the ingest contract, README), so featurize's
// tests run without ingest: configs/t.yaml holds the test's config, runs/t/ingest the corpus and its manifest.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig, silentLogger } from '@nerflow/core';
import { featurize } from '../featurize.js';

export type FixtureToken = [word: string, tag: string];

/** One sentence: its tokens and, for a corpus with its own split (the optional doc_id and split columns), that. */
export interface FixtureSentence {
  toks: FixtureToken[];
  split?: string | null;
}

export interface IngestFixtureOptions {
  /** The tmpdir name's prefix. */
  prefix?: string;
  /** Every token's POS tag (featurize does not read it). */
  pos?: string;
  /** Write the doc_id (0) and split columns, as ingest does for a corpus that comes split. */
  splits?: boolean;
}

/** Sentence ids are 1, 2, … in list order; positions 0, 1, … in each. */
export async function ingestFixture(sentences: FixtureSentence[], yaml = '', o: IngestFixtureOptions = {}) {
  const root = mkdtempSync(path.join(tmpdir(), o.prefix ?? 'nerflow-feat-'));
  mkdirSync(path.join(root, 'configs'));
  writeFileSync(path.join(root, 'configs', 't.yaml'), yaml);
  const ingest = path.join(root, 'runs', 't', 'ingest');
  mkdirSync(ingest, { recursive: true });
  const db = await DuckDBInstance.create(path.join(ingest, 'corpus.duckdb'));
  const c = await db.connect();
  const extra = o.splits ? ', doc_id INTEGER, split VARCHAR' : '';
  await c.run(
    `CREATE TABLE tokens(sentence_id INTEGER, position INTEGER, word VARCHAR, pos VARCHAR, tag VARCHAR${extra})`,
  );
  const app = await c.createAppender('tokens');
  sentences.forEach((s, i) =>
    s.toks.forEach(([w, t], p) => {
      app.appendInteger(i + 1);
      app.appendInteger(p);
      app.appendVarchar(w);
      app.appendVarchar(o.pos ?? 'NN');
      app.appendVarchar(t);
      if (o.splits) {
        app.appendInteger(0);
        if (s.split == null) app.appendNull();
        else app.appendVarchar(s.split);
      }
      app.endRow();
    }),
  );
  app.closeSync();
  c.closeSync();
  db.closeSync();
  writeFileSync(path.join(ingest, 'manifest.json'), JSON.stringify({ fingerprint: 'fixture', outputs: [] }));
  return {
    root,
    /** featurize's output folder */
    dir: path.join(root, 'runs', 't', 'featurize'),
    run: (force = false) => featurize({ config: loadConfig('t', { root }), root, log: silentLogger, force }),
  };
}
