// Which test files there are: every *.test.ts / *.test.mjs under packages/ and tools/ (not node_modules,
// not dot-folders). `npm test` (tools/test.mjs) and the Nx `test` targets (tools/nx-plugin/workspace.mjs)
// both take their files from here, so they always run the same tests.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.test\.(ts|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

/** Absolute paths, sorted; with filters (absolute paths), only the files under one of them. */
export function testFiles(root, filters = []) {
  return [...walk(path.join(root, 'packages'), []), ...walk(path.join(root, 'tools'), [])]
    .filter((f) => !filters.length || filters.some((flt) => f === flt || f.startsWith(flt + path.sep)))
    .sort();
}
