import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fmtInt, ValidationError, type Logger } from '@nerflow/core';
import { formatPrediction, inputFormatOf, readRecordChunks, type OutputFormat, type Record } from './io.js';
import { Predictor, type Prediction, type PredictorOptions } from './predictor.js';

export interface PredictOptions extends Pick<PredictorOptions, 'threads' | 'kernel' | 'tagScheme'> {
  /** A model folder (already resolved: see resolveModel). */
  modelDir: string;
  /** Input file; undefined or '-' = stdin. */
  input?: string;
  /** Output file; undefined or '-' = stdout. Written to a temporary file and renamed when complete. */
  output?: string;
  inputFormat?: string;
  format: OutputFormat;
  /** Inputs per kernel batch group (memory stays bounded by it). */
  batchSize?: number;
  log: Logger;
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
}

/**
 * `nerflow predict`: stream inputs → batches → the model → one output record per input, in input order.
 * Memory stays bounded whatever the input size: a few groups of inputs in flight (each batchSize inputs or ~1 MB
 * of text), a 1 MB read chunk and up to ~4 MB of output waiting to be written.
 */
export async function predictStream(
  o: PredictOptions,
): Promise<{ inputs: number; sentences: number; entities: number; seconds: number }> {
  const fromFile = o.input && o.input !== '-';
  if (fromFile && !existsSync(o.input!)) throw new ValidationError(`--input ${o.input}: no such file`);
  const format = inputFormatOf(fromFile ? o.input : undefined, o.inputFormat);
  const tLoad = performance.now();
  const predictor = await Predictor.load(o.modelDir, {
    batchSize: 256,
    threads: o.threads,
    kernel: o.kernel,
    tagScheme: o.tagScheme,
    callerComputes: true,
  });
  o.log.debug(
    `predict: ${predictor.meta.kind} model, ${predictor.scheme} tags, head ${predictor.meta.spec.head ?? 'softmax'}${predictor.chars ? ', char CNN' : ''}; kernel ${predictor.engine.kernel} on ${predictor.engine.threads} thread(s)`,
  );
  const group = o.batchSize ?? 1024;
  const source = fromFile ? o.input! : 'stdin';
  const total = fromFile ? statSync(o.input!).size : 0;
  const bar = total > 4 << 20 ? o.log.progress('predict', Math.ceil(total / 1e6), 'MB') : null;
  const toFile = o.output && o.output !== '-';
  const tmp = toFile
    ? path.join(path.dirname(path.resolve(o.output!)), `.${path.basename(o.output!)}.${process.pid}.tmp`)
    : '';
  if (toFile) await mkdir(path.dirname(tmp), { recursive: true });
  const fh = toFile ? await open(tmp, 'w') : null;
  const out = o.stdout ?? process.stdout;
  // a file's writes go out in order in the background (this thread computes meanwhile; it waits only when
  // ~4 MB are queued, and for all of them before the file is closed)
  let writing: Promise<unknown> = Promise.resolve();
  let queued = 0;
  const write = async (s: string) => {
    if (fh) {
      queued += s.length;
      writing = writing.then(() => fh.write(s)).then(() => (queued -= s.length));
      writing.catch(() => undefined); // awaited below: never an unhandled rejection meanwhile
      if (queued > 4 << 20) await writing;
    } else if (!out.write(s)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  const t0 = performance.now();
  // the timeline of the run (--verbose): load, first records written, last predictions in, output closed
  let firstOut = 0;
  let lastIn = 0;
  let inputs = 0;
  let sentences = 0;
  let entities = 0;
  let bytes = 0;
  let pending: Record[] = [];
  let pendingChars = 0;
  // a pipeline: groups of inputs go to the inference engine as they are read, written in input order. This thread
  // reads, tokenizes and writes, and computes batches no worker has taken yet instead of waiting. From `depth`
  // groups in flight on it lends itself to the batches; when none is left to take (the worker holds the rest) it
  // reads ahead, up to `depth + 2` groups (memory stays bounded), rather than wait
  const depth = Math.max(2, predictor.engine.threads + 1);
  const settle = () => new Promise<void>((r) => setImmediate(r)); // lets the workers' answers in
  const inFlight: { records: Record[]; done: Promise<Prediction[]>; settled: boolean }[] = [];
  const writeOldest = async () => {
    const { records, done } = inFlight.shift()!;
    const preds = await done;
    if (!firstOut) firstOut = performance.now();
    const lines = new Array<string>(preds.length);
    for (let i = 0; i < preds.length; i++) {
      sentences += preds[i].sentences.length;
      entities += preds[i].entities.length;
      lines[i] = formatPrediction(preds[i], o.format, records[i].id);
    }
    inputs += records.length;
    await write(lines.join(''));
    bar?.update(Math.round(bytes / 1e6), `${fmtInt(inputs)} inputs`);
  };
  const flush = async () => {
    if (pending.length) {
      const records = pending;
      const done = predictor.predictAsync(records.map((r) => r.input));
      const entry = { records, done, settled: false };
      // awaited in order by writeOldest; never an unhandled rejection meanwhile
      done.then(
        () => (entry.settled = true),
        () => (entry.settled = true),
      );
      inFlight.push(entry);
      pending = [];
      pendingChars = 0;
    }
    await advance(false);
  };
  // write what is done; then, while too many groups are in flight (all of them at the end), compute a waiting
  // batch, or read ahead, or else wait for the oldest
  const advance = async (end: boolean) => {
    while (inFlight.length) {
      if (inFlight[0].settled) await writeOldest();
      else if (!end && inFlight.length < depth) return;
      else if (predictor.help()) await settle();
      else if (!end && inFlight.length < depth + 2) return;
      else await writeOldest();
    }
  };
  const drain = async () => {
    await flush();
    await advance(true);
  };
  try {
    const stream = fromFile ? createReadStream(o.input!, { highWaterMark: 1 << 20 }) : (o.stdin ?? process.stdin);
    try {
      const chunks = readRecordChunks(stream as AsyncIterable<Buffer>, format, source, (n) => (bytes = n));
      for await (const records of chunks) {
        for (const r of records) {
          pending.push(r);
          pendingChars += r.input.text?.length ?? r.input.tokens!.length * 8;
          if (pending.length >= group || pendingChars > 1 << 20) await flush();
        }
      }
    } finally {
      await drain(); // what came before a bad line is still written (to stdout; a file output is dropped)
    }
    lastIn = performance.now();
    await writing;
    bar?.finish(`${fmtInt(inputs)} inputs`);
    if (fh) {
      await fh.close();
      await rename(tmp, o.output!);
    }
  } catch (e) {
    if (fh) {
      await writing.catch(() => undefined);
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
    throw e;
  } finally {
    predictor.dispose();
  }
  const ms = (t: number) => `${Math.round(t - t0)} ms`;
  o.log.debug(
    `predict timeline: model loaded in ${Math.round(t0 - tLoad)} ms; then first records written at ${ms(firstOut)}, ` +
      `last predictions in at ${ms(lastIn)}, output closed at ${ms(performance.now())}`,
  );
  return { inputs, sentences, entities, seconds: (performance.now() - t0) / 1000 };
}
