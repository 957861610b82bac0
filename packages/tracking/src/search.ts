import type { RunRecord } from './types.js';

interface Clause {
  kind: 'tags' | 'params' | 'metrics' | 'attributes';
  key: string;
  op: '=' | '!=' | '<' | '<=' | '>' | '>=';
  value: string | number;
}

const KINDS: Record<string, Clause['kind']> = {
  tag: 'tags',
  tags: 'tags',
  param: 'params',
  params: 'params',
  parameter: 'params',
  parameters: 'params',
  metric: 'metrics',
  metrics: 'metrics',
  attribute: 'attributes',
  attributes: 'attributes',
  attr: 'attributes',
  run: 'attributes',
};

const CLAUSE_RE =
  /\s*(\w+)\.(`[^`]+`|"[^"]+"|[\w.\-/]+)\s*(=|!=|<=|>=|<|>)\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[-+\d.eE]+)\s*(?:and\b|$)/iy;

/** Parse a subset of MLflow's search_runs filter grammar (mlflow/utils/search_utils.py): comparisons joined by AND. */
export function parseFilter(filter: string): Clause[] {
  const out: Clause[] = [];
  CLAUSE_RE.lastIndex = 0;
  const text = filter.trim();
  while (CLAUSE_RE.lastIndex < text.length) {
    const at = CLAUSE_RE.lastIndex;
    const m = CLAUSE_RE.exec(text);
    if (!m)
      throw new Error(
        `unsupported search filter at "${text.slice(at)}": use <tags|params|metrics|attributes>.<key> <op> <value> joined by AND`,
      );
    const kind = KINDS[m[1].toLowerCase()];
    if (!kind) throw new Error(`unsupported search filter entity "${m[1]}" (tags, params, metrics or attributes)`);
    const raw = m[4];
    const quoted = /^['"]/.test(raw);
    out.push({
      kind,
      key: m[2].replace(/^[`"]|[`"]$/g, ''),
      op: m[3] as Clause['op'],
      value: quoted ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : Number(raw),
    });
  }
  return out;
}

function attribute(run: RunRecord, key: string): string | number | null | undefined {
  const i = run.info;
  switch (key) {
    case 'run_name':
      return i.run_name;
    case 'run_id':
      return i.run_id;
    case 'status':
      return i.status;
    case 'user_id':
      return i.user_id;
    case 'start_time':
      return i.start_time;
    case 'end_time':
      return i.end_time;
    case 'artifact_uri':
      return i.artifact_uri;
    default:
      throw new Error(`unsupported search attribute "${key}"`);
  }
}

function compare(actual: string | number, op: Clause['op'], value: string | number): boolean {
  switch (op) {
    case '=':
      return actual === value;
    case '!=':
      return actual !== value;
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
  }
}

/** Whether a run matches the filter; a run without the key does not match (as in MLflow). */
export function matchesFilter(run: RunRecord, filter?: string): boolean {
  if (!filter?.trim()) return true;
  return parseFilter(filter).every((c) => {
    const actual =
      c.kind === 'tags'
        ? run.data.tags[c.key]
        : c.kind === 'params'
          ? run.data.params[c.key]
          : c.kind === 'metrics'
            ? run.data.metrics[c.key]
            : attribute(run, c.key);
    if (actual === undefined || actual === null) return false;
    return compare(actual, c.op, typeof actual === 'number' ? Number(c.value) : String(c.value));
  });
}
