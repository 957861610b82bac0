import { tf } from './backend.js';
import { allowedTransitions, crfMarginals, viterbi } from './crf.js';
import { crfNllTf } from './crf-tf.js';
import type { Batch } from './data.js';
import { registerKernels } from './kernels.js';
import type { TaggerSpec } from './spec.js';

let allGradient = false;

/**
 * Concatenate merges the word mask with an all-ones mask for the char features, through `all`, which has
 * no registered gradient; the mask carries none (a boolean), so its gradient is zero.
 */
function registerAllGradient(): void {
  if (allGradient || tf.getGradient('All')) return;
  allGradient = true;
  tf.registerGradient({
    kernelName: 'All',
    inputsToSave: ['x'],
    gradFunc: (_dy, saved) => ({ x: () => tf.zeros(saved[0].shape, 'float32') }),
  });
}

/**
 * The reference model with stock tf.layers — Embedding(mask_zero) → Bidirectional(LSTM, return
 * sequences, dropout, recurrent_dropout) → TimeDistributed(Dense softmax) — as in the Keras notebook.
 * Trained with the same masked loss and Adam as the fused model; slow (≈30 ops per step per direction
 * through autodiff), kept as the reference the fused model is tested against.
 * Head crf: the dense outputs are emission scores for a linear-chain CRF written with TF.js ops (crf.ts:
 * TF.js layers have no CRF layer), its transitions plain tf.variables beside the model; Viterbi in JS.
 *
 * With spec.chars (a char CNN) it is a functional model with three inputs: tokens [B, T], character ids
 * [B, T, W] (0 = padding, W = the batch's longest word) and an additive mask [B, T, W, filters] (0 on a
 * word's characters, −1e9 past its end), so that Embedding → TimeDistributed(Conv1D 'same') → + mask →
 * TimeDistributed(GlobalMaxPooling1D) takes the max over the word's own characters as the kernel does;
 * the features are concatenated to the word embedding before the BiLSTM. The char embedding's row 0 must
 * be zero (the kernel reads padding as zeros) and is trained here but never by the kernel.
 */
export class LayersBiLstm {
  readonly spec: TaggerSpec;
  readonly model: tf.LayersModel;

  private readonly optimizer: tf.AdamOptimizer;
  /** Head crf: transitions [K, K], start [K], end [K] (zeros at first, as in the fused model). */
  readonly crf: { transitions: tf.Variable; start: tf.Variable; end: tf.Variable } | null = null;
  private readonly allowed: Int32Array | null = null;

