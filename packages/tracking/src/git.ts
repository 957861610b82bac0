import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The .git folder of the checkout containing `from` (following a worktree's `gitdir:` file), or null. */
function gitDir(from: string): string | null {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    const git = path.join(d, '.git');
    if (existsSync(git)) {
      if (statSync(git).isDirectory()) return git;
      const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(git, 'utf8'));
      return m ? path.resolve(d, m[1].trim()) : null;
    }
    if (path.dirname(d) === d) return null;
  }
}

/**
 * The commit checked out (HEAD → ref → loose ref or packed-refs), read from .git without spawning git,
 * for the mlflow.source.git.commit tag; null outside a checkout.
 */
export function gitCommit(from = process.cwd()): string | null {
  try {
    const git = gitDir(from);
    if (!git) return null;
    const head = readFileSync(path.join(git, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40,64}$/.test(head)) return head;
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (!ref) return null;
    // a worktree keeps HEAD locally but refs in the common dir
    const common = existsSync(path.join(git, 'commondir'))
      ? path.resolve(git, readFileSync(path.join(git, 'commondir'), 'utf8').trim())
      : git;
    for (const base of [git, common]) {
      const loose = path.join(base, ref);
      if (existsSync(loose)) return readFileSync(loose, 'utf8').trim();
    }
    for (const base of [git, common]) {
      const packed = path.join(base, 'packed-refs');
      if (!existsSync(packed)) continue;
      const line = readFileSync(packed, 'utf8')
        .split('\n')
        .find((l) => l.endsWith(` ${ref}`));
      if (line) return line.split(' ')[0];
    }
    return null; // a branch without commits yet
  } catch {
    return null;
  }
}
