/**
 * Terminal output: messages on stderr (stdout stays clean for tables and data), a progress bar
 * on a TTY that degrades to a few plain lines in CI logs.
 */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
  progress(label: string, total: number, unit?: string): Progress;
}

export interface Progress {
  /** Advance to `done` (absolute); `extra` is shown after the counts (e.g. loss). */
  update(done: number, extra?: string): void;
  finish(extra?: string): void;
}

export function fmtSeconds(s: number): string {
  if (!isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

export function createLogger(
  opts: { verbose?: boolean; quiet?: boolean; stream?: NodeJS.WriteStream; tty?: boolean } = {},
): Logger {
  const out = opts.stream ?? process.stderr;
  const tty = opts.tty ?? (!!out.isTTY && !process.env.CI);
  const write = (s: string) => out.write(s + '\n');
  return {
    info: (m) => {
      if (!opts.quiet) write(m);
    },
    warn: (m) => write(`warning: ${m}`),
    debug: (m) => {
      if (opts.verbose) write(`debug: ${m}`);
    },
    progress(label, total, unit = '') {
      const start = performance.now();
      let lastDraw = 0;
      let lastPct = -1;
      const line = (done: number, extra?: string) => {
        const el = (performance.now() - start) / 1000;
        const rate = done / Math.max(el, 1e-9);
        const eta = total > done && rate > 0 ? (total - done) / rate : 0;
        const pct = total ? Math.min(100, (100 * done) / total) : 100;
        return {
          pct,
          text: `${label} ${fmtInt(done)}/${fmtInt(total)}${unit ? ' ' + unit : ''} ${pct.toFixed(0)}% ${fmtSeconds(el)} elapsed${done < total ? `, ETA ${fmtSeconds(eta)}` : ''}${extra ? ' ' + extra : ''}`,
        };
      };
      return {
        update(done, extra) {
          if (opts.quiet) return;
          const now = performance.now();
          if (tty) {
            if (now - lastDraw < 100) return;
            lastDraw = now;
            const { pct, text } = line(done, extra);
            const width = 24;
            const filled = Math.round((pct / 100) * width);
            out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
          } else {
            const { pct, text } = line(done, extra);
            const step = Math.floor(pct / 25);
            if (step > lastPct && step < 4) {
              lastPct = step;
              if (step > 0) write(text);
            }
          }
        },
        finish(extra) {
          if (opts.quiet) return;
          const { text } = line(total, extra);
          if (tty) out.write(`\r\x1b[2K${text}\n`);
          else write(text);
        },
      };
    },
  };
}

/** A logger that prints nothing (tests). */
export const silentLogger: Logger = createLogger({ quiet: true });