  constructor(spec: TaggerSpec) {
    registerKernels();
    this.spec = spec;
    const seed = spec.seed;
    const embedding = tf.layers.embedding({
      inputDim: spec.vocabSize,
      outputDim: spec.embeddingDim,
      maskZero: true,
      inputShape: [null as unknown as number],
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
      trainable: !spec.freezeEmbeddings,
    });
    const layers = [
      tf.layers.bidirectional({
        layer: tf.layers.lstm({
          // TF.js defaults the recurrent activation to hardSigmoid; Keras (TF 2) and the reference notebook use sigmoid
          units: spec.lstmUnits,
          returnSequences: true,
          dropout: spec.dropout,
          recurrentDropout: spec.recurrentDropout,
          recurrentActivation: 'sigmoid',
          kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
          recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 2 }),
        }) as tf.RNN,
        mergeMode: 'concat',
      }),
      // output dropout (TF.js' Dropout: a fresh mask per element and step, where the fused model keeps one per
      // sentence and feature over time); no weights, so the two models' weights still match one to one
      ...(spec.outputDropout ? [tf.layers.dropout({ rate: spec.outputDropout })] : []),
      tf.layers.timeDistributed({
        layer: tf.layers.dense({
          units: spec.numTags,
          activation: 'linear',
          kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }),
        }),
      }),
    ];
    if (spec.chars?.type === 'lstm')
      throw new Error(
        'the layers reference model has no char BiLSTM (train.chars.type: lstm): use train.model: fused, or chars.type: cnn',
      );
    const c = spec.chars?.type === 'cnn' ? spec.chars : null;
    if (c) registerAllGradient();
    if (!c) this.model = tf.sequential({ layers: [embedding, ...layers] });
    else {
      const tokens = tf.input({ shape: [null as unknown as number], dtype: 'int32', name: 'tokens' });
      const chars = tf.input({
        shape: [null as unknown as number, null as unknown as number],
        dtype: 'int32',
        name: 'chars',
      });
      const mask = tf.input({
        shape: [null as unknown as number, null as unknown as number, c.filters],
        name: 'char_mask',
      });
      const cemb = tf.layers
        .embedding({
          inputDim: c.vocabSize,
          outputDim: c.dim,
          embeddingsInitializer: tf.initializers.randomUniform({
            minval: -Math.sqrt(3 / c.dim),
            maxval: Math.sqrt(3 / c.dim),
            seed: seed + 4,
          }),
        })
        .apply(chars) as tf.SymbolicTensor;
      const conv = tf.layers
        .timeDistributed({
          layer: tf.layers.conv1d({
            filters: c.filters,
            kernelSize: c.width,
            padding: 'same',
            kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 5 }),
          }),
        })
        .apply(cemb) as tf.SymbolicTensor;
      const pooled = tf.layers
        .timeDistributed({ layer: tf.layers.globalMaxPooling1d({}) })
        .apply(tf.layers.add().apply([conv, mask]) as tf.SymbolicTensor) as tf.SymbolicTensor;
      let x = tf.layers
        .concatenate()
        .apply([embedding.apply(tokens) as tf.SymbolicTensor, pooled]) as tf.SymbolicTensor;
      for (const l of layers) x = l.apply(x) as tf.SymbolicTensor;
      this.model = tf.model({ inputs: [tokens, chars, mask], outputs: x });
    }
    this.optimizer = tf.train.adam(spec.learningRate, spec.adam.beta1, spec.adam.beta2, spec.adam.epsilon);
    if (spec.head === 'crf') {
      const K = spec.numTags;
      this.crf = {
        transitions: tf.variable(tf.zeros([K, K])),
        start: tf.variable(tf.zeros([K])),
        end: tf.variable(tf.zeros([K])),
      };
      if (spec.crf?.constrain) this.allowed = allowedTransitions(spec.crf.tags);
    }
  }

  /** The model's inputs for a batch: the tokens, and with chars their ids and max-pool mask. */
  inputs(b: Batch): tf.Tensor | tf.Tensor[] {
    const x = tf.tensor2d(b.tokens, [b.size, b.steps], 'int32');
    const c = this.spec.chars?.type === 'cnn' ? this.spec.chars : null;
    if (!c) return x;
    if (!b.chars) throw new Error('this model reads character features, but the batch has none');
    const { offsets, ids } = b.chars;
    const slots = b.size * b.steps;
    let W = 1;
    for (let i = 0; i < slots; i++) W = Math.max(W, offsets[i + 1] - offsets[i]);
    const chars = new Int32Array(slots * W);
    const mask = new Float32Array(slots * W * c.filters);
    for (let i = 0; i < slots; i++) {
      const L = offsets[i + 1] - offsets[i];
      chars.set(ids.subarray(offsets[i], offsets[i + 1]), i * W);
      if (L > 0) mask.fill(-1e9, (i * W + L) * c.filters, (i + 1) * W * c.filters);
    }
    return [x, tf.tensor3d(chars, [b.size, b.steps, W], 'int32'), tf.tensor4d(mask, [b.size, b.steps, W, c.filters])];
  }

  private lossOf(b: Batch, logits: tf.Tensor): tf.Scalar {
    return this.lossTensor(b, logits) as tf.Scalar;
  }

  private lossTensor(b: Batch, logits: tf.Tensor): tf.Tensor {
    const w = new Float32Array(b.size * b.steps);
    let real = 0;
    for (let r = 0; r < b.size; r++) real += b.lengths[r];
    for (let r = 0; r < b.size; r++) w.fill(1 / real, r * b.steps, r * b.steps + b.lengths[r]);
    if (this.crf) {
      const emissions = tf.reshape(logits, [b.size, b.steps, this.spec.numTags]);
      return tf.div(crfNllTf(emissions, b.tags, b.lengths, this.crf, this.allowed), Math.max(1, real));
    }
    const logp = tf.logSoftmax(tf.reshape(logits, [-1, this.spec.numTags]));
    const onehot = tf.oneHot(tf.tensor1d(b.tags, 'int32'), this.spec.numTags);
    return tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(onehot, logp), 1), tf.tensor1d(w))));
  }

  train(b: Batch): number {
    const x = this.inputs(b);
    const loss = this.optimizer.minimize(
      () => this.lossOf(b, this.model.apply(x, { training: true }) as tf.Tensor),
      true,
    ) as tf.Scalar;
    const v = loss.dataSync()[0];
    tf.dispose([x, loss].flat());
    return v;
  }

  /**
   * Loss and the gradient of every trainable weight (model order: embedding, forward LSTM, backward LSTM,
   * dense; then the CRF's transitions, start, end), no dropout.
   */
  gradients(b: Batch): { loss: number; grads: Float32Array[] } {
    const x = this.inputs(b);
    const { value, grads } = tf.variableGrads(() =>
      this.lossOf(b, this.model.apply(x, { training: false }) as tf.Tensor),
    );
    const crf = this.crf
      ? [this.crf.transitions, this.crf.start, this.crf.end].map((v) => grads[v.name].dataSync() as Float32Array)
      : [];
    const out = {
      loss: value.dataSync()[0],
      grads: [...this.model.trainableWeights.map((w) => grads[w.name].dataSync() as Float32Array), ...crf],
    };
    tf.dispose([x, value, ...Object.values(grads)].flat());
    return out;
  }

  evaluate(b: Batch): { loss: number; predictions: Int32Array } {
    return tf.tidy(() => {
      const logits = this.model.apply(this.inputs(b), { training: false }) as tf.Tensor;
      const loss = this.lossOf(b, logits).dataSync()[0];
      if (!this.crf) return { loss, predictions: Int32Array.from(tf.argMax(logits, 2).dataSync()) };
      const p = {
        transitions: this.crf.transitions.dataSync(),
        start: this.crf.start.dataSync(),
        end: this.crf.end.dataSync(),
      };
      return { loss, predictions: viterbi(logits.dataSync(), b.lengths, b.steps, this.spec.numTags, p, this.allowed) };
    });
  }

  /** Head crf: each token's tag marginals under the CRF ([B·T·K], zeros on padding), as the fused model's. */
  marginals(b: Batch): Float32Array {
    if (!this.crf) throw new Error('marginals: the model has no CRF head');
    const emissions = tf.tidy(() => (this.model.apply(this.inputs(b), { training: false }) as tf.Tensor).dataSync());
    const p = {
      transitions: this.crf.transitions.dataSync(),
      start: this.crf.start.dataSync(),
      end: this.crf.end.dataSync(),
    };
    return crfMarginals(emissions, b.lengths, b.steps, this.spec.numTags, p, this.allowed);
  }

  dispose(): void {
    if (this.crf) tf.dispose(Object.values(this.crf));
    this.model.dispose();
    this.optimizer.dispose();
  }
}
