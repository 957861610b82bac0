import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TaggerSpec } from './spec.js';

/**
 * The model folder (train/<trial>/model/), a standard TF.js Layers model plus one metadata file:
 * - model.json + weights.bin: `tf.loadLayersModel('file://…/model.json')` loads it with stock TF.js —
 *   Sequential: Embedding(mask_zero) → Bidirectional(LSTM, concat) → TimeDistributed(Dense, softmax);
 *   its output is the tag probabilities. Weights in Keras' layout (kernels [in, 4·units], gates i, f, c, o).
 * - nerflow.json: everything needed to go from raw text to tags (ModelMeta below).
 * - Parts TF.js layers cannot express (a CRF's transition matrix, character features, …) are files beside
 *   them, each listed in nerflow.json `parts` ({name, file, format, description}); a loader that does not
 *   know a listed part refuses the folder with an error naming it, rather than predicting without it.
 * - A char-CNN model (spec.chars) is a functional model with a second input, `chars` (charTopology): stock
 *   tf.loadLayersModel loads it too; its character vocabulary (data, not a layer) is chars.json (part "chars").
 *   Folders written before this (the Sequential topology with char weights beside it) still load in nerflow.
 */
export const MODEL_FORMAT = 'nerflow-model';
/** Bumped whenever a reader of an older format could misread the folder. */
export const MODEL_FORMAT_VERSION = 2;
export const NERFLOW_VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

/** A file beside model.json that TF.js layers cannot express (see the contract above). */
export interface ModelPart {
  name: string;
  file: string;
  format: string;
  description: string;
}

export interface ModelMeta {
  format: typeof MODEL_FORMAT;
  format_version: number;
  nerflow_version: string;
  kind: TaggerSpec['kind'];
  spec: TaggerSpec;
  files: Record<string, string>;
  parts: ModelPart[];
  /** The rest is written by train (writeModelMeta) and needed for raw text. */
  vocab?: { lowercase: boolean; words: string[]; unknown_id: number; padding_id: number };
  tags?: string[];
  /** What the tag ids mean: featurize.tag_scheme ('iob2' or 'bioes'); absent in older folders (then: from the tags). */
  tag_scheme?: string;
  max_len?: number;
  tokenizer?: { name: string; version: string };
  training?: Record<string, unknown>;
}

export class ModelFolderError extends Error {
  readonly kind = 'user';
}

/** The Keras/TF.js topology of a trained tagger (what model.json's modelTopology holds). */
export function standardTopology(spec: TaggerSpec): Record<string, unknown> {
  // a char-BiLSTM model has none: TF.js cannot mask a word's padding characters inside TimeDistributed, so
  // its model.json carries the word model's topology and loads through nerflow only (CHAR_LSTM_MODEL_JSON)
  return spec.chars?.type === 'cnn' ? charTopology(spec) : wordTopology(spec);
}

/**
 * The values of the char model's fixed `char_mask` embedding ([chars, filters]): row 0 (padding) −1e9, the
 * rest 0; added to the conv outputs so that the max over positions sees only the word's own characters
 * (the kernel's max-pool), as layers.ts's char_mask input does.
 */
export function charMaskTable(spec: TaggerSpec): Float32Array {
  const c = spec.chars;
  if (c?.type !== 'cnn') throw new Error('charMaskTable: a char-CNN model only');
  return new Float32Array(c.vocabSize * c.filters).fill(-1e9, 0, c.filters);
}

/**
 * A char-CNN model as a stock TF.js functional model with two inputs — `tokens` [batch, steps] (word ids)
 * and `chars` [batch, steps, W] (chars.json ids of each token's first max_word_len characters, 0-padded to
 * any W ≥ the longest) — computing what the kernel computes: char Embedding → TimeDistributed(Conv1D
 * 'same') (layer char_conv) → + char_mask (a fixed Embedding: −1e9 on padding) → TimeDistributed(
 * GlobalMaxPooling1D) → Concatenate after the word Embedding(mask_zero) → Bidirectional(LSTM) →
 * TimeDistributed(Dense softmax).
 */
