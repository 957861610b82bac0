/**
 * MLflow's key rules (mlflow/utils/validation.py _validate_metric_name etc.): alphanumerics,
 * underscores, dashes, periods, spaces, colons and slashes; no `..`, not absolute.
 */
const KEY_RE = /^[/\w.\- :]*$/;

export function validateKey(kind: 'metric' | 'param' | 'tag', key: string): void {
  if (!key || !KEY_RE.test(key) || key.split('/').includes('..') || key.startsWith('/')) {
    throw new Error(`invalid MLflow ${kind} name ${JSON.stringify(key)}: use letters, digits, _ - . space : / (no "..", not starting with /)`);
  }
}

/** Python's repr of a float (what MLflow writes in metric files): 1.0, 1e-05, nan, inf. */
export function pyFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return '-0.0';
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  const abs = Math.abs(v);
  let s = String(v);
  if (abs >= 1e-4 && abs < 1e16) {
    if (s.includes('e')) s = v.toFixed(20).replace(/0+$/, ''); // JS uses exponents below 1e-6
    return s;
  }
  // exponent form, Python style: mantissa e±XX (at least two exponent digits)
  const [m, e] = v.toExponential().split('e');
  const exp = Number(e);
  return `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** Flatten a nested object to dotted keys with string values (the resolved config as params). */
export function flattenParams(obj: unknown, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) Object.assign(out, flattenParams(v, prefix ? `${prefix}.${k}` : k));
  } else if (prefix) {
    out[prefix] = obj === null || obj === undefined ? 'None' : typeof obj === 'string' ? obj : JSON.stringify(obj);
  }
  return out;
}
