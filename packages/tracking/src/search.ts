import type { RunRecord } from './types.js';

/**
 * A subset of MLflow's search filter: clauses `<tags|params|metrics|attributes>.<key> <op> <value>`
 * joined by AND; ops = != (strings and numbers), < <= > >= (metrics); keys may be `backticked`.
 */
export function matchesFilter(run: RunRecord, filter?: string): boolean {
  if (!filter?.trim()) return true;
  return filter.split(/\s+and\s+/i).every((clause) => {
    const m = /^\s*(tags|tag|params|param|metrics|metric|attributes|attribute)\.(`[^`]+`|"[^"]+"|[\w.\-/:]+)\s*(=|!=|<=|>=|<|>)\s*('(?:[^']*)'|"(?:[^"]*)"|[-\d.eE+]+)\s*$/.exec(clause);
    if (!m) throw new Error(`unsupported search filter clause: ${clause}`);
    const [, kind, rawKey, op, rawValue] = m;
    const key = rawKey.replace(/^[`"]|[`"]$/g, '');
    const value = rawValue.replace(/^['"]|['"]$/g, '');
    let actual: string | number | undefined;
    if (kind.startsWith('tag')) actual = run.data.tags[key];
    else if (kind.startsWith('param')) actual = run.data.params[key];
    else if (kind.startsWith('metric')) actual = run.data.metrics[key];
    else actual = key === 'run_name' ? run.info.run_name : key === 'status' ? run.info.status : key === 'run_id' ? run.info.run_id : undefined;
    if (actual === undefined) return false;
    if (typeof actual === 'number') {
      const v = Number(value);
      return op === '=' ? actual === v : op === '!=' ? actual !== v : op === '<' ? actual < v : op === '<=' ? actual <= v : op === '>' ? actual > v : actual >= v;
    }
    return op === '=' ? actual === value : op === '!=' ? actual !== value : false;
  });
}
