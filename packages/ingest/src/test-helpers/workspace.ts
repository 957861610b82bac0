// Test helpers for ingest (in test-helpers/: not part of the stage's code fingerprint).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig, silentLogger, type StageContext } from '@nerflow/core';

/** A throwaway workspace with one config whose data.path is `csvFile` (tests only). */
export function tempWorkspace(
  csv: string | Buffer,
  opts: { name?: string; yaml?: string; fileName?: string } = {},
): { root: string; ctx: (force?: boolean) => StageContext; csvPath: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-ingest-'));
  mkdirSync(path.join(root, 'configs'));
  const csvPath = path.join(root, opts.fileName ?? 'corpus.csv');
  writeFileSync(csvPath, csv);
  const name = opts.name ?? 't';
  writeFileSync(
    path.join(root, 'configs', `${name}.yaml`),
    `data:\n  path: ../${path.basename(csvPath)}\n${opts.yaml ?? ''}`,
  );
  return {
    root,
    csvPath,
    ctx: (force = false) => ({ config: loadConfig(name, { root }), root, log: silentLogger, force }),
  };
}

/** The rows an SQL query reads from config t's ingest output (runs/t/ingest/corpus.duckdb), BIGINTs as numbers. */
export async function corpusRows(root: string, sql: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(path.join(root, 'runs', 't', 'ingest', 'corpus.duckdb'), {
    access_mode: 'READ_ONLY',
  });
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql)).getRows().map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
  } finally {
    c.closeSync();
    db.closeSync();
  }
}
