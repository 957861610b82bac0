import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { NERFLOW_VERSION } from '@nerflow/nn';
import { CsvError, csvTexts } from './csv.js';
import { inputFromJson, predictionJson } from './io.js';
import { PAGE_HTML } from './page.js';
import type { PredictInput, Prediction, Predictor } from './predictor.js';

export interface ServeLimits {
  /** Request body, bytes (413 above it). */
  maxBodyBytes: number;
  /** Inputs (texts or token lists) per request. */
  maxInputs: number;
  /** Sentences per request, after splitting documents. */
  maxSentences: number;
  /** Tokens per request. */
  maxTokens: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  maxBodyBytes: 1 << 20,
  maxInputs: 1000,
  maxSentences: 1000,
  maxTokens: 50_000,
};

/** The CLI flag of each limit (named in 413 answers). */
const FLAG: Record<keyof ServeLimits, string> = {
  maxBodyBytes: '--max-body-bytes',
  maxInputs: '--max-inputs',
  maxSentences: '--max-sentences',
  maxTokens: '--max-tokens',
};

export interface ServeOptions {
  predictor: Predictor;
  /** What --model named, and the registry version when it came from one (for /version). */
  model: { uri: string; version?: string; runId?: string };
  limits?: Partial<ServeLimits>;
  /** How long the first request of a micro-batch waits for others (ms; default 1, 0 = same event-loop turn only). */
  batchWindowMs?: number;
  /** One access-log line per request (default: stderr). */
  accessLog?: (line: string) => void;
}

/** A client error, answered as MLflow's scoring server answers: {"error_code", "message"} (+ the limit broken). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const bad = (message: string) => new HttpError(400, message);

/** A `text/csv` body (MLflow's CSV input): the texts of its `text` column, else of its first column. */
class CsvBody {
  constructor(readonly texts: string[]) {}
}
const MLFLOW_KEYS = ['inputs', 'instances', 'dataframe_split', 'dataframe_records'];

/** A column-oriented or record value → inputs ({"text": …} or {"tokens": […]} per row). */
function rowsFromColumns(columns: unknown, data: unknown, where: string): PredictInput[] {
  if (!Array.isArray(columns) || !Array.isArray(data))
    throw bad(`${where}: expected {"columns": [...], "data": [[...], ...]}`);
  const col = columns.indexOf('text') >= 0 ? 'text' : columns.indexOf('tokens') >= 0 ? 'tokens' : null;
  if (!col) throw bad(`${where}: no "text" (or "tokens") column; the columns are ${JSON.stringify(columns)}`);
  const at = columns.indexOf(col);
  return data.map((row, i) => {
    if (!Array.isArray(row)) throw bad(`${where}.data[${i}]: expected a row (a list)`);
    return inputOf({ [col]: row[at] }, `${where}.data[${i}]`);
  });
}

function inputOf(v: unknown, where: string): PredictInput {
  try {
    return inputFromJson(v, where).input;
  } catch (e) {
    throw bad((e as Error).message);
  }
}

/**
 * MLflow's scoring-protocol JSON (mlflow/pyfunc/scoring_server: inputs, instances, dataframe_split,
 * dataframe_records) → inputs. Each input is a string, a list of token strings, or {"text"}/{"tokens"}.
 */
