import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * An independent reader of MLflow's file-store layout for tests, written from the format as documented
 * in packages/tracking/README.md (which cites mlflow/store/tracking/file_store.py) and sharing no code
 * with FileStore. It is as strict as MLflow's reader: a missing meta key, a wrong type, a malformed
 * metric line or an invalid key name throws, as it would make `mlflow ui` skip or fail on the run.
 */
export interface ReadExperiment {
  dir: string;
  meta: Record<string, unknown>;
  runs: ReadRun[];
  datasets: Map<string, Record<string, unknown>>;
}

export interface ReadRun {
  id: string;
  dir: string;
  meta: Record<string, unknown>;
  metrics: Map<string, { timestamp: number; value: number; step: number }[]>;
  params: Map<string, string>;
  tags: Map<string, string>;
  inputs: Map<string, Record<string, unknown>>;
}

const NAME = /^[/\p{L}\p{N}_.\- ]*$/u;
const STATUS = new Map([
  [1, 'RUNNING'],
  [2, 'SCHEDULED'],
  [3, 'FINISHED'],
  [4, 'FAILED'],
  [5, 'KILLED'],
]);

function yamlFile(file: string): Record<string, unknown> {
  const v = parse(readFileSync(file, 'utf8'), { version: '1.1' }) as unknown;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: not a YAML mapping`);
  return v as Record<string, unknown>;
}

function need(
  file: string,
  meta: Record<string, unknown>,
  key: string,
  type: 'string' | 'int' | 'int|null' | 'string|null' | 'list' | 'map',
): void {
  if (!(key in meta)) throw new Error(`${file}: missing ${key}`);
  const v = meta[key];
  const ok = {
    string: typeof v === 'string',
    int: Number.isInteger(v),
    'int|null': v === null || Number.isInteger(v),
    'string|null': v === null || typeof v === 'string',
    list: Array.isArray(v),
    map: !!v && typeof v === 'object' && !Array.isArray(v),
  }[type];
  if (!ok) throw new Error(`${file}: ${key} should be ${type}, is ${JSON.stringify(v)}`);
}

function files(dir: string, prefix = ''): [string, string][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    const key = prefix ? `${prefix}/${name}` : name;
    return statSync(p).isDirectory() ? files(p, key) : [[key, p] as [string, string]];
  });
}

function keyed(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, file] of files(dir)) {
    if (!NAME.test(key)) throw new Error(`${file}: "${key}" is not a valid MLflow key`);
    out.set(key, readFileSync(file, 'utf8'));
  }
  return out;
}

function metricFile(file: string): { timestamp: number; value: number; step: number }[] {
  const text = readFileSync(file, 'utf8');
  if (!text.endsWith('\n')) throw new Error(`${file}: last line not terminated`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const parts = line.split(' ');
      if (parts.length !== 3) throw new Error(`${file}: "${line}" is not "<timestamp> <value> <step>"`);
      const [ts, value, step] = parts;
      if (!/^\d+$/.test(ts) || !/^-?\d+$/.test(step)) throw new Error(`${file}: bad timestamp/step in "${line}"`);
      if (!/^(-?(\d+\.\d+|\d+(\.\d+)?e[-+]\d\d+)|nan|-?inf)$/.test(value))
        throw new Error(`${file}: "${value}" is not a Python float repr`);
      return {
        timestamp: Number(ts),
        value: value === 'nan' ? NaN : value === 'inf' ? Infinity : value === '-inf' ? -Infinity : Number(value),
        step: Number(step),
      };
    });
}

export function readRun(expDir: string, id: string): ReadRun {
  const dir = path.join(expDir, id);
  const metaFile = path.join(dir, 'meta.yaml');
  const meta = yamlFile(metaFile);
  for (const k of [
    'run_id',
    'run_uuid',
    'run_name',
    'experiment_id',
    'user_id',
    'artifact_uri',
    'lifecycle_stage',
    'source_name',
    'entry_point_name',
    'source_version',
  ])
    need(metaFile, meta, k, 'string');
  for (const k of ['status', 'start_time', 'source_type']) need(metaFile, meta, k, 'int');
  need(metaFile, meta, 'end_time', 'int|null');
  need(metaFile, meta, 'tags', 'list');
  if (!STATUS.has(meta.status as number))
    throw new Error(`${metaFile}: status ${String(meta.status)} is not a RunStatus int`);
  if (meta.experiment_id !== path.basename(expDir))
    throw new Error(`${metaFile}: experiment_id ${String(meta.experiment_id)} is not its folder's`);
  if (meta.run_id !== id) throw new Error(`${metaFile}: run_id is not its folder's name`);
  const metrics = new Map<string, { timestamp: number; value: number; step: number }[]>();
  for (const [key, file] of files(path.join(dir, 'metrics'))) metrics.set(key, metricFile(file));
  const inputs = new Map<string, Record<string, unknown>>();
  if (existsSync(path.join(dir, 'inputs'))) {
    for (const i of readdirSync(path.join(dir, 'inputs')))
      inputs.set(i, yamlFile(path.join(dir, 'inputs', i, 'meta.yaml')));
  }
  return {
    id,
    dir,
    meta,
    metrics,
    params: keyed(path.join(dir, 'params')),
    tags: keyed(path.join(dir, 'tags')),
    inputs,
  };
}

/** Every experiment of a store root, with its runs (folders other than tags/datasets/traces). */
export function readStore(root: string): Map<string, ReadExperiment> {
  const out = new Map<string, ReadExperiment>();
  for (const name of readdirSync(root)) {
    const dir = path.join(root, name);
    if (name === '.trash' || !statSync(dir).isDirectory()) continue;
    const metaFile = path.join(dir, 'meta.yaml');
    const meta = yamlFile(metaFile);
    for (const k of ['experiment_id', 'name', 'artifact_location', 'lifecycle_stage'])
      need(metaFile, meta, k, 'string');
    for (const k of ['creation_time', 'last_update_time']) need(metaFile, meta, k, 'int');
    if (meta.experiment_id !== name) throw new Error(`${metaFile}: experiment_id is not its folder's name`);
    const runs = readdirSync(dir)
      .filter((r) => !['tags', 'datasets', 'traces'].includes(r) && statSync(path.join(dir, r)).isDirectory())
      .map((r) => readRun(dir, r));
    const datasets = new Map<string, Record<string, unknown>>();
    if (existsSync(path.join(dir, 'datasets'))) {
      for (const d of readdirSync(path.join(dir, 'datasets')))
        datasets.set(d, yamlFile(path.join(dir, 'datasets', d, 'meta.yaml')));
    }
    out.set(name, { dir, meta, runs, datasets });
  }
  return out;
}

export const statusName = (code: number) => STATUS.get(code);
