import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Batch } from './data.js';
import { FusedBiLstm } from './fused.js';
import type { KernelVariant } from './kernel.js';
import {
  charMaskTable,
  NERFLOW_VERSION,
  nerflowWeightName,
  readModelMeta,
  standardTopology,
  standardWeightName,
  writeBaseMeta,
  type ModelPart,
} from './model-folder.js';
import type { TaggerSpec } from './spec.js';

/** A sequence tagger: what train and evaluate call. */
export interface Tagger {
  readonly spec: TaggerSpec;
  /** One optimizer step; returns the mean loss over real (non-padding) tokens. */
  trainBatch(b: Batch): number;
  /** Loss and argmax tag per position ([size·steps] row-major), no dropout. */
  evaluateBatch(b: Batch): { loss: number; predictions: Int32Array };
  /** Tag probabilities per position, [size·steps·numTags] row-major (padding positions: unspecified), no dropout. */
  probabilities(b: Batch): Float32Array;
  /**
   * The decoded tags (evaluateBatch's predictions: argmax, or a CRF's Viterbi path) and the probabilities
   * (as `probabilities`: a CRF's marginals) of one batch; the fused model computes both in one pass.
   */
  decodeBatch(b: Batch): { predictions: Int32Array; probabilities: Float32Array };
  /**
   * model.json + weights.bin (fused: nerflow's own format with a TF.js-style weights manifest; layers: a TF.js
   * layers model), nerflow.json and, with head crf, crf.json; with the optimizer state for --resume.
   */
  save(dir: string, opts?: { withOptimizer?: boolean }): Promise<void>;
  /** Overwrite word-embedding rows (pre-trained vectors): word id → vector of embeddingDim. */
  setEmbeddingRows(rows: Map<number, Float32Array>): void;
  dispose(): void;
}

/** The CRF head is a part beside the standard TF.js files (model-folder.ts): the Dense layer gives its emissions. */
export function crfParts(spec: TaggerSpec): ModelPart[] {
  return spec.head === 'crf'
    ? [
        {
          name: 'crf',
          file: 'crf.json',
          format: 'nerflow-crf',
          description:
            "linear-chain CRF over the Dense layer's emissions (transitions, start, end): Viterbi decoding; TF.js layers cannot express it",
        },
      ]
    : [];
}

interface WeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
}

/**
 * Write named float32 arrays one after the other into `file` (a TF.js weights binary) and return their manifest.
 * Each array's bytes go straight from where they are (the kernel's memory) to the file, never first concatenated
 * into one copy: a checkpoint holds the embedding table and its two Adam moments, and that copy was the peak of
 * the train stage's memory (tools/bench/README.md, "Memory").
 */
