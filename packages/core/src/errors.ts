/**
 * The three kinds of failure, and how the CLI reports each (packages/cli/src/report-error.ts):
 * - user: the user's input (config, data, flags) is wrong. `nerflow: error: …` naming the file, line or
 *   key and the fix; exit 1, no stack (unless --verbose). ValidationError, ExitError.
 * - environment: the machine or a service around nerflow is not as needed (a tracking server down, a
 *   native backend that does not load, a store lock held, a full disk). `nerflow: environment: …` naming
 *   the fix; exit 1. EnvironmentError, or any error with `kind: 'environment'` (packages that import
 *   nothing of nerflow, like tracking, mark their errors so), or a Node system error such as ENOSPC.
 * - bug: anything else. `nerflow: internal error …` with the stack; exit 2.
 */
export type ErrorKind = 'user' | 'environment' | 'bug';

export class ValidationError extends Error {
  readonly kind = 'user';
  /** Every problem found, each a full sentence naming the file/line/key and the fix. */
  readonly problems: string[];
  constructor(problems: string | string[], headline?: string) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(
      headline
        ? `${headline}\n${list.map((p) => `  - ${p}`).join('\n')}`
        : list.length === 1
          ? list[0]
          : list.map((p) => `- ${p}`).join('\n'),
    );
    this.name = 'ValidationError';
    this.problems = list;
  }
}

/** Stop with a given exit code and a message that already explains what to do. */
export class ExitError extends Error {
  readonly kind = 'user';
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.name = 'ExitError';
    this.code = code;
  }
}

/** The environment is not as needed; the message names what is wrong and the fix. */
export class EnvironmentError extends Error {
  readonly kind = 'environment';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EnvironmentError';
  }
}

/** Node system errors that are the machine's state, not nerflow's logic, and what to do about each. */
const SYSTEM_FIXES: Record<string, string> = {
  ENOSPC: 'free disk space (or point NERFLOW_RUNS_DIR at a larger disk) and run the command again',
  EDQUOT: 'free space within your disk quota and run the command again',
  EACCES: 'give your user write access to that path, or run from a folder you own',
  EPERM: 'give your user write access to that path, or run from a folder you own',
  EROFS: 'the file system is read-only: run from a writable folder (or set NERFLOW_RUNS_DIR)',
  EMFILE: 'raise the open-file limit (ulimit -n) and run the command again',
  ENFILE: 'the system is out of file handles: close other programs and run the command again',
  ENOMEM: 'the machine is out of memory: close other programs or lower train.batch_size',
};

/** The fix for a Node system error that is the environment's doing (ENOSPC …), else null. */
export function systemErrorFix(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code in SYSTEM_FIXES ? SYSTEM_FIXES[code] : null;
}

export function errorKind(e: unknown): ErrorKind {
  const kind = (e as { kind?: unknown } | null)?.kind;
  if (kind === 'user' || kind === 'environment') return kind;
  return systemErrorFix(e) ? 'environment' : 'bug';
}
