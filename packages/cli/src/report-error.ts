import { errorKind, systemErrorFix } from '@nerflow/core';

/** How the CLI reports a failure of each kind (core/src/errors.ts): the text for stderr and the exit code. */
export function reportError(e: unknown, verbose: boolean): { text: string; code: number } {
  const err = e as Error | undefined;
  const stack = verbose && err?.stack ? `${err.stack}\n` : '';
  switch (errorKind(e)) {
    case 'user': {
      const code = (e as { code?: unknown }).code;
      return { text: `nerflow: error: ${err?.message}\n${stack}`, code: typeof code === 'number' ? code : 1 };
    }
    case 'environment': {
      const fix = systemErrorFix(e);
      return { text: `nerflow: environment: ${err?.message}${fix ? `. Fix: ${fix}.` : ''}\n${stack}`, code: 1 };
    }
    default:
      return {
        text: `nerflow: internal error (a bug; please report it with this output):\n${err?.stack ?? String(e)}\n`,
        code: 2,
      };
  }
}
