import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { ValidationError } from '../errors.js';
import { isPlainObject, mergeConfig, nestKeys } from './merge.js';
import { ConfigSchema, TrainSchema, type Config, type ConfigBody, type SweepParam } from './schema.js';
import { sweepPoints, valuesOf, withOverrides, type ParamValue } from './trials.js';

export { mergeConfig } from './merge.js';

/** One YAML file as written, with what we need to point at its lines. */
interface Layer {
  file: string;
  raw: Record<string, unknown>;
  doc?: Document.Parsed;
  lines?: LineCounter;
}

const CONFIG_EXTENSIONS = ['.yaml', '.yml'];

/**
 * Find the config file for a `--config` value: a path (absolute or relative to cwd), or a bare
 * name (`sweep.yaml`, `sweep`) looked up in `<root>/configs/`.
 */
export function resolveConfigPath(ref: string, root: string, cwd = process.cwd(), from?: string): string {
  const candidates: string[] = [];
  const withExt = (p: string) =>
    CONFIG_EXTENSIONS.includes(path.extname(p)) ? [p] : CONFIG_EXTENSIONS.map((e) => p + e);
  if (from) candidates.push(...withExt(path.resolve(path.dirname(from), ref)));
  if (path.isAbsolute(ref)) candidates.push(...withExt(ref));
  else {
    candidates.push(...withExt(path.resolve(cwd, ref)));
    candidates.push(...withExt(path.join(root, 'configs', ref)));
  }
  for (const c of candidates) if (existsSync(c)) return c;
  throw new ValidationError(
    `config "${ref}" not found${from ? ` (named by extends: in ${from})` : ''}: looked for ${[...new Set(candidates)].join(', ')}. ` +
      `Pass a path to a YAML file or the name of one in ${path.join(root, 'configs')}/.`,
  );
}