export function parseInvocation(body: unknown): PredictInput[] {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw bad(`expected a JSON object with one of ${MLFLOW_KEYS.map((k) => `"${k}"`).join(', ')}`);
  // MLflow's optional "params" (inference parameters of a model signature): a nerflow model has none
  const params = (body as Record<string, unknown>).params;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) throw bad('params: expected an object');
    const names = Object.keys(params);
    if (names.length)
      throw bad(`params: a nerflow model takes no inference parameters (got ${names.map((k) => `"${k}"`).join(', ')})`);
  }
  const keys = Object.keys(body).filter((k) => k !== 'params');
  const known = keys.filter((k) => MLFLOW_KEYS.includes(k));
  const unknown = keys.filter((k) => !MLFLOW_KEYS.includes(k));
  if (unknown.length)
    throw bad(
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}: the body must hold exactly one of ${MLFLOW_KEYS.map((k) => `"${k}"`).join(', ')}`,
    );
  if (known.length !== 1)
    throw bad(
      `the body must hold exactly one of ${MLFLOW_KEYS.map((k) => `"${k}"`).join(', ')} (it has ${known.length})`,
    );
  const key = known[0];
  const v = (body as Record<string, unknown>)[key];
  if (key === 'dataframe_split') {
    const d = v as { columns?: unknown; data?: unknown };
    return rowsFromColumns(d?.columns, d?.data, 'dataframe_split');
  }
  if (key === 'dataframe_records') {
    if (!Array.isArray(v)) throw bad('dataframe_records: expected a list of records, e.g. [{"text": "..."}]');
    return v.map((r, i) => inputOf(r, `dataframe_records[${i}]`));
  }
  // inputs / instances: a string, a list (of strings, token lists or records), or a dict of columns
  if (typeof v === 'string') return [inputOf(v, key)];
  if (Array.isArray(v)) {
    // a flat list of strings is a list of texts (MLflow: a 1-D string tensor), not one token list
    return v.map((x, i) => inputOf(x, `${key}[${i}]`));
  }
  if (v && typeof v === 'object') {
    const cols = v as Record<string, unknown>;
    const col = 'text' in cols ? 'text' : 'tokens' in cols ? 'tokens' : null;
    if (!col) throw bad(`${key}: no "text" (or "tokens") column; the columns are ${JSON.stringify(Object.keys(cols))}`);
    const values = cols[col];
    if (col === 'text' && typeof values === 'string') return [inputOf(values, `${key}.text`)];
    if (!Array.isArray(values)) throw bad(`${key}.${col}: expected a list`);
    return values.map((x, i) => inputOf({ [col]: x }, `${key}.${col}[${i}]`));
  }
  throw bad(`${key}: expected a string, a list or an object of columns`);
}

/**
 * Micro-batching: requests that arrive within the batch window of the first (or while every inference worker
 * is busy) are tagged together in one Predictor.predictAsync call (one set of kernel batches), then answered
 * each. Up to `parallel` such calls run at once (one per inference worker thread).
 */
class Batcher {
  private queue: { inputs: PredictInput[]; resolve: (p: Prediction[]) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private busy = 0;
  batches = 0;
  requests = 0;

  constructor(
    private readonly predictor: Predictor,
    private readonly maxInputs: number,
    private readonly windowMs: number,
    private readonly parallel: number,
  ) {}

  run(inputs: PredictInput[]): Promise<Prediction[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ inputs, resolve, reject });
      // wait a moment for the requests arriving together (0 = only those of this event-loop turn)
      this.schedule(this.windowMs);
    });
  }

  private schedule(windowMs: number): void {
    if (this.scheduled || !this.queue.length || this.busy >= this.parallel) return;
    this.scheduled = true;
    if (windowMs > 0) setTimeout(() => this.flush(), windowMs);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.busy >= this.parallel || !this.queue.length) return;
    const take: typeof this.queue = [];
    let n = 0;
    while (this.queue.length && (n === 0 || n + this.queue[0].inputs.length <= this.maxInputs)) {
      const q = this.queue.shift()!;
      take.push(q);
      n += q.inputs.length;
    }
    this.batches++;
    this.requests += take.length;
    this.busy++;
    const answer = (all: Prediction[]) => {
      let at = 0;
      for (const q of take) {
        q.resolve(all.slice(at, at + q.inputs.length));
        at += q.inputs.length;
      }
    };
    let call: Promise<Prediction[]>;
    try {
      call = this.predictor.predictAsync(take.flatMap((q) => q.inputs));
    } catch (e) {
      call = Promise.reject(e);
    }
    call
      .then(answer, (e: unknown) => {
        for (const q of take) q.reject(e);
      })
      .finally(() => {
        this.busy--;
        this.schedule(0); // the requests that queued meanwhile
      });
    this.schedule(0); // more than one call's worth queued: the next worker takes it
  }
}

function sendError(reply: FastifyReply, status: number, message: string, extra: Record<string, unknown> = {}) {
  const code = status === 413 ? 'RESOURCE_LIMIT_EXCEEDED' : status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST';
  return reply
    .code(status)
    .type('application/json')
    .send({ error_code: code, message, ...extra });
}

/** The HTTP server (not listening yet): MLflow's scoring protocol, /v1/ner, the page at /. */
export function createServer(o: ServeOptions): FastifyInstance & { batcher: { batches: number; requests: number } } {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const { predictor } = o;
  const batcher = new Batcher(
    predictor,
    Math.max(limits.maxInputs, 256),
    o.batchWindowMs ?? 1,
    Math.max(1, predictor.engine.threads),
  );
  const accessLog = o.accessLog ?? ((l: string) => process.stderr.write(l + '\n'));
  const app = Fastify({
    bodyLimit: limits.maxBodyBytes,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: false,
  });
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  // JSON bodies decoded strictly: invalid UTF-8 and invalid JSON are 400s with a reason
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json'], { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      done(new HttpError(400, 'the request body is not valid UTF-8'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new HttpError(400, `the request body is not valid JSON (${(e as Error).message})`), undefined);
    }
  });

  // CSV bodies (POST /invocations only): a header row, then one text per row
  app.addContentTypeParser(['text/csv'], { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    try {
      done(null, new CsvBody(csvTexts(utf8.decode(body))));
    } catch (e) {
      const why = e instanceof CsvError ? e.message : 'the request body is not valid UTF-8';
      done(new HttpError(400, why), undefined);
    }
  });

  app.addHook('onResponse', (req, reply, done) => {
    const ms = reply.elapsedTime.toFixed(1);
    accessLog(
      `${new Date().toISOString()} ${req.ip} "${req.method} ${req.url}" ${reply.statusCode} ${reply.getHeader('content-length') ?? '-'} ${ms}ms`,
    );
    done();
  });

  app.setErrorHandler((err: FastifyError | HttpError, _req, reply) => {
    if (err instanceof HttpError) return sendError(reply, err.status, err.message, err.extra);
    const e = err as FastifyError;
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(
        reply,
        413,
        `request body larger than the limit of ${limits.maxBodyBytes} bytes (server flag ${FLAG.maxBodyBytes})`,
        { limit: 'max_body_bytes', max: limits.maxBodyBytes },
      );
    }
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendError(
        reply,
        415,
        `unsupported content type ${JSON.stringify(_req.headers['content-type'] ?? '')}: send JSON with Content-Type: application/json (POST /invocations also takes text/csv with a header row)`,
      );
    }
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return sendError(reply, e.statusCode, e.message);
    accessLog(`nerflow serve: internal error: ${(e as Error).stack ?? String(e)}`);
    return sendError(reply, 500, 'internal error while tagging (a bug; the server log has the details)');
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      404,
      `no route ${req.method} ${req.url}: POST /invocations, POST /v1/ner, GET /ping, /health, /version, /`,
    ),
  );

  /** Count sentences and tokens before the model runs: 413 naming the limit when over it. */
  const checkLimits = (inputs: PredictInput[]) => {
    if (!inputs.length) throw bad('no inputs: send at least one text');
    if (inputs.length > limits.maxInputs)
      throw new HttpError(
        413,
        `${inputs.length} inputs in one request, over the limit of ${limits.maxInputs} (server flag ${FLAG.maxInputs})`,
        { limit: 'max_inputs', max: limits.maxInputs },
      );
    let sentences = 0;
    let tokens = 0;
    inputs.forEach((x, i) => {
      if (x.text !== undefined && !x.text.trim()) throw bad(`input ${i}: the text is empty`);
      if (x.tokens !== undefined && !x.tokens.length) throw bad(`input ${i}: the token list is empty`);
      const p = predictor.prepare(x);
      sentences += p.sentences.length;
      tokens += p.tokens.length;
    });
    if (sentences > limits.maxSentences)
      throw new HttpError(
        413,
        `${sentences} sentences in one request, over the limit of ${limits.maxSentences} (server flag ${FLAG.maxSentences})`,
        { limit: 'max_sentences', max: limits.maxSentences },
      );
    if (tokens > limits.maxTokens)
      throw new HttpError(
        413,
        `${tokens} tokens in one request, over the limit of ${limits.maxTokens} (server flag ${FLAG.maxTokens})`,
        { limit: 'max_tokens', max: limits.maxTokens },
      );
  };

  app.post('/invocations', async (req) => {
    const inputs =
      req.body instanceof CsvBody
        ? req.body.texts.map((t, i) => inputOf(t, `CSV row ${i + 1}`))
        : parseInvocation(req.body);
    checkLimits(inputs);
    const preds = await batcher.run(inputs);
    return { predictions: preds.map((p) => predictionJson(p)) };
  });

  app.post('/v1/ner', async (req) => {
    if (req.body instanceof CsvBody)
      throw new HttpError(415, 'POST /v1/ner takes JSON ({"text": "..."}); CSV is for POST /invocations');
    const body = req.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw bad('expected a JSON object: {"text": "..."} or {"tokens": ["...", ...]}');
    const input = inputOf(body, 'body');
    checkLimits([input]);
    const [p] = await batcher.run([input]);
    return predictionJson(p);
  });

  app.get('/ping', async (_req, reply) => reply.type('application/json').send('\n'));
  app.get('/health', async () => ({ status: 'ok', batches: batcher.batches, requests: batcher.requests }));
  app.get('/version', async () => ({
    nerflow_version: NERFLOW_VERSION,
    model_uri: o.model.uri,
    model_version: o.model.version ?? null,
    run_id: o.model.runId ?? null,
    format_version: predictor.meta.format_version,
    tokenizer: predictor.meta.tokenizer,
    tags: predictor.tags,
    tag_scheme: predictor.scheme,
    output_tag_scheme: predictor.outScheme ?? predictor.scheme,
    chars: !!predictor.chars,
    head: predictor.meta.spec.head ?? 'softmax',
    engine: predictor.engine,
    limits,
  }));
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE_HTML));
  return Object.assign(app, { batcher });
}
