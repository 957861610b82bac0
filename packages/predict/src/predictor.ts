import { sentenceRanges, tokenizeFlat, ValidationError, type FlatTokens, type Token } from '@nerflow/core';
import { tagCodes, chunkIds, tagsOf, TAG_SCHEMES, type TagCodes, type TagScheme } from '@nerflow/metrics';
import {
  encodeChars,
  initBackend,
  InferenceEngine,
  loadTagger,
  ModelFolderError,
  paddedBatch,
  readPredictionMeta,
  resolveKernel,
  resolveThreads,
  type Batch,
  type Decoded,
  type KernelSetting,
  type ModelMeta,
  type Tagger,
  type ThreadsSetting,
} from '@nerflow/nn';
import { readCharVocab, tagSchemeOf, type CharVocabFile } from './model-parts.js';
import { VocabIndex } from './vocab-index.js';

/** One thing to tag: raw text (one sentence or a whole document), or tokens already split. */
export interface PredictInput {
  text?: string;
  tokens?: string[];
}

export interface Entity {
  type: string;
  text: string;
  /** Character offsets into the input text (`text.slice(start, end) === entity.text`); with tokens input, into the tokens joined by single spaces. */
  start: number;
  end: number;
  /** Token span, end exclusive, indexes into `tokens`. */
  token_start: number;
  token_end: number;
  /**
   * Mean over the entity's tokens of the probability the model gives the tag it chose (0–1): the softmax
   * head's probability, or with a CRF head the CRF's marginal p(y_t = tag | sentence) (forward-backward).
   */
  confidence: number;
}

export interface Prediction {
  text: string;
  tokens: string[];
  /** [start, end) character offsets of each token in `text`. */
  offsets: [number, number][];
  tags: string[];
  /** Sentences as token ranges [start, end) (a document is split into sentences; long ones are chunked). */
  sentences: [number, number][];
  entities: Entity[];
}

/** One input's tokens as parallel arrays (texts[i] = text.slice(starts[i], ends[i])) and its sentences. */
interface Prepared extends FlatTokens {
  text: string;
  /** Token ranges [first, last). */
  sentences: [number, number][];
}

/** A token sequence the model sees: one sentence, or a max_len piece of a longer one. */
interface Segment {
  input: number;
  first: number;
  /** Where its word ids start in the group's flat ids, and how many. */
  from: number;
  length: number;
}

/** How a Predictor computes (batch size, kernel threads and build, as train.threads / train.kernel) and writes tags. */
export interface PredictorOptions {
  /** Sentences per kernel call (default 256). */
  batchSize?: number;
  /**
   * Inference threads: worker threads of the inference engine (packages/nn/src/infer.ts), each computing whole
   * batches, for `predictAsync` (predict, serve); auto (default) = 2 when the machine has 2 cores free, else 1.
   */
  threads?: ThreadsSetting;
  /** Kernel build: auto (default) = fma where WebAssembly relaxed SIMD runs, else exact. */
  kernel?: KernelSetting;
  /**
   * The scheme of the output `tags` (iob2, iob1, bioes, bilou, io): default the model's own (tag_scheme);
   * another one rewrites each sentence's tags from its entities, so tags and entities always agree.
   */
  tagScheme?: string;
  /**
   * The calling thread computes batches too, whenever it waits for them (`help`), so the engine starts one worker
   * thread fewer: `threads` threads compute in all (predict: its main thread reads and writes, and computes in
   * between). Off (serve: its thread answers requests), or with 1 thread (the one worker computes, the calling
   * thread only reads and writes), the engine has `threads` workers and `help` does nothing.
   */
  callerComputes?: boolean;
}

/**
 * A loaded model and what it needs for raw text (nerflow.json): tokenizer, vocabulary, tags. `predict`
 * tags a list of inputs in one go (sentences sorted by length, batched, one kernel call per batch).
 */
export class Predictor {
  private readonly vocab: VocabIndex;
  private readonly codes: TagCodes;
  readonly maxLen: number;
  /** callerComputes with 2+ threads: this thread computes batches in `help`. */
  private lends = false;
  /** What the tag ids mean (nerflow.json tag_scheme): entities are decoded by its rules. */
  readonly scheme: string;