function readLayer(file: string): Layer {
  const text = readFileSync(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ValidationError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${e.message.split('\n')[0]}`;
      }),
      `${file} is not valid YAML; fix the lines below.`,
    );
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError(
      `${file}:1: a config must be a YAML mapping (key: value lines), got ${Array.isArray(raw) ? 'a list' : typeof raw}.`,
    );
  }
  return { file, raw, doc, lines };
}

function lineOf(layer: Layer, keyPath: (string | number)[]): string {
  if (!layer.doc || !layer.lines) return layer.file;
  // Walk down as far as the path exists; point at the key if we can, else the value.
  for (let n = keyPath.length; n >= 0; n--) {
    const parentPath = keyPath.slice(0, n - 1);
    const parent = n === 0 ? null : n === 1 ? layer.doc.contents : layer.doc.getIn(parentPath, true);
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === keyPath[n - 1]);
      const range = (pair?.key as { range?: [number, number] } | undefined)?.range;
      if (range) {
        const p = layer.lines.linePos(range[0]);
        return `${layer.file}:${p.line}`;
      }
    }
    if (n === 0) {
      const range = (layer.doc.contents as { range?: [number, number] } | null)?.range;
      if (range) return `${layer.file}:${layer.lines.linePos(range[0]).line}`;
    }
  }
  return layer.file;
}

/** The schema of the object at a key path, to list the keys allowed there. */
function objectShapeAt(schema: z.ZodType, keyPath: (string | number)[]): Record<string, z.ZodType> | null {
  let s: any = schema;
  const unwrap = () => {
    for (;;) {
      const t = s?._zod?.def?.type;
      if (t === 'default' || t === 'nullable' || t === 'optional' || t === 'prefault') s = s._zod.def.innerType;
      else if (t === 'pipe')
        s = s._zod.def.in; // a .transform()
      else break;
    }
  };
  unwrap();
  for (const k of keyPath) {
    if (s?._zod?.def?.type !== 'object') return null;
    s = s._zod.def.shape[k];
    unwrap();
  }
  return s?._zod?.def?.type === 'object' ? s._zod.def.shape : null;
}

function closest(word: string, options: string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) [best, bestD] = [o, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

function getIn(obj: unknown, keyPath: (string | number)[]): unknown {
  let v: any = obj;
  for (const k of keyPath) v = v?.[k];
  return v;
}

/** One sentence per schema issue: where, the dotted key, what was expected and what was there. */
function describeIssues(
  issues: z.core.$ZodIssue[],
  value: unknown,
  where: (p: (string | number)[]) => string,
): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const p = issue.path as (string | number)[];
    const dotted = p.join('.');
    if (issue.code === 'unrecognized_keys') {
      const shape = objectShapeAt(ConfigSchema, p) ?? {};
      const allowed = Object.keys(shape);
      for (const key of issue.keys) {
        const full = [...p, key];
        const hint = closest(key, allowed);
        out.push(
          `${where(full)}: unknown key "${full.join('.')}"` +
            `${hint ? ` (did you mean "${[...p, hint].join('.')}"?)` : ''}. ` +
            `Allowed keys${p.length ? ` in ${dotted}` : ''}: ${allowed.join(', ')}.`,
        );
      }
      continue;
    }
    const got = getIn(value, p);
    let expected = issue.message;
    if (issue.code === 'invalid_value' && 'values' in issue)
      expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    else if (issue.code === 'invalid_type') {
      const names: Record<string, string> = { object: 'a mapping', array: 'a list', int: 'an integer' };
      expected = names[issue.expected] ?? `a ${issue.expected}`;
    } else if (issue.code === 'too_small' || issue.code === 'too_big')
      expected = issue.message.replace(/^Too (small|big): expected \w+ to (have|be) /, 'a value ');
    else if (issue.code === 'invalid_union')
      expected = 'a list of values, a {min, max, log, int} range, or {choices: [...]}';
    out.push(`${where(p)}: ${dotted || '(top level)'}: expected ${expected}, got ${describe(got)}.`);
  }
  return out;
}

/** Validate one layer against the schema (every key has a default, so a partial file is fine). */
function problemsOf(layer: Layer, value: Record<string, unknown>): string[] {
  const result = ConfigSchema.safeParse(value);
  return result.success ? [] : describeIssues(result.error.issues, value, (p) => lineOf(layer, p));
}

/** `train.epochs=3` → {train: {epochs: 3}}; the value is read as YAML (numbers, booleans, lists). */
export function parseOverride(text: string): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new ValidationError(`--set ${text}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3.`);
  const doc = parseDocument(text.slice(eq + 1));
  return nestKeys(overrideKeys(text.slice(0, eq)), doc.errors.length ? text.slice(eq + 1) : doc.toJS());
}

/**
 * The key path of an override's KEY; sweep.params keys are dotted config paths themselves
 * (sweep.params.train.lstm_units → ['sweep', 'params', 'train.lstm_units']).
 */
export function overrideKeys(key: string): string[] {
  const params = 'sweep.params.';
  if (key.startsWith(params) && key.length > params.length) return ['sweep', 'params', key.slice(params.length)];
  return key.split('.');
}

export interface LoadOptions {
  root: string;
  cwd?: string;
  /** KEY=VALUE overrides from the command line, applied last. */
  overrides?: string[];
}

/** Load, merge (`extends:`) and validate a config; throws ValidationError listing every problem. */
export function loadConfig(ref: string, opts: LoadOptions): Config {
  const file = resolveConfigPath(ref, opts.root, opts.cwd);
  const layers: Layer[] = [];
  const seen = new Set<string>();
  let current: string | undefined = file;
  while (current) {
    if (seen.has(current))
      throw new ValidationError(
        `${current}: extends: makes a cycle (${[...seen, current].join(' → ')}). Remove one of the extends: lines.`,
      );
    seen.add(current);
    const layer = readLayer(current);
    layers.push(layer);
    const ext = layer.raw.extends;
    if (ext === undefined) current = undefined;
    else if (typeof ext !== 'string')
      throw new ValidationError(
        `${lineOf(layer, ['extends'])}: extends: expected the name or path of another config, got ${describe(ext)}.`,
      );
    else current = resolveConfigPath(ext, opts.root, opts.cwd, current);
  }
  if (opts.overrides?.length) {
    const raw = opts.overrides.map(parseOverride).reduce(mergeConfig, {});
    layers.unshift({ file: '--set', raw });
  }

  const problems = layers.flatMap((l) => problemsOf(l, l.raw));
  if (problems.length) throw new ValidationError(problems, `Invalid config ${file}:`);

  // data.path and data.splits name the corpus two exclusive ways: both in one file is an error; across
  // files the nearest one that names the corpus wins (a config may extend one with data.path and set data.splits).
  const corpusKeys = (l: Layer) =>
    ['path', 'splits'].filter((k) => isPlainObject(l.raw.data) && (l.raw.data as Record<string, unknown>)[k] != null);
  const both = layers.filter((l) => corpusKeys(l).length === 2);
  if (both.length) {
    throw new ValidationError(
      both.map(
        (l) =>
          `${lineOf(l, ['data', 'splits'])}: data.path and data.splits are both set; a corpus is one file (data.path, split by featurize.split) ` +
          `or its own files (data.splits: {train, val, test}). Remove one of the two keys.`,
      ),
      `Invalid config ${file}:`,
    );
  }
  const nearest = layers.find((l) => corpusKeys(l).length)?.file;
  // Relative data paths are relative to the file that wrote them.
  const merged = layers.reduceRight<Record<string, unknown>>((acc, l) => {
    const raw = structuredClone(l.raw);
    const data = raw.data as Record<string, unknown> | undefined;
    // --set paths are relative to the named config file, as data.path's always were
    const base = path.dirname(l.file === '--set' ? file : l.file);
    if (data && typeof data.path === 'string' && l.file !== '--set') data.path = path.resolve(base, data.path);
    if (data && isPlainObject(data.splits)) {
      for (const [k, v] of Object.entries(data.splits))
        if (typeof v === 'string') data.splits[k] = path.resolve(base, v);
    }
    if (data && l.file === nearest) {
      if (data.splits != null) data.path = null;
      else if (data.path != null) data.splits = null;
    }
    // npm:<package> names an installed package, not a path
    if (l.file !== '--set')
      for (const f of vectorFiles(raw)) if (!isNpmPath(f.path as string)) f.path = path.resolve(base, f.path as string);
    return mergeConfig(acc, raw);
  }, {});
  delete merged.extends;
  const parsed = ConfigSchema.parse(merged);
  const { extends: _ignored, ...body } = parsed;
  if (body.data.path !== null) body.data.path = path.resolve(path.dirname(file), body.data.path);
  for (const f of [body.train.embeddings, body.featurize.pretrained_vocab])
    if (f && !isNpmPath(f.path)) f.path = path.resolve(path.dirname(file), f.path);
  const config: Config = {
    ...(body as ConfigBody),
    name: configName(file),
    file,
    files: layers.filter((l) => l.file !== '--set').map((l) => l.file),
    overrides: opts.overrides ?? [],
  };
  // where a key was written: the first layer (--set, then the named file, then what it extends) that has it
  const where = (keyPath: string[]) => {
    const layer = layers.find((l) => getIn(l.raw, keyPath) !== undefined);
    return layer ? lineOf(layer, keyPath) : file;
  };
  const semantic = [...checkSemantics(config), ...checkSweepValues(config, where)];
  if (semantic.length) throw new ValidationError(semantic, `Invalid config ${file}:`);
  return config;
}

const isNpmPath = (p: string) => p.startsWith('npm:');

/** The vector-file sections of a raw layer whose `path` is relative to the file that wrote it. */
function vectorFiles(raw: Record<string, unknown>): Record<string, unknown>[] {
  const at = (section: string, key: string) => {
    const v = (raw[section] as Record<string, unknown> | undefined)?.[key] as
      Record<string, unknown> | null | undefined;
    return v && typeof v === 'object' && typeof v.path === 'string' ? [v] : [];
  };
  return [...at('train', 'embeddings'), ...at('featurize', 'pretrained_vocab')];
}

export function configName(file: string): string {
  return path.basename(file).replace(/\.(ya?ml)$/i, '');
}

function checkSemantics(c: Config): string[] {
  const out: string[] = [];
  if (c.data.path === null && c.data.splits === null)
    out.push(
      `${c.file}: data: no corpus. Set data.path (one file) or data.splits: {train, val, test} (a corpus's own files).`,
    );
  for (const k of ['train', 'test'] as const) {
    if (c.data.splits && c.data.splits[k] === null)
      out.push(`${c.file}: data.splits.${k} is missing: data.splits needs a train and a test file (val is optional).`);
  }
  const s = c.featurize.split;
  const sum = s.train + s.val + s.test;
  if (Math.abs(sum - 1) > 1e-9)
    out.push(
      `${c.file}: featurize.split: train + val + test must add up to 1, got ${+sum.toFixed(6)} (${s.train} + ${s.val} + ${s.test}).`,
    );
  if (s.train <= 0) out.push(`${c.file}: featurize.split.train must be above 0.`);
  if (c.sweep) {
    for (const [key, spec] of Object.entries(c.sweep.params)) {
      const keyPath = key.split('.');
      const section = keyPath[0];
      const shape = objectShapeAt(ConfigSchema, keyPath.slice(0, -1));
      if (section !== 'train' || !shape || !(keyPath[keyPath.length - 1] in shape)) {
        out.push(
          `${c.file}: sweep.params: "${key}" is not a train.* config key (trials share one featurized dataset). Use a dotted path such as train.lstm_units or train.optimizer.learning_rate.`,
        );
        continue;
      }
      if (!Array.isArray(spec) && 'min' in spec && spec.min > spec.max)
        out.push(`${c.file}: sweep.params.${key}: min (${spec.min}) is above max (${spec.max}).`);
      if (!Array.isArray(spec) && 'min' in spec && spec.log && spec.min <= 0)
        out.push(`${c.file}: sweep.params.${key}: a log range needs min > 0.`);
      if (c.sweep.method === 'grid' && !Array.isArray(spec) && 'min' in spec)
        out.push(
          `${c.file}: sweep.params.${key}: a grid sweep needs a list of values or {choices}; a {min, max} range needs method: random.`,
        );
    }
    c.sweep.points.forEach((point, i) => {
      for (const key of Object.keys(point)) {
        const keyPath = key.split('.');
        const shape = objectShapeAt(ConfigSchema, keyPath.slice(0, -1));
        if (keyPath[0] !== 'train' || !shape || !(keyPath[keyPath.length - 1] in shape))
          out.push(
            `${c.file}: sweep.points[${i}]: "${key}" is not a train.* config key. Use a dotted path such as train.head or train.chars.type.`,
          );
        else if (key in c.sweep!.params)
          out.push(
            `${c.file}: sweep.points[${i}]: "${key}" is also in sweep.params; a key is either swept over (params) or set per point (points), not both.`,
          );
      }
    });
    if (c.sweep.method === 'random' && c.sweep.points.length)
      out.push(
        `${c.file}: sweep.points: listed combinations need method: grid (a random sweep draws from params only).`,
      );
    if (c.sweep.method === 'random' && !c.sweep.max_trials)
      out.push(`${c.file}: sweep.max_trials: a random sweep needs max_trials (how many trials to draw).`);
  }
  return out;
}

/** Problems of one train section with sweep values applied, as the schema reports them (`train.x: expected …`). */
function trialProblems(c: Config, point: Record<string, ParamValue>, at: string): string[] {
  const train = withOverrides(c.train, point);
  const result = TrainSchema.safeParse(train);
  if (result.success) return [];
  const issues = result.error.issues.map((i) => ({ ...i, path: ['train', ...i.path] }));
  return describeIssues(issues, { train }, () => at);
}

/**
 * Every sweep value goes through the same schema as the file: each listed value and each end of a range,
 * a range's fractional draws against integer keys, then every expanded trial (random draws included).
 */
function checkSweepValues(c: Config, where: (keyPath: string[]) => string): string[] {
  if (!c.sweep) return [];
  const out: string[] = [];
  const isTrainKey = (k: string) => {
    const keys = k.split('.');
    return keys[0] === 'train' && !!objectShapeAt(TrainSchema, keys.slice(1, -1))?.[keys[keys.length - 1]];
  };
  const keys = Object.keys(c.sweep.params).filter(isTrainKey);
  for (const key of keys) {
    const spec: SweepParam = c.sweep.params[key];
    const at = (v: ParamValue) => `${where(['sweep', 'params', key])}: sweep.params.${key} value ${JSON.stringify(v)}`;
    const range = valuesOf(spec) ? null : (spec as Extract<SweepParam, { min: number }>);
    for (const v of valuesOf(spec) ?? [range!.min, range!.max]) out.push(...trialProblems(c, { [key]: v }, at(v)));
    const drawsFractions = range && !range.int && range.min + 0.5 <= range.max;
    if (drawsFractions && trialProblems(c, { [key]: range.min + 0.5 }, '').some((p) => p.includes('an integer'))) {
      out.push(
        `${where(['sweep', 'params', key])}: sweep.params.${key}: ${key} takes integers, but the range ` +
          `{min: ${range.min}, max: ${range.max}} draws fractions. Add int: true to the range.`,
      );
    }
  }
  const pointKeys = c.sweep.points.flatMap((p) => Object.keys(p));
  c.sweep.points.forEach((point, i) => {
    if (!Object.keys(point).every(isTrainKey)) return;
    const label = Object.entries(point)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    out.push(...trialProblems(c, point, `${where(['sweep', 'points', String(i)])}: sweep.points[${i}] ${label}`));
  });
  if (out.length || keys.length !== Object.keys(c.sweep.params).length || !pointKeys.every(isTrainKey)) return out;
  for (const point of sweepPoints(c.sweep)) {
    const label = Object.entries(point)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(' ');
    out.push(...trialProblems(c, point, `${where(['sweep', 'params'])}: sweep trial ${label}`));
  }
  return out;
}

/** The data section with its corpus paths relative to `root` (for logged configs: the same in every checkout). */
export function relativeData(data: Config['data'], root: string): Config['data'] {
  const rel = (p: string) => path.relative(root, p);
  const relOrNull = (p: string | null) => (p === null ? null : rel(p));
  return {
    ...data,
    path: data.path === null ? null : rel(data.path),
    splits: data.splits && {
      train: relOrNull(data.splits.train),
      val: relOrNull(data.splits.val),
      test: relOrNull(data.splits.test),
    },
  };
}
