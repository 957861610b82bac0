import { splitSentences, tokenize, ValidationError, type Token } from '@nerflow/core';
import { tagCodes, chunkIds, type TagCodes } from '@nerflow/metrics';
import {
  initBackend,
  loadTagger,
  ModelFolderError,
  readPredictionMeta,
  type Batch,
  type ModelMeta,
  type Tagger,
} from '@nerflow/nn';

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
  /** Mean over the entity's tokens of the model's probability for the tag it chose (0–1; a CRF head: its marginals). */
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

/** A token sequence the model sees: one sentence, or a max_len piece of a longer one. */
interface Segment {
  input: number;
  first: number;
  ids: Int32Array;
}

/**
 * A loaded model and what it needs for raw text (nerflow.json): tokenizer, vocabulary, tags. `predict`
 * tags a list of inputs in one go (sentences sorted by length, batched, one kernel call per batch).
 */
export class Predictor {
  private readonly vocab: Map<string, number>;
  private readonly codes: TagCodes;
  readonly maxLen: number;

  private constructor(
    readonly dir: string,
    readonly meta: Required<ModelMeta>,
    readonly tagger: Tagger,
    readonly batchSize: number,
  ) {
    this.vocab = new Map(meta.vocab.words.map((w, i) => [w, i]));
    this.codes = tagCodes(meta.tags);
    this.maxLen = Math.max(1, meta.max_len || 128);
  }

  static async load(dir: string, opts: { batchSize?: number } = {}): Promise<Predictor> {
    try {
      const meta = await readPredictionMeta(dir);
      if (meta.spec.chars) {
        throw new ModelFolderError(
          `${dir}: a char-CNN model (train.chars.type: ${meta.spec.chars.type}): nerflow predict and serve do not encode characters yet; score it with nerflow evaluate, or train a model without train.chars to predict or serve`,
        );
      }
      await initBackend('wasm');
      const tagger = await loadTagger(dir);
      return new Predictor(dir, meta, tagger, opts.batchSize ?? 256);
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
    if (input.tokens) {
      const tokens: Token[] = [];
      let at = 0;
      for (const t of input.tokens) {
        tokens.push({ text: t, start: at, end: at + t.length });
        at += t.length + 1;
      }
      return { text: input.tokens.join(' '), tokens, sentences: tokens.length ? [[0, tokens.length]] : [] };
    }
    const text = input.text ?? '';
    const tokens: Token[] = [];
    const sentences: [number, number][] = [];
    for (const s of splitSentences(text)) {
      const first = tokens.length;
      for (const t of tokenize(text.slice(s.start, s.end)))
        tokens.push({ text: t.text, start: t.start + s.start, end: t.end + s.start });
      if (tokens.length > first) sentences.push([first, tokens.length]);
    }
    return { text, tokens, sentences };
  }

  /** Tag inputs: every sentence (chunks of max_len tokens for longer ones) through the model, batched. */
  predict(inputs: PredictInput[]): Prediction[] {
    const prepared = inputs.map((x) => this.prepare(x));
    const segments: Segment[] = [];
    prepared.forEach((p, input) => {
      for (const [s, e] of p.sentences) {
        for (let first = s; first < e; first += this.maxLen) {
          const last = Math.min(e, first + this.maxLen);
          segments.push({ input, first, ids: Int32Array.from(p.tokens.slice(first, last), (t) => this.id(t.text)) });
        }
      }
    });
    const K = this.meta.tags.length;
    const tagIds = prepared.map((p) => new Int32Array(p.tokens.length));
    const probs = prepared.map((p) => new Float32Array(p.tokens.length));
    const order = segments.map((_, i) => i).sort((a, b) => segments[a].ids.length - segments[b].ids.length || a - b);
    for (let at = 0; at < order.length; at += this.batchSize) {
      const rows = order.slice(at, at + this.batchSize).map((i) => segments[i]);
      const steps = rows[rows.length - 1].ids.length;
      const b: Batch = {
        size: rows.length,
        steps,
        tokens: new Int32Array(rows.length * steps),
        tags: new Int32Array(rows.length * steps),
        lengths: Int32Array.from(rows, (r) => r.ids.length),
        index: Int32Array.from(rows.keys()),
      };
      rows.forEach((r, i) => b.tokens.set(r.ids, i * steps));
      const p = this.tagger.probabilities(b);
      // a CRF head decodes the best sequence (Viterbi); a softmax head takes each token's argmax
      const viterbi = this.tagger.spec.head === 'crf' ? this.tagger.evaluateBatch(b).predictions : null;
      rows.forEach((r, i) => {
        for (let t = 0; t < r.ids.length; t++) {
          const o = (i * steps + t) * K;
          let best = 0;
          if (viterbi) best = viterbi[i * steps + t];
          else for (let k = 1; k < K; k++) if (p[o + k] > p[o + best]) best = k;
          tagIds[r.input][r.first + t] = best;
          probs[r.input][r.first + t] = p[o + best];
        }
      });
    }
    return prepared.map((p, i) => {
      const entities: Entity[] = [];
      // entities never cross a sentence (nor a chunk: a chunk is tagged as a sentence of its own)
      for (const [s, e] of p.sentences) {
        for (let first = s; first < e; first += this.maxLen) {
          const last = Math.min(e, first + this.maxLen);
          const flat = chunkIds(tagIds[i].subarray(first, last), this.codes);
          for (let c = 0; c < flat.length; c += 3) {
            const ts = first + flat[c];
            const te = first + flat[c + 1] + 1;
            let conf = 0;
            for (let t = ts; t < te; t++) conf += probs[i][t];
            const start = p.tokens[ts].start;
            const end = p.tokens[te - 1].end;
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
        }
      }
      return {
        text: p.text,
        tokens: p.tokens.map((t) => t.text),
        offsets: p.tokens.map((t) => [t.start, t.end] as [number, number]),
        tags: Array.from(tagIds[i], (t) => this.meta.tags[t]),
        sentences: p.sentences,
        entities,
      };
    });
  }

  dispose(): void {
    this.tagger.dispose();
  }
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;
