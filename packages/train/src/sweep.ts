import { hashValue, mergeConfig, type Config, type SweepConfig, type SweepParam, type TrainConfig } from '@nerflow/core';
import { mulberry32 } from './rng.js';

export type ParamValue = number | string | boolean;

/** One training run of a config: the baseline, or one point of its sweep. */
export interface Trial {
  /** Stable id (the folder under runs/<name>/train/): the same overrides always give the same id. */
  id: string;
  /** Dotted config path → value, e.g. {'train.lstm_units': 64}. Empty for the baseline. */
  overrides: Record<string, ParamValue>;
  /** The trial's train section with the overrides applied. */
  train: TrainConfig;
}

/** A short, readable label: lstm_units=64 learning_rate=0.003. */
export function trialLabel(t: Pick<Trial, 'overrides'>): string {
  const parts = Object.entries(t.overrides).map(([k, v]) => `${k.split('.').at(-1)}=${v}`);
  return parts.length ? parts.join(' ') : 'baseline';
}

export function trialId(overrides: Record<string, ParamValue>): string {
  return Object.keys(overrides).length ? `t-${hashValue(overrides).slice(0, 10)}` : 'main';
}

function applyOverrides(train: TrainConfig, overrides: Record<string, ParamValue>): TrainConfig {
  let out: Record<string, unknown> = { train: structuredClone(train) };
  for (const [key, value] of Object.entries(overrides)) {
    const nested = key.split('.').reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Record<string, unknown>;
    out = mergeConfig(out, nested);
  }
  return out.train as TrainConfig;
}

function valuesOf(spec: SweepParam): ParamValue[] | null {
  if (Array.isArray(spec)) return spec;
  if ('choices' in spec) return spec.choices;
  return null;
}

function sample(spec: SweepParam, rand: () => number): ParamValue {
  const list = valuesOf(spec);
  if (list) return list[Math.floor(rand() * list.length)];
  const r = spec as Extract<SweepParam, { min: number }>;
  const u = rand();
  let v = r.log ? Math.exp(Math.log(r.min) + u * (Math.log(r.max) - Math.log(r.min))) : r.min + u * (r.max - r.min);
  if (r.int) v = Math.round(v);
  else v = Number(v.toPrecision(6));
  return v;
}

/** Every combination, first key slowest (the order the file lists them). */
function grid(params: Record<string, ParamValue[]>): Record<string, ParamValue>[] {
  return Object.entries(params).reduce<Record<string, ParamValue>[]>(
    (acc, [key, values]) => acc.flatMap((o) => values.map((v) => ({ ...o, [key]: v }))),
    [{}],
  );
}

/** The trials of a config: one baseline trial without a sweep, else the grid or the seeded random draws. */
export function expandTrials(config: Pick<Config, 'train' | 'sweep'>): Trial[] {
  const sweep: SweepConfig | null = config.sweep;
  const keys = sweep ? Object.keys(sweep.params) : [];
  if (!sweep || keys.length === 0) return [{ id: 'main', overrides: {}, train: config.train }];
  let points: Record<string, ParamValue>[];
  if (sweep.method === 'grid') {
    points = grid(Object.fromEntries(keys.map((k) => [k, valuesOf(sweep.params[k]) ?? []])));
    if (sweep.max_trials) points = points.slice(0, sweep.max_trials);
  } else {
    const rand = mulberry32(sweep.seed);
    const seen = new Set<string>();
    points = [];
    for (let attempts = 0; points.length < (sweep.max_trials ?? 1) && attempts < (sweep.max_trials ?? 1) * 50; attempts++) {
      const p = Object.fromEntries(keys.map((k) => [k, sample(sweep.params[k], rand)]));
      const h = hashValue(p);
      if (!seen.has(h)) {
        seen.add(h);
        points.push(p);
      }
    }
  }
  return points.map((overrides) => ({ id: trialId(overrides), overrides, train: applyOverrides(config.train, overrides) }));
}