function charTopology(spec: TaggerSpec): Record<string, unknown> {
  const c = spec.chars;
  if (c?.type !== 'cnn') throw new Error('charTopology: a char-CNN model only');
  const [embedding, bidirectional, dense] = (
    wordTopology(spec).config as { layers: { class_name: string; config: Record<string, unknown> }[] }
  ).layers.map((l) => ({ ...l, config: { ...l.config } }));
  delete embedding.config.batch_input_shape;
  const zeros = { class_name: 'Zeros', config: {} };
  const node = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];
  const input = (name: string, rank: number) => ({
    name,
    class_name: 'InputLayer',
    config: { batch_input_shape: new Array(rank).fill(null), dtype: 'int32', sparse: false, name },
    inbound_nodes: [],
  });
  const emb = (name: string, inputDim: number, outputDim: number, trainable: boolean) => ({
    name,
    class_name: 'Embedding',
    config: {
      name,
      input_dim: inputDim,
      output_dim: outputDim,
      mask_zero: false,
      input_length: null,
      embeddings_initializer: zeros,
      trainable,
      dtype: 'float32',
    },
    inbound_nodes: node('chars'),
  });
  const timeDistributed = (name: string, layer: Record<string, unknown>, from: string) => ({
    name,
    class_name: 'TimeDistributed',
    config: { name, trainable: true, layer },
    inbound_nodes: node(from),
  });
  return {
    class_name: 'Model',
    config: {
      name: 'nerflow_bilstm_chars',
      layers: [
        input('tokens', 2),
        input('chars', 3),
        { ...embedding, name: 'embedding', inbound_nodes: node('tokens') },
        emb('char_embedding', c.vocabSize, c.dim, true),
        emb('char_mask', c.vocabSize, c.filters, false),
        timeDistributed(
          'char_conv',
          {
            class_name: 'Conv1D',
            config: {
              name: 'conv1d',
              filters: c.filters,
              kernel_size: [c.width],
              strides: [1],
              padding: 'same',
              dilation_rate: [1],
              activation: 'linear',
              use_bias: true,
              kernel_initializer: zeros,
              bias_initializer: zeros,
              trainable: true,
            },
          },
          'char_embedding',
        ),
        {
          name: 'char_masked',
          class_name: 'Add',
          config: { name: 'char_masked' },
          inbound_nodes: node('char_conv', 'char_mask'),
        },
        timeDistributed(
          'char_pool',
          { class_name: 'GlobalMaxPooling1D', config: { name: 'global_max_pooling1d', trainable: true } },
          'char_masked',
        ),
        {
          name: 'word_and_chars',
          class_name: 'Concatenate',
          config: { name: 'word_and_chars', axis: -1 },
          inbound_nodes: node('embedding', 'char_pool'),
        },
        { ...bidirectional, name: 'bidirectional', inbound_nodes: node('word_and_chars') },
        { ...dense, name: 'time_distributed', inbound_nodes: node('bidirectional') },
      ],
      input_layers: [
        ['tokens', 0, 0],
        ['chars', 0, 0],
      ],
      output_layers: [['time_distributed', 0, 0]],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

/** Embedding → Bidirectional(LSTM) → TimeDistributed(Dense softmax), a Sequential model. */
function wordTopology(spec: TaggerSpec): Record<string, unknown> {
  const zeros = { class_name: 'Zeros', config: {} };
  return {
    class_name: 'Sequential',
    config: {
      name: 'nerflow_bilstm',
      layers: [
        {
          class_name: 'Embedding',
          config: {
            name: 'embedding',
            input_dim: spec.vocabSize,
            output_dim: spec.embeddingDim,
            mask_zero: true,
            input_length: null,
            embeddings_initializer: zeros,
            trainable: true,
            batch_input_shape: [null, null],
            dtype: 'float32',
          },
        },
        {
          class_name: 'Bidirectional',
          config: {
            name: 'bidirectional',
            merge_mode: 'concat',
            trainable: true,
            layer: {
              class_name: 'LSTM',
              config: {
                name: 'lstm',
                units: spec.lstmUnits,
                activation: 'tanh',
                recurrent_activation: 'sigmoid',
                use_bias: true,
                unit_forget_bias: true,
                kernel_initializer: zeros,
                recurrent_initializer: zeros,
                bias_initializer: zeros,
                dropout: spec.dropout,
                recurrent_dropout: spec.recurrentDropout,
                return_sequences: true,
                return_state: false,
                go_backwards: false,
                stateful: false,
                unroll: false,
                trainable: true,
              },
            },
          },
        },
        {
          class_name: 'TimeDistributed',
          config: {
            name: 'time_distributed',
            trainable: true,
            layer: {
              class_name: 'Dense',
              config: {
                name: 'dense',
                units: spec.numTags,
                activation: 'softmax',
                use_bias: true,
                kernel_initializer: zeros,
                bias_initializer: zeros,
                trainable: true,
              },
            },
          },
        },
      ],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
}

/** nerflow's weight name (fused.ts) → the TF.js layer weight name in model.json. */
export function standardWeightName(name: string): string {
  if (name === 'embedding/embeddings' || name.startsWith('char_')) return name;
  if (name.startsWith('dense/')) return `time_distributed/${name.slice('dense/'.length)}`;
  return `bidirectional/${name}`;
}

/** The inverse of standardWeightName; folders written before format 2 used nerflow's names directly. */
export function nerflowWeightName(name: string): string {
  if (name.startsWith('time_distributed/')) return `dense/${name.slice('time_distributed/'.length)}`;
  if (name.startsWith('bidirectional/')) return name.slice('bidirectional/'.length);
  return name;
}

const FILES = {
  'model.json':
    'TF.js Layers model topology and weights manifest: tf.loadLayersModel loads it; output = tag probabilities',
  'weights.bin': 'float32 weights, little-endian, in the order of model.json weightsManifest',
  'nerflow.json': 'this file: format, spec, vocabulary, tags, tokenizer, training config, extra parts',
};

/** The character vocabulary of a char-CNN model: copied beside the weights by train (featurize's chars.json). */
export const CHARS_PART: ModelPart = {
  name: 'chars',
  file: 'chars.json',
  format: 'nerflow-chars',
  description:
    "the character vocabulary of the char CNN ({max_word_len, size, chars}: chars[i] is the character of id i, 0 = padding, 1 = unknown): model.json's `chars` input takes these ids for each token's first max_word_len characters, 0-padded; the vocabulary itself is data, not a layer",
};

const CHAR_MODEL_JSON =
  "TF.js Layers functional model (tf.loadLayersModel loads it): inputs `tokens` [batch, steps] word ids and `chars` [batch, steps, W] character ids (chars.json) of each token, 0-padded; char Embedding → TimeDistributed(Conv1D 'same') → + char_mask (a fixed Embedding: -1e9 on padding) → max over the word's characters → concatenated to the word Embedding → Bidirectional(LSTM) → TimeDistributed(Dense softmax); output = tag probabilities";

const CHAR_LSTM_MODEL_JSON =
  "TF.js Layers weights manifest of a char-BiLSTM model (train.chars.type: lstm): its topology is the word model's, but the LSTM input also takes each word's char BiLSTM features (char_embedding, char_forward_lstm, char_backward_lstm weights), which stock TF.js cannot express (no masking of a word's padding characters inside TimeDistributed): stock tf.loadLayersModel refuses it (the weights do not fit); load it with nerflow (loadTagger)";

/** The chars part, for a char model whose folder holds chars.json. */
function withCharsPart(dir: string, spec: TaggerSpec, parts: ModelPart[]): ModelPart[] {
  if (!spec.chars || parts.some((p) => p.name === CHARS_PART.name) || !existsSync(path.join(dir, CHARS_PART.file)))
    return parts;
  return [...parts, CHARS_PART];
}

function filesOf(spec: TaggerSpec, parts: ModelPart[]): Record<string, string> {
  return {
    ...FILES,
    ...(spec.chars ? { 'model.json': spec.chars.type === 'cnn' ? CHAR_MODEL_JSON : CHAR_LSTM_MODEL_JSON } : {}),
    ...Object.fromEntries(parts.map((p) => [p.file, p.description])),
  };
}

export async function writeBaseMeta(
  dir: string,
  kind: TaggerSpec['kind'],
  spec: TaggerSpec,
  parts: ModelPart[] = [],
): Promise<void> {
  const all = withCharsPart(dir, spec, parts);
  const meta: ModelMeta = {
    format: MODEL_FORMAT,
    format_version: MODEL_FORMAT_VERSION,
    nerflow_version: NERFLOW_VERSION,
    kind,
    spec,
    files: filesOf(spec, all),
    parts: all,
  };
  await writeFile(path.join(dir, 'nerflow.json'), JSON.stringify(meta, null, 1) + '\n');
}

/** Add what raw text needs (vocabulary, tags, tokenizer, …) to a saved folder's nerflow.json. */
export async function writeModelMeta(
  dir: string,
  extra: Pick<ModelMeta, 'vocab' | 'tags' | 'tag_scheme' | 'max_len' | 'tokenizer' | 'training'>,
): Promise<void> {
  const meta = await readModelMeta(dir);
  // a char model's chars.json (copied beside the weights after they were saved) becomes a listed part
  const parts = withCharsPart(dir, meta.spec, meta.parts ?? []);
  await writeFile(
    path.join(dir, 'nerflow.json'),
    JSON.stringify({ ...meta, files: filesOf(meta.spec, parts), parts, ...extra }) + '\n',
  );
}

/** Parts this nerflow knows how to load (others are refused). Engineers adding a head register it here. */
export const KNOWN_PARTS = new Set<string>(['crf', 'chars']);

/**
 * nerflow.json of a model folder, checked: the folder's files exist, the format is one this nerflow
 * reads, every listed part is known. Errors name the folder and the fix.
 */
export async function readModelMeta(dir: string): Promise<ModelMeta> {
  const file = path.join(dir, 'nerflow.json');
  if (!existsSync(dir)) throw new ModelFolderError(`${dir}: no such model folder`);
  if (!existsSync(file))
    throw new ModelFolderError(
      `${dir}: not a nerflow model folder (no nerflow.json; a trained trial's model is runs/<config>/train/<trial>/model)`,
    );
  let meta: ModelMeta;
  try {
    meta = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(
      `${file}: not valid JSON (${(e as Error).message}); the folder is damaged: train it again`,
    );
  }
  const version = meta.format_version ?? 1;
  if (version > MODEL_FORMAT_VERSION) {
    throw new ModelFolderError(
      `${dir}: written by nerflow ${meta.nerflow_version ?? '?'} in model format ${version}; this nerflow (${NERFLOW_VERSION}) reads format ≤ ${MODEL_FORMAT_VERSION}. Upgrade nerflow, or retrain the model with this one.`,
    );
  }
  for (const f of ['model.json', 'weights.bin', ...(meta.parts ?? []).map((p) => p.file)]) {
    if (!existsSync(path.join(dir, f)))
      throw new ModelFolderError(
        `${dir}: the model folder has no ${f} (incomplete copy?); copy the whole folder or train it again`,
      );
  }
  for (const p of meta.parts ?? []) {
    if (!KNOWN_PARTS.has(p.name))
      throw new ModelFolderError(
        `${dir}: the model has a part "${p.name}" (${p.file}) that this nerflow (${NERFLOW_VERSION}) cannot load; upgrade nerflow`,
      );
  }
  return meta;
}

/** Like readModelMeta, and the raw-text metadata must be there (folders from before format 2 lack it). */
export async function readPredictionMeta(dir: string): Promise<Required<ModelMeta>> {
  const meta = await readModelMeta(dir);
  if ((meta.format_version ?? 1) < 2 || !meta.vocab || !meta.tags) {
    throw new ModelFolderError(
      `${dir}: written by an older nerflow (model format ${meta.format_version ?? 1}, without the vocabulary and tags in nerflow.json); retrain it: npx nerflow train --config <config> --force`,
    );
  }
  return meta as Required<ModelMeta>;
}
