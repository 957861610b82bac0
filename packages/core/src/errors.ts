/**
 * The two error kinds the CLI knows how to print.
 * - ValidationError: the user's input (config, data, flags) is wrong. Exit code 1, no stack trace.
 * - ExitError: stop with a given exit code and message (already explained to the user).
 * Anything else is a bug: exit code 2 with the stack.
 */
export class ValidationError extends Error {
  /** Every problem found, each a full sentence naming the file/line/key and the fix. */
  readonly problems: string[];
  constructor(problems: string | string[], headline?: string) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(headline ? `${headline}\n${list.map((p) => `  - ${p}`).join('\n')}` : list.length === 1 ? list[0] : list.map((p) => `- ${p}`).join('\n'));
    this.name = 'ValidationError';
    this.problems = list;
  }
}

export class ExitError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.name = 'ExitError';
    this.code = code;
  }
}

export function isUserError(e: unknown): e is ValidationError | ExitError {
  return e instanceof ValidationError || e instanceof ExitError;
}