async function writeWeights(
  file: string,
  list: { name: string; shape: number[]; data: Float32Array }[],
): Promise<WeightEntry[]> {
  const fh = await open(file, 'w');
  try {
    for (const { data } of list) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (let at = 0; at < bytes.length;) at += (await fh.write(bytes, at)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return list.map(({ name, shape }) => ({ name, shape, dtype: 'float32' }));
}

/** Views of the named float32 arrays of a weights binary (the caller copies them into the kernel's memory): no copies. */
function unpackWeights(manifest: WeightEntry[], bin: Buffer): Map<string, Float32Array> {
  // a Float32Array view needs a 4-byte aligned offset (a large file's Buffer starts at 0; a small one may be pooled)
  const bytes = bin.byteOffset % 4 === 0 ? bin : new Uint8Array(bin);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
  const out = new Map<string, Float32Array>();
  let o = 0;
  for (const w of manifest) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    out.set(w.name, all.subarray(o, o + n));
    o += n;
  }
  return out;
}

/** The CRF head's file in a model folder: what TF.js layers cannot express, saved beside them. */
export const CRF_FILE = 'crf.json';

/**
 * crf.json: {format: 'nerflow-crf', version: 1, tags, constrain, transitions, start, end}. transitions[i][j]
 * scores tag i followed by tag j (tag ids index `tags`, as tags.json); start[j] / end[j] score tag j first /
 * last. float32 values written as JSON numbers, which read back to the same float32.
 */
export async function writeCrf(
  dir: string,
  spec: TaggerSpec,
  w: { transitions: ArrayLike<number>; start: ArrayLike<number>; end: ArrayLike<number> },
): Promise<void> {
  const K = spec.numTags;
  const rows = Array.from({ length: K }, (_, i) => Array.from({ length: K }, (_, j) => w.transitions[i * K + j]));
  await writeFile(
    path.join(dir, CRF_FILE),
    JSON.stringify(
      {
        format: 'nerflow-crf',
        version: 1,
        tags: spec.crf?.tags ?? null,
        constrain: spec.crf?.constrain ?? false,
        transitions: rows,
        start: Array.from(w.start),
        end: Array.from(w.end),
      },
      null,
      1,
    ) + '\n',
  );
}

export async function readCrf(
  dir: string,
  spec: TaggerSpec,
): Promise<{ transitions: Float32Array; start: Float32Array; end: Float32Array }> {
  const file = path.join(dir, CRF_FILE);
  if (!existsSync(file))
    throw new Error(`${file}: missing: the model has a CRF head (nerflow.json) but no transitions; train it again`);
  const j = JSON.parse(await readFile(file, 'utf8'));
  const K = spec.numTags;
  const ok =
    j.format === 'nerflow-crf' &&
    Array.isArray(j.transitions) &&
    j.transitions.length === K &&
    j.transitions.every((r: unknown) => Array.isArray(r) && r.length === K) &&
    j.start?.length === K &&
    j.end?.length === K;
  if (!ok)
    throw new Error(
      `${file}: not a CRF of ${K} tags (format nerflow-crf: transitions [${K}][${K}], start [${K}], end [${K}])`,
    );
  return {
    transitions: Float32Array.from(j.transitions.flat()),
    start: Float32Array.from(j.start),
    end: Float32Array.from(j.end),
  };
}

/** The model classes behind a Tagger (FusedBiLstm, LayersBiLstm). */
export interface Model {
  readonly spec: TaggerSpec;
  train(b: Batch): number;
  evaluate(b: Batch): { loss: number; predictions: Int32Array };
  dispose(): void;
}

/** A Tagger over a model: the calls pass through; each kind saves and loads its own files. */
export abstract class ModelTagger<M extends Model> implements Tagger {
  constructor(readonly m: M) {}
  get spec() {
    return this.m.spec;
  }
  trainBatch(b: Batch) {
    return this.m.train(b);
  }
  evaluateBatch(b: Batch) {
    return this.m.evaluate(b);
  }
  dispose() {
    this.m.dispose();
  }
  /** Tag probabilities per position (see Tagger.probabilities). */
  abstract probabilities(b: Batch): Float32Array;
  decodeBatch(b: Batch) {
    return { predictions: this.m.evaluate(b).predictions, probabilities: this.probabilities(b) };
  }
  abstract save(dir: string, opts?: { withOptimizer?: boolean }): Promise<void>;
  abstract setEmbeddingRows(rows: Map<number, Float32Array>): void;
}

class FusedTagger extends ModelTagger<FusedBiLstm> {
  setEmbeddingRows(rows: Map<number, Float32Array>) {
    const E = this.m.spec.embeddingDim;
    for (const [id, v] of rows) this.m.emb.set(v, id * E);
  }
  probabilities(b: Batch) {
    return this.m.probabilities(b);
  }
  override decodeBatch(b: Batch) {
    return this.m.decode(b);
  }
  async save(dir: string, opts: { withOptimizer?: boolean } = {}) {
    await mkdir(dir, { recursive: true });
    const { vocabSize: V, embeddingDim: E } = this.m.spec;
    const dense = (region: 'param' | 'm' | 'v', suffix = '') =>
      this.m.shapes().map(([name, shape]) => ({ name: name + suffix, shape, data: this.m.view(region, name) }));
    const c = this.m.spec.chars;
    const manifest = await writeWeights(path.join(dir, 'weights.bin'), [
      { name: 'embedding/embeddings', shape: [V, E], data: this.m.emb },
      ...dense('param'),
      // a char model's fixed max-pool mask, a layer of the standard functional topology (model-folder.ts)
      ...(c?.type === 'cnn'
        ? [{ name: 'char_mask/embeddings', shape: [c.vocabSize, c.filters], data: charMaskTable(this.m.spec) }]
        : []),
    ]);
    // a standard TF.js Layers model (tf.loadLayersModel loads it): see model-folder.ts
    await writeFile(
      path.join(dir, 'model.json'),
      JSON.stringify({
        format: 'layers-model',
        generatedBy: `@nerflow/nn ${NERFLOW_VERSION}`,
        convertedBy: null,
        modelTopology: standardTopology(this.m.spec),
        weightsManifest: [
          { paths: ['weights.bin'], weights: manifest.map((w) => ({ ...w, name: standardWeightName(w.name) })) },
        ],
      }) + '\n',
    );
    await writeBaseMeta(dir, 'fused', this.m.spec, crfParts(this.m.spec));
    if (this.m.spec.head === 'crf') {
      await writeCrf(dir, this.m.spec, {
        transitions: this.m.view('param', 'crf/transitions'),
        start: this.m.view('param', 'crf/start'),
        end: this.m.view('param', 'crf/end'),
      });
    }
    if (opts.withOptimizer) {
      const head = (region: 'm' | 'v', suffix: string) =>
        this.m.headShapes().map(([name, shape]) => ({ name: name + suffix, shape, data: this.m.view(region, name) }));
      const opt = await writeWeights(path.join(dir, 'optimizer.bin'), [
        { name: 'embedding/embeddings/m', shape: [V, E], data: this.m.embM },
        { name: 'embedding/embeddings/v', shape: [V, E], data: this.m.embV },
        ...dense('m', '/m'),
        ...dense('v', '/v'),
        ...head('m', '/m'),
        ...head('v', '/v'),
      ]);
      await writeFile(
        path.join(dir, 'optimizer.json'),
        JSON.stringify({ step: this.m.step, dropout_rng: this.m.dropoutRng.state, weights: opt }) + '\n',
      );
    }
  }
  static async load(
    dir: string,
    spec: TaggerSpec,
    withOptimizer: boolean,
    opts: TaggerOptions = {},
  ): Promise<FusedTagger> {
    const m = new FusedBiLstm(spec, { ...opts, init: false }); // every weight is set from the files below
    const model = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
    const saved = unpackWeights(model.weightsManifest[0].weights, await readFile(path.join(dir, 'weights.bin')));
    const w = new Map([...saved].map(([name, v]) => [nerflowWeightName(name), v]));
    const take = (s: Map<string, Float32Array>, name: string) => {
      const v = s.get(name);
      if (!v)
        throw new Error(`${dir}: the saved model has no weight ${name} (saved by an older nerflow? train it again)`);
      return v;
    };
    m.emb.set(take(w, 'embedding/embeddings'));
    for (const [name] of m.shapes()) m.view('param', name).set(take(w, name));
    if (spec.head === 'crf') {
      const c = await readCrf(dir, spec);
      m.view('param', 'crf/transitions').set(c.transitions);
      m.view('param', 'crf/start').set(c.start);
      m.view('param', 'crf/end').set(c.end);
    }
    if (withOptimizer) {
      const o = JSON.parse(await readFile(path.join(dir, 'optimizer.json'), 'utf8'));
      const s = unpackWeights(o.weights, await readFile(path.join(dir, 'optimizer.bin')));
      m.step = o.step;
      // the dropout generator where it stopped (a checkpoint of an older nerflow has none: it starts over)
      if (typeof o.dropout_rng === 'number') m.dropoutRng.state = o.dropout_rng >>> 0;
      m.embM.set(take(s, 'embedding/embeddings/m'));
      m.embV.set(take(s, 'embedding/embeddings/v'));
      for (const [name] of [...m.shapes(), ...m.headShapes()]) {
        m.view('m', name).set(take(s, `${name}/m`));
        m.view('v', name).set(take(s, `${name}/v`));
      }
    }
    return new FusedTagger(m);
  }
}

/**
 * What computes a model of this kind: the fused model runs in nerflow's own WebAssembly SIMD kernel
 * whatever the TF.js backend; the tf.layers reference runs on the TF.js backend in use.
 */
export function engineOf(kind: TaggerSpec['kind'], tfjsBackend: string): string {
  return kind === 'fused' ? 'nerflow-wasm-simd' : `tfjs-${tfjsBackend}`;
}

/**
 * How a fused tagger computes, not what it is (never saved with the model): kernel threads, 1 or 2
 * (threads.ts, bit-identical), and the kernel build (kernel.ts: exact, default, or fma).
 */
export interface TaggerOptions {
  threads?: 1 | 2;
  kernel?: KernelVariant;
}

/**
 * The tf.layers reference (layers-tagger.ts) with TF.js, loaded on first need: by initBackend (backend.ts), which
 * every user of the layers model calls first, or by loadTagger. The fused model never loads TF.js (~70 MiB of RSS
 * that `nerflow train` does not need).
 */
let layersModule: typeof import('./layers-tagger.js') | null = null;

export async function loadLayersSupport(): Promise<typeof import('./layers-tagger.js')> {
  return (layersModule ??= await import('./layers-tagger.js'));
}

function layersSupport(): typeof import('./layers-tagger.js') {
  if (!layersModule)
    throw new Error('the layers model needs TF.js: await initBackend() (or loadLayersSupport()) before createTagger');
  return layersModule;
}

export function createTagger(spec: TaggerSpec, opts: TaggerOptions = {}): Tagger {
  return spec.kind === 'layers'
    ? layersSupport().createLayersTagger(spec)
    : new FusedTagger(new FusedBiLstm(spec, { threads: opts.threads, kernel: opts.kernel }));
}

/** Load a saved model folder (model.json, weights.bin, nerflow.json). */
export async function loadTagger(dir: string, opts: { withOptimizer?: boolean } & TaggerOptions = {}): Promise<Tagger> {
  const meta = await readModelMeta(dir);
  return meta.kind === 'layers'
    ? (await loadLayersSupport()).LayersTagger.load(dir, meta.spec)
    : FusedTagger.load(dir, meta.spec, !!opts.withOptimizer, { threads: opts.threads, kernel: opts.kernel });
}
