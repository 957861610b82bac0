import { parse, stringify } from 'yaml';

/** meta.yaml as MLflow's FileStore writes it (yaml.safe_dump, keys sorted, block style). */
export function dumpMeta(obj: Record<string, unknown>): string {
  const sorted = Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
  return stringify(sorted, { lineWidth: 0, defaultStringType: 'PLAIN', nullStr: 'null' });
}

export function loadMeta<T>(text: string): T {
  return parse(text) as T;
}
