export interface TrialRow {
  trial: string;
  entity_f1: number | null;
  token_macro_f1: number | null;
  epochs: number | null;
  train_seconds: number | null;
  status: string;
}

const fmt = (v: number | null, digits = 4) => (v === null || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The trials of a config ranked by test entity F1, as a fixed-width table for the terminal. */
export function formatTrialsTable(rows: TrialRow[]): string {
  const sorted = [...rows].sort((a, b) => (b.entity_f1 ?? -1) - (a.entity_f1 ?? -1) || a.trial.localeCompare(b.trial));
  const head = ['rank', 'trial', 'entity F1', 'token macro F1', 'epochs', 'train time', 'status'];
  const body = sorted.map((r, i) => [
    String(i + 1),
    r.trial,
    fmt(r.entity_f1),
    fmt(r.token_macro_f1),
    r.epochs === null ? '—' : String(r.epochs),
    r.train_seconds === null ? '—' : `${r.train_seconds.toFixed(0)} s`,
    r.status,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((v, c) => (c >= 2 && c <= 5 ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
