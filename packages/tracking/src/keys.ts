import path from 'node:path';

/**
 * MLflow's name rules (mlflow/utils/validation.py: _VALID_PARAM_AND_METRIC_NAMES, path_not_unique,
 * _validate_metric_name / _validate_param_name / _validate_tag_name, MAX_ENTITY_KEY_LENGTH).
 * Python's `\w` is Unicode-aware, hence \p{L}\p{N}_. Colons are NOT allowed: newer MLflow accepts
 * them but older readers (and Windows) reject them, and a file store must stay readable by both.
 */
const NAME_RE = /^[/\p{L}\p{N}_.\- ]*$/u;
export const MAX_KEY_LENGTH = 250;

/** posixpath.normpath: like path.posix.normalize, minus the trailing slash it keeps. */
function pyNormpath(name: string): string {
  const n = path.posix.normalize(name);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** validation.path_not_unique: the name must be its own normal form, not '.', not '..'-led, not absolute. */
export function pathNotUnique(name: string): boolean {
  const norm = pyNormpath(name);
  return norm !== name || norm === '.' || norm.startsWith('..') || norm.startsWith('/');
}

export class InvalidKeyError extends Error {
  constructor(
    readonly kind: 'metric' | 'param' | 'tag',
    readonly key: string,
    why: string,
  ) {
    super(`invalid MLflow ${kind} name ${JSON.stringify(key)}: ${why}`);
    this.name = 'InvalidKeyError';
  }
}

export function validateKey(kind: 'metric' | 'param' | 'tag', key: string): void {
  if (typeof key !== 'string' || !NAME_RE.test(key)) {
    throw new InvalidKeyError(
      kind,
      key,
      'names may only contain letters, digits, underscores (_), dashes (-), periods (.), spaces ( ) and slashes (/)',
    );
  }
  if (pathNotUnique(key)) {
    throw new InvalidKeyError(
      kind,
      key,
      `names are file paths in the store and must not resolve to another name (this one resolves to "${pyNormpath(key)}"): no empty name, no leading "/" or "..", no "//", "/./" or trailing "/"`,
    );
  }
  if (key.length > MAX_KEY_LENGTH) throw new InvalidKeyError(kind, key, `longer than ${MAX_KEY_LENGTH} characters`);
}

/** Python's repr of a float, which is what FileStore writes into metric files: 1.0, 0.5, 1e-05, 1e+16, nan, inf. */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(v);
  if (abs >= 1e-4 && abs < 1e16) {
    // repr uses fixed notation in this range; JS's shortest digits are the same digits
    let s = String(v);
    if (s.includes('e')) s = v.toFixed(20).replace(/0+$/, '');
    return s.includes('.') ? s : `${s}.0`;
  }
  const [m, e] = v.toExponential().split('e');
  const exp = Number(e);
  return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** Parse a value as Python's float() reads metric files ('nan', 'inf', '-inf', '1e-05', '3'). */
export function parsePyFloat(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'nan' || t === '+nan' || t === '-nan') return NaN;
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  const v = Number(t);
  if (t === '' || Number.isNaN(v)) throw new Error(`not a float: ${JSON.stringify(s)}`);
  return v;
}

/** Python's repr of a string, as str() of a list shows its items: 'a', "it's", '\\'. */
function pyStrRepr(v: string): string {
  const q = v.includes("'") && !v.includes('"') ? '"' : "'";
  const body = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
}

/**
 * A value as MLflow's Python client logs it, str(value): None, True/False, floats as Python prints
 * them (1e-05), lists and dicts as Python shows them ([100, 50], ['a', None], {'k': 1}). Integral
 * numbers print as ints (YAML's 3.0 and 3 are the same number here).
 */
export function pyStr(v: unknown, nested = false): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloat(v);
  if (typeof v === 'string') return nested ? pyStrRepr(v) : v;
  if (v instanceof Date) return nested ? pyStrRepr(v.toISOString()) : v.toISOString();
  if (Array.isArray(v)) return `[${v.map((x) => pyStr(x, true)).join(', ')}]`;
  if (typeof v === 'object')
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pyStrRepr(k)}: ${pyStr(x, true)}`)
      .join(', ')}}`;
  return String(v);
}

/**
 * A nested object as dotted params (`train.optimizer.learning_rate`) with string values written as
 * MLflow's Python client writes them (pyStr: None, True, False, [100, 50], 1e-05).
 */
export function flattenParams(obj: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && !(obj instanceof Date)) {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>))
      Object.assign(out, flattenParams(v, prefix ? `${prefix}.${k}` : k));
  } else if (prefix) {
    out[prefix] = pyStr(obj);
  }
  return out;
}
