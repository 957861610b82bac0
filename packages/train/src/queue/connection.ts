// bullmq and ioredis (~15 MiB) load when a queue is opened, not with every `nerflow train`
import type { Queue, ConnectionOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { EnvironmentError, ValidationError } from '@nerflow/core';

/** The BullMQ queue every nerflow trial goes through (one Redis database may hold many sweeps). */
export const QUEUE_NAME = 'nerflow-trials';

/** redis://[user:password@]host:port/db (rediss:// for TLS) → ioredis options; a clear error for anything else. */
export function redisConnection(url: string, worker = false): ConnectionOptions & RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ValidationError(
      `queue ${url}: not a URL. Use redis://host:port/db (e.g. redis://127.0.0.1:6379/0), in sweep.queue, --queue or NERFLOW_QUEUE.`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ValidationError(
      `queue ${url}: not a Redis URL. Use redis://host:port/db (e.g. redis://127.0.0.1:6379/0).`,
    );
  }
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db))
    throw new ValidationError(`queue ${url}: the database after the port must be a number (redis://host:port/0).`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: db ? Number(db) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // a worker blocks on Redis and must not give up on a slow answer; a command-line client fails fast instead
    maxRetriesPerRequest: worker ? null : 3,
    retryStrategy: worker ? (n: number) => Math.min(n * 500, 5000) : (n: number) => (n > 3 ? null : 300),
    connectTimeout: 5000,
  };
}

/** The trial queue and a Redis client for nerflow's own sweep records beside it. */
export interface QueueHandle {
  url: string;
  queue: Queue;
  redis: Redis;
  close(): Promise<void>;
}

/** The queue, once Redis answered; an unreachable Redis is a user error naming the URL. */
export async function openQueue(url: string): Promise<QueueHandle> {
  const options = redisConnection(url);
  const [{ Queue }, { Redis }] = await Promise.all([import('bullmq'), import('ioredis')]);
  const redis = new Redis({ ...options, lazyConnect: true });
  redis.on('error', () => undefined); // reported by the ping below, not as an unhandled event
  try {
    await redis.connect();
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
  } catch (e) {
    redis.disconnect();
    throw new EnvironmentError(
      `queue ${url}: cannot reach Redis (${(e as Error).message || 'connection refused'}). Start it (e.g. \`redis-server --port 6379\`) or fix the URL in sweep.queue, --queue or NERFLOW_QUEUE.`,
    );
  }
  const queue = new Queue(QUEUE_NAME, { connection: options });
  queue.on('error', () => undefined);
  await queue.waitUntilReady(); // closing a Queue that still connects makes its connection throw an unhandled error
  return {
    url,
    queue,
    redis,
    async close() {
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** The queue URL in force: --queue, else NERFLOW_QUEUE, else the config's sweep.queue. */
export function resolveQueueUrl(
  flag: string | undefined,
  configQueue: string | null | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  return flag || env.NERFLOW_QUEUE || configQueue || null;
}