  private constructor(
    readonly dir: string,
    readonly meta: Required<ModelMeta>,
    readonly tagger: Tagger,
    readonly batchSize: number,
    /** A char model's character vocabulary (chars.json). */
    readonly chars: CharVocabFile | null,
    /** What computes: kernel threads and build (fused models), for logs and /version. */
    readonly engine: { threads: number; kernel: string },
    /** The inference engine (fused word-level models), else null: the tagger decodes. */
    private readonly infer: InferenceEngine | null,
    /** The scheme output tags are written in (null: the model's tags as they are). */
    readonly outScheme: TagScheme | null,
  ) {
    this.vocab = new VocabIndex(meta.vocab.words);
    this.codes = tagCodes(meta.tags);
    this.maxLen = Math.max(1, meta.max_len || 128);
    this.scheme = tagSchemeOf(meta);
  }

  static async load(dir: string, opts: PredictorOptions = {}): Promise<Predictor> {
    try {
      const meta = await readPredictionMeta(dir);
      const want = opts.tagScheme;
      if (want !== undefined && !TAG_SCHEMES.includes(want as TagScheme))
        throw new ValidationError(`--tag-scheme ${want}: unknown; use one of ${TAG_SCHEMES.join(', ')}`);
      const outScheme = want === undefined || want === tagSchemeOf(meta) ? null : (want as TagScheme);
      const chars = meta.spec.chars ? await readCharVocab(dir, meta.spec.chars.vocabSize) : null;
      await initBackend('wasm');
      const threads = resolveThreads(opts.threads ?? 'auto').threads;
      const kernel = resolveKernel(opts.kernel ?? 'auto');
      // the tagger computes on the calling thread (char models, and batches the engine does not take); the
      // inference engine on its own worker threads
      const tagger = await loadTagger(dir, { threads: meta.spec.chars ? threads : 1, kernel });
      const batchSize = opts.batchSize ?? 256;
      const lends = !!opts.callerComputes && threads > 1;
      const infer = await InferenceEngine.create(tagger, {
        workers: lends ? threads - 1 : threads,
        maxRows: batchSize,
        maxSteps: Math.max(1, meta.max_len || 128),
      });
      const engine = meta.kind === 'fused' ? { threads, kernel } : { threads: 1, kernel: 'tfjs' };
      const p = new Predictor(dir, meta, tagger, batchSize, chars, engine, infer, outScheme);
      p.lends = lends;
      // the worker holds 4 jobs: it goes on while this thread computes a long batch; this thread takes the ones it
      // has not started (help), so holding more never leaves this thread waiting
      if (lends && infer) infer.ahead = 4;
      return p;
    } catch (e) {
      if (e instanceof ModelFolderError) throw new ValidationError(e.message);
      throw e;
    }
  }

  get tags(): string[] {
    return this.meta.tags;
  }

  /** Word → vocabulary id as featurize mapped it (DuckDB lower() when the model is lowercase; 1 = unknown). */
  private id(word: string): number {
    return this.vocab.get(this.meta.vocab.lowercase ? word.toLowerCase() : word) ?? this.meta.vocab.unknown_id;
  }

  /** Tokens, offsets and sentence ranges of one input, before the model. */
  prepare(input: PredictInput): { text: string; tokens: Token[]; sentences: [number, number][] } {
    const p = this.prepareFlat(input);
    const tokens = p.texts.map((text, i) => ({ text, start: p.starts[i], end: p.ends[i] }));
    return { text: p.text, tokens, sentences: p.sentences };
  }

