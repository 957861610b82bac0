// For tests that run nerflow in a copy of this checkout (the queue's workers, the Nx plugin's workspace): the copy's
// node_modules link every dependency to the checkout's, except @nerflow/*, which link to the copy's own packages,
// so the code that runs (and the code nerflow fingerprints) is the copy's.
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';

/** Links dest/node_modules (and each dest/packages/<p>/node_modules) as above; dest/packages must be copied already. */
export function linkNodeModules(src: string, dest: string): void {
  mkdirSync(path.join(dest, 'node_modules', '@nerflow'), { recursive: true });
  for (const name of readdirSync(path.join(src, 'node_modules'))) {
    if (name !== '@nerflow') symlinkSync(path.join(src, 'node_modules', name), path.join(dest, 'node_modules', name));
  }
  for (const p of readdirSync(path.join(src, 'packages'))) {
    symlinkSync(path.join(dest, 'packages', p), path.join(dest, 'node_modules', '@nerflow', p));
    const nm = path.join(src, 'packages', p, 'node_modules');
    if (existsSync(nm)) symlinkSync(nm, path.join(dest, 'packages', p, 'node_modules'));
  }
}
