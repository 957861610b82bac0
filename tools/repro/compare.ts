import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Compare two runs/<name> folders produced from the same config: every manifest (fingerprint, counts,
 * each output's sha256 — Arrow files, model weights, reports) and every metric in history.json and
 * report.json must be identical. Clock times (run.json), MLflow stores and work folders are skipped.
 * Returns one line per difference; empty means the run reproduced.
 */
export function compareRunDirs(a: string, b: string): string[] {
  const diffs: string[] = [];
  const filesA = listFiles(a);
  const filesB = new Set(listFiles(b));
  for (const rel of filesA) {
    const base = path.basename(rel);
    if (!['manifest.json', 'history.json', 'report.json'].includes(base)) continue;
    if (!filesB.has(rel)) {
      diffs.push(`${rel}: only in the first run`);
      continue;
    }
    const ja = JSON.parse(readFileSync(path.join(a, rel), 'utf8'));
    const jb = JSON.parse(readFileSync(path.join(b, rel), 'utf8'));
    if (base === 'manifest.json') {
      const ma = ja as { fingerprint: string; outputs: { path: string; sha256: string }[] };
      const mb = jb as typeof ma;
      if (ma.fingerprint !== mb.fingerprint)
        diffs.push(`${rel}: fingerprint ${ma.fingerprint.slice(0, 12)} ≠ ${mb.fingerprint.slice(0, 12)}`);
      const outB = new Map(mb.outputs.map((o) => [o.path, o.sha256]));
      for (const o of ma.outputs) {
        const other = outB.get(o.path);
        if (other === undefined) diffs.push(`${path.join(path.dirname(rel), o.path)}: only in the first run`);
        else if (other !== o.sha256)
          diffs.push(
            `${path.join(path.dirname(rel), o.path)}: sha256 ${o.sha256.slice(0, 12)} ≠ ${other.slice(0, 12)}`,
          );
        outB.delete(o.path);
      }
      for (const p of outB.keys()) diffs.push(`${path.join(path.dirname(rel), p)}: only in the second run`);
    }
    for (const d of diffJson(ja, jb, '')) diffs.push(`${rel}: ${d}`);
  }
  for (const rel of filesB)
    if (['manifest.json', 'history.json', 'report.json'].includes(path.basename(rel)) && !filesA.includes(rel))
      diffs.push(`${rel}: only in the second run`);
  return [...new Set(diffs)];
}

function listFiles(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'mlruns' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, base));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

/** Paths where two JSON values differ (numbers compared exactly). */
export function diffJson(a: unknown, b: unknown, at: string): string[] {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null))
    return [`${at || '(root)'}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`];
  if (a && typeof a === 'object') {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    return [...keys].flatMap((k) =>
      diffJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k),
    );
  }
  return Object.is(a, b) ? [] : [`${at || '(root)'}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`];
}