  /** As prepare, the tokens as parallel arrays (no object per token: predict and serve run this on every input). */
  private prepareFlat(input: PredictInput): Prepared {
    if (input.tokens) {
      const texts = input.tokens.slice();
      const starts = new Array<number>(texts.length);
      const ends = new Array<number>(texts.length);
      let at = 0;
      for (let i = 0; i < texts.length; i++) {
        starts[i] = at;
        ends[i] = at + texts[i].length;
        at += texts[i].length + 1;
      }
      return { text: texts.join(' '), texts, starts, ends, sentences: texts.length ? [[0, texts.length]] : [] };
    }
    const text = input.text ?? '';
    // the text's tokens, once: a sentence starts and ends at whitespace (or the text's ends), so its tokens are
    // the text's tokens in its range, as tokenizing it alone gives them (a test checks it on the corpus)
    const tokens = tokenizeFlat(text);
    return { text, ...tokens, sentences: sentenceRanges(text, tokens) };
  }

  /** Tag inputs: every sentence (chunks of max_len tokens for longer ones) through the model, batched, on this thread. */
  predict(inputs: PredictInput[]): Prediction[] {
    const plan = this.plan(inputs);
    for (const b of plan.batches) plan.take(b, this.infer ? this.infer.decodeSync(b, true) : this.ownTags(b));
    return this.finish(plan);
  }

  /**
   * As `predict`, with the batches computed on the inference engine's worker threads (all of them queued at
   * once, spread over the workers) while this thread is free to read, tokenize and write; the same results.
   */
  async predictAsync(inputs: PredictInput[]): Promise<Prediction[]> {
    const infer = this.infer;
    if (!infer) return this.predict(inputs);
    const plan = this.plan(inputs);
    await Promise.all(plan.batches.map(async (b) => plan.take(b, await infer.decode(b, true))));
    return this.finish(plan);
  }

  /**
   * Compute one batch still waiting for a worker on this thread (callerComputes: a caller about to wait for its
   * predictions lends its thread); returns whether there was one.
   */
  help(): boolean {
    return this.lends && !!this.infer?.helpOne();
  }

  /** One batch's tags and probabilities, on the inference engine's workers when it has them (else this thread). */
  decode(b: Batch): Promise<Decoded> {
    return this.infer ? this.infer.decode(b) : Promise.resolve(this.tagger.decodeBatch(b));
  }

  /** The tagger's decode with each position's probability of its own tag only ([B·T]). */
  private ownTags(b: Batch): Decoded {
    const K = this.meta.tags.length;
    const { predictions, probabilities } = this.tagger.decodeBatch(b);
    return { predictions, probabilities: Float32Array.from(predictions, (tag, i) => probabilities[i * K + tag]) };
  }

  /**
   * Inputs prepared and cut into batches (sentences sorted by length); `take` stores one batch's tags (compact:
   * each position's probability of its own tag). Tags, probabilities and word ids of all inputs sit in one
   * flat array each (input i's tokens from at[i]): a handful of allocations per group, not per sentence.
   */
  private plan(inputs: PredictInput[]) {
    const prepared = new Array<Prepared>(inputs.length);
    for (let i = 0; i < inputs.length; i++) prepared[i] = this.prepareFlat(inputs[i]);
    const at = new Int32Array(prepared.length + 1);
    for (let i = 0; i < prepared.length; i++) at[i + 1] = at[i] + prepared[i].texts.length;
    const ids = new Int32Array(at[prepared.length]);
    const lower = this.meta.vocab.lowercase;
    const unknown = this.meta.vocab.unknown_id;
    for (let i = 0; i < prepared.length; i++) {
      const toks = prepared[i].texts;
      for (let j = 0, o = at[i]; j < toks.length; j++, o++) {
        const w = toks[j];
        ids[o] = this.vocab.get(lower ? w.toLowerCase() : w) ?? unknown; // as id(): featurize's mapping
      }
    }
    const tagIds = new Int32Array(ids.length);
    const probs = new Float32Array(ids.length);
    const segments: Segment[] = [];
    prepared.forEach((p, input) => {
      for (const [s, e] of p.sentences) {
        for (let first = s; first < e; first += this.maxLen) {
          const last = Math.min(e, first + this.maxLen);
          segments.push({ input, first, from: at[input] + first, length: last - first });
        }
      }
    });
    const order = segments.map((_, i) => i).sort((a, b) => segments[a].length - segments[b].length || a - b);
    const batches: Batch[] = [];
    const rowsOf = new Map<Batch, Segment[]>();
    for (let from = 0; from < order.length; from += this.batchSize) {
      const rows = order.slice(from, from + this.batchSize).map((i) => segments[i]);
      const b = paddedBatch(rows.map((r) => r.length));
      const { steps } = b;
      for (let i = 0; i < rows.length; i++) {
        const { from, length } = rows[i];
        for (let t = 0; t < length; t++) b.tokens[i * steps + t] = ids[from + t];
      }
      // a char model reads each token's characters as written (chars.json ids; unknown = 1, cut at max_word_len)
      if (this.chars) {
        const words = rows.map((r) => prepared[r.input].texts.slice(r.first, r.first + r.length));
        b.chars = encodeChars(words, steps, this.chars.chars, this.chars.max_word_len);
      }
      batches.push(b);
      rowsOf.set(b, rows);
    }
    // one pass per batch: the tags (a softmax head's argmax, or a CRF head's Viterbi path) and their
    // probabilities (the softmax, or the CRF's marginals: see Entity.confidence)
    const take = (b: Batch, { predictions: best, probabilities: own }: Decoded) => {
      const rows = rowsOf.get(b)!;
      for (let i = 0; i < rows.length; i++) {
        const { from: o, length } = rows[i];
        for (let t = 0, j = i * b.steps; t < length; t++, j++) {
          tagIds[o + t] = best[j];
          probs[o + t] = own[j];
        }
      }
    };
    return { prepared, at, tagIds, probs, batches, take };
  }

