import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../../../tracking/src/test-helpers/free-port.js';

/**
 * A real redis-server (Debian's `redis-server`; `.ci/run` installs it) for tests: a fresh, empty one on a free
 * loopback port, no persistence, its files in a temp folder. `redisSkip` says why when the binary is missing,
 * for `test(name, { skip: redisSkip }, ...)`.
 */

const BIN = process.env.NERFLOW_REDIS_SERVER ?? 'redis-server';

export const redisSkip: string | false =
  spawnSync(BIN, ['--version'], { stdio: 'ignore' }).status === 0
    ? false
    : `${BIN} not found (apt-get install redis-server, or set NERFLOW_REDIS_SERVER)`;

export interface RealRedis {
  /** redis://127.0.0.1:PORT/0 */
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<RealRedis> {
  if (redisSkip) throw new Error(redisSkip);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nerflow-redis-'));
  const port = await freePort();
  const p = spawn(
    BIN,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  p.stdout!.on('data', (d) => (out = (out + d).slice(-4000)));
  p.stderr!.on('data', (d) => (out = (out + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  for (let i = 0; !(await answers(port)); i++) {
    if (p.exitCode !== null || i > 100) {
      p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`redis-server did not start on port ${port}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async stop() {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (p.exitCode === null) p.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
