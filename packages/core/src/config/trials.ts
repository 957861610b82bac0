import { hashValue } from '../hash.js';
import { mulberry32 } from '../rng.js';
import { mergeConfig, nestKeys } from './merge.js';
import { TrainSchema, type Config, type SweepConfig, type SweepParam, type TrainConfig } from './schema.js';

export type ParamValue = number | string | boolean;

/** One training run of a config: the baseline, or one point of its sweep. */
export interface Trial {
  /** Stable id (the folder under runs/<name>/train/): the same overrides always give the same id. */
  id: string;
  /** Dotted config path → value, e.g. {'train.lstm_units': 64}. Empty for the baseline. */
  overrides: Record<string, ParamValue>;
  /** The trial's train section with the overrides applied, validated by the same schema as the file. */
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

/** The train section with dotted overrides (`{'train.optimizer.learning_rate': 0.01}`) merged in, not yet validated. */
export function withOverrides(train: TrainConfig, overrides: Record<string, ParamValue>): Record<string, unknown> {
  let out: Record<string, unknown> = { train: structuredClone(train) };
  for (const [key, value] of Object.entries(overrides)) out = mergeConfig(out, nestKeys(key.split('.'), value));
  return out.train as Record<string, unknown>;
}

export function valuesOf(spec: SweepParam): ParamValue[] | null {
  if (Array.isArray(spec)) return spec;
  if ('choices' in spec) return spec.choices;
  return null;
}

function sample(spec: SweepParam, rand: () => number): ParamValue {
  const list = valuesOf(spec);
  if (list) return list[Math.floor(rand() * list.length)];
  const r = spec as Extract<SweepParam, { min: number }>;
  const u = rand();
  const lo = r.log ? Math.log(r.min) : r.min;
  const hi = r.log ? Math.log(r.max) : r.max;
  const v = r.log ? Math.exp(lo + u * (hi - lo)) : lo + u * (hi - lo);
  return r.int ? Math.round(v) : Number(v.toPrecision(6));
}

/** Every combination, first key slowest (the order the file lists them). */
function grid(params: Record<string, ParamValue[]>): Record<string, ParamValue>[] {
  return Object.entries(params).reduce<Record<string, ParamValue>[]>(
    (acc, [key, values]) => acc.flatMap((o) => values.map((v) => ({ ...o, [key]: v }))),
    [{}],
  );
}

/** The sweep's points (dotted key → value): the grid in file order, or the seeded random draws. */
export function sweepPoints(sweep: SweepConfig): Record<string, ParamValue>[] {
  const keys = Object.keys(sweep.params);
  if (sweep.method === 'grid') {
    const gridPoints = grid(Object.fromEntries(keys.map((k) => [k, valuesOf(sweep.params[k]) ?? []])));
    const listed = sweep.points ?? [];
    const points = listed.length ? gridPoints.flatMap((g) => listed.map((p) => ({ ...g, ...p }))) : gridPoints;
    return sweep.max_trials ? points.slice(0, sweep.max_trials) : points;
  }
  const rand = mulberry32(sweep.seed);
  const seen = new Set<string>();
  const points: Record<string, ParamValue>[] = [];
  const wanted = sweep.max_trials ?? 1;
  for (let attempts = 0; points.length < wanted && attempts < wanted * 50; attempts++) {
    const p = Object.fromEntries(keys.map((k) => [k, sample(sweep.params[k], rand)]));
    const h = hashValue(p);
    if (!seen.has(h)) {
      seen.add(h);
      points.push(p);
    }
  }
  return points;
}

/**
 * The trials of a config: one baseline trial without a sweep, else the grid or the seeded random draws.
 * Every trial's train section goes through the train schema (loadConfig has already reported any
 * point it rejects, naming the sweep key and the value; here a rejected point throws).
 */
export function expandTrials(config: Pick<Config, 'train' | 'sweep'>): Trial[] {
  const sweep = config.sweep;
  if (!sweep || (Object.keys(sweep.params).length === 0 && !sweep.points?.length))
    return [{ id: 'main', overrides: {}, train: config.train }];
  return sweepPoints(sweep).map((overrides) => ({
    id: trialId(overrides),
    overrides,
    train: TrainSchema.parse(withOverrides(config.train, overrides)),
  }));
}