  private finish(plan: ReturnType<Predictor['plan']>): Prediction[] {
    const { prepared, at } = plan;
    return prepared.map((p, i) => {
      const tagIds = plan.tagIds.subarray(at[i], at[i + 1]);
      const probs = plan.probs.subarray(at[i], at[i + 1]);
      const entities: Entity[] = [];
      // plain loops into arrays of known length (no callbacks, no growing): this runs for every token on the
      // main thread of predict/serve; the tokens' offsets are made only when read (no output format writes them)
      const n = p.texts.length;
      const names = this.meta.tags;
      const tags = new Array<string>(n);
      for (let t = 0; t < n; t++) tags[t] = names[tagIds[t]];
      const { starts, ends } = p;
      // entities never cross a sentence (nor a chunk: a chunk is tagged as a sentence of its own); the span
      // rules are conlleval's for the model's scheme: IOB2 (B-/I-), or BIOES (E- closes, S- is a one-token entity)
      for (const [s, e] of p.sentences) {
        for (let first = s; first < e; first += this.maxLen) {
          const last = Math.min(e, first + this.maxLen);
          const flat = chunkIds(tagIds.subarray(first, last), this.codes);
          const spans: { start: number; end: number; type: string }[] | null = this.outScheme ? [] : null;
          for (let c = 0; c < flat.length; c += 3) {
            const ts = first + flat[c];
            const te = first + flat[c + 1] + 1;
            let conf = 0;
            for (let t = ts; t < te; t++) conf += probs[t];
            const start = starts[ts];
            const end = ends[te - 1];
            if (spans) spans.push({ start: flat[c], end: flat[c + 1], type: this.codes.types[flat[c + 2]] });
            entities.push({
              type: this.codes.types[flat[c + 2]],
              text: p.text.slice(start, end),
              start,
              end,
              token_start: ts,
              token_end: te,
              confidence: round(conf / (te - ts)),
            });
          }
          // --tag-scheme: this piece's tags rewritten from its entities in the scheme asked for
          if (spans) tags.splice(first, last - first, ...tagsOf(spans, last - first, this.outScheme!));
        }
      }
      return {
        text: p.text,
        tokens: p.texts,
        get offsets(): [number, number][] {
          return starts.map((s, t): [number, number] => [s, ends[t]]);
        },
        tags,
        sentences: p.sentences,
        entities,
      };
    });
  }

  dispose(): void {
    this.infer?.close();
    this.tagger.dispose();
  }
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
