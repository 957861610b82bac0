import { TrackingEnvironmentError } from './errors.js';

/** An MLflow REST call that failed: the HTTP status and MLflow's error_code when the server sent one. */
export class TrackingServerError extends TrackingEnvironmentError {
  constructor(
    message: string,
    readonly status?: number,
    readonly errorCode?: string,
    readonly url?: string,
  ) {
    super(`MLflow: ${message}`);
    this.name = 'TrackingServerError';
  }
}

/** The tracking server could not be reached at all (connection refused, DNS, timeout) after every retry. */
export class TrackingServerUnreachableError extends TrackingServerError {
  constructor(
    readonly trackingUri: string,
    url: string,
    cause: string,
    attempts: number,
  ) {
    super(
      `cannot reach the MLflow tracking server at ${trackingUri} (${cause}; ${attempts} attempt${attempts === 1 ? '' : 's'}, last ${url}). ` +
        'Start one with `mlflow server` (e.g. `mlflow server --host 127.0.0.1 --port 5000`) or unset MLFLOW_TRACKING_URI to log to the local file store.',
      undefined,
      'UNREACHABLE',
      url,
    );
    this.name = 'TrackingServerUnreachableError';
  }
}

export interface HttpOptions {
  /** Retries after the first attempt for 429, 5xx and connection errors (env MLFLOW_HTTP_REQUEST_MAX_RETRIES; default 4). */
  retries?: number;
  /** First backoff; doubles per retry (env MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, seconds; default 500 ms). */
  backoffMs?: number;
  /** Cap on one backoff, also on a server's Retry-After (default 10 s). */
  maxBackoffMs?: number;
  /** Per-request timeout (env MLFLOW_HTTP_REQUEST_TIMEOUT, seconds; default 120 s as MLflow). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

/**
 * Authorization as MLflow's client sends it (mlflow/utils/rest_utils.py MlflowHostCreds: "token ... If
 * provided, user/password authentication will be ignored"): MLFLOW_TRACKING_TOKEN → Bearer, else
 * MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (both) → Basic.
 */
export function authHeader(env: NodeJS.ProcessEnv): Record<string, string> {
  if (env.MLFLOW_TRACKING_TOKEN) return { Authorization: `Bearer ${env.MLFLOW_TRACKING_TOKEN}` };
  if (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD) {
    return {
      Authorization: `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD}`).toString('base64')}`,
    };
  }
  return {};
}

const num = (v: string | undefined) =>
  v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined;

/** fetch with MLflow's auth, bounded exponential backoff on 429/5xx/connection errors, and clear errors. */
export class HttpClient {
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeoutMs: number;
  private readonly auth: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(
    readonly trackingUri: string,
    o: HttpOptions = {},
  ) {
    const env = o.env ?? process.env;
    this.retries = o.retries ?? num(env.MLFLOW_HTTP_REQUEST_MAX_RETRIES) ?? 4;
    this.backoffMs =
      o.backoffMs ??
      (num(env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR) !== undefined
        ? num(env.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR)! * 1000
        : 500);
    this.maxBackoffMs = o.maxBackoffMs ?? 10_000;
    this.timeoutMs = o.timeoutMs ?? (num(env.MLFLOW_HTTP_REQUEST_TIMEOUT) ?? 120) * 1000;
    this.auth = authHeader(env);
    this.fetchImpl = o.fetch ?? fetch;
  }

  private delay(attempt: number, retryAfter: string | null): number {
    const hinted = retryAfter !== null && Number.isFinite(Number(retryAfter)) ? Number(retryAfter) * 1000 : undefined;
    return Math.min(this.maxBackoffMs, hinted ?? this.backoffMs * 2 ** (attempt - 1));
  }

  /** One request; returns the body text of a 2xx answer. */
  async request(
    method: string,
    url: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<string> {
    return (await this.requestBytes(method, url, body, headers)).toString('utf8');
  }

  /**
   * One attempt: the request and its whole body within timeoutMs. The deadline is a timer of this process
   * raced against fetch, not only an abort signal handed to fetch: a fetch promise that never settles
   * (undici losing its socket: the hang of issue 17) still ends in a retryable error naming the URL. A 2xx
   * whose body breaks off is an error too (it used to read as an empty answer).
   */
  private async exchange(
    method: string,
    url: string,
    body: string | Uint8Array | undefined,
    headers: Record<string, string>,
  ): Promise<{ res: Response; bytes: Buffer }> {
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const seconds = +(this.timeoutMs / 1000).toFixed(3);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new Error(`no answer within ${seconds} s (MLFLOW_HTTP_REQUEST_TIMEOUT)`);
        ac.abort(e);
        reject(e);
      }, this.timeoutMs);
    });
    const exchange = (async () => {
      const res = await this.fetchImpl(url, { method, headers: { ...headers, ...this.auth }, body, signal: ac.signal });
      let bytes: Buffer;
      try {
        bytes = Buffer.from(await res.arrayBuffer());
      } catch (e) {
        if (res.ok) throw new Error(`the answer broke off (${(e as Error).message})`);
        bytes = Buffer.alloc(0);
      }
      return { res, bytes };
    })();
    try {
      return await Promise.race([exchange, deadline]);
    } finally {
      clearTimeout(timer);
      exchange.catch(() => undefined); // settles after the deadline won (or never): nobody waits for it
    }
  }

  /** One request; returns the body bytes of a 2xx answer (artifact downloads). */
  async requestBytes(
    method: string,
    url: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<Buffer> {
    let lastCause = '';
    let lastServerError: TrackingServerError | null = null;
    let retryAfter: string | null = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, this.delay(attempt, retryAfter)));
      let res: Response;
      let bytes: Buffer;
      try {
        ({ res, bytes } = await this.exchange(method, url, body, headers));
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        lastCause = err.cause?.code ?? err.cause?.message ?? err.message;
        lastServerError = null;
        retryAfter = null;
        continue;
      }
      if (res.ok) return bytes;
      const text = bytes.toString('utf8');
      let errorCode: string | undefined;
      let message = text.slice(0, 500);
      try {
        const j = JSON.parse(text) as { error_code?: string; message?: string };
        errorCode = j.error_code;
        message = j.message ?? message;
      } catch {
        /* not JSON */
      }
      const error = new TrackingServerError(
        `${method} ${url}: HTTP ${res.status}${errorCode ? ` ${errorCode}` : ''}${message ? `: ${message}` : ''}`,
        res.status,
        errorCode,
        url,
      );
      if (res.status !== 429 && res.status < 500) throw error;
      lastServerError = error;
      retryAfter = res.headers.get('retry-after');
    }
    if (lastServerError) {
      lastServerError.message += ` (gave up after ${this.retries + 1} attempts)`;
      throw lastServerError;
    }
    throw new TrackingServerUnreachableError(this.trackingUri, url, lastCause || 'no answer', this.retries + 1);
  }
}
