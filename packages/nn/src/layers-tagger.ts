import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tf } from './backend.js';
import type { Batch } from './data.js';
import { registerKernels } from './kernels.js';
import { LayersBiLstm } from './layers.js';
import { writeBaseMeta } from './model-folder.js';
import type { TaggerSpec } from './spec.js';
import { crfParts, ModelTagger, readCrf, writeCrf } from './tagger.js';

// The tf.layers reference model's Tagger: the only one that needs TF.js, so tagger.ts loads this file (and TF.js
// with it) only for a layers model (see loadLayersSupport there).

export class LayersTagger extends ModelTagger<LayersBiLstm> {
  setEmbeddingRows(rows: Map<number, Float32Array>) {
    // the word Embedding layer: the one whose table is [vocabSize, embeddingDim]
    const { vocabSize: V, embeddingDim: E } = this.m.spec;
    const layer = this.m.model.layers.find(
      (l) => l.getClassName() === 'Embedding' && l.getWeights()[0]?.shape.join() === `${V},${E}`,
    );
    if (!layer) throw new Error('no word embedding layer');
    const table = layer.getWeights()[0].dataSync().slice() as Float32Array;
    for (const [id, v] of rows) table.set(v, id * E);
    const t = tf.tensor2d(table, [V, E]);
    layer.setWeights([t]);
    t.dispose();
  }
  probabilities(b: Batch) {
    // a CRF head: its marginals (as the fused model gives); else the softmax of the dense outputs
    if (this.m.crf) return this.m.marginals(b);
    return tf.tidy(() => {
      const logits = this.m.model.apply(this.m.inputs(b), { training: false }) as tf.Tensor;
      return tf.softmax(logits).dataSync() as Float32Array;
    });
  }
  async save(dir: string) {
    await mkdir(dir, { recursive: true });
    await this.m.model.save(
      tf.io.withSaveHandler(async (a) => {
        await writeFile(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
        await writeFile(
          path.join(dir, 'model.json'),
          JSON.stringify({
            format: 'layers-model',
            generatedBy: '@nerflow/nn',
            modelTopology: a.modelTopology,
            weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
          }) + '\n',
        );
        return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
      }),
    );
    await writeBaseMeta(dir, 'layers', this.m.spec, crfParts(this.m.spec));
    const crf = this.m.crf;
    if (crf)
      await writeCrf(dir, this.m.spec, {
        transitions: crf.transitions.dataSync(),
        start: crf.start.dataSync(),
        end: crf.end.dataSync(),
      });
  }
  static async load(dir: string, spec: TaggerSpec): Promise<LayersTagger> {
    registerKernels();
    const t = new LayersTagger(new LayersBiLstm(spec));
    const model = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
    const bin = await readFile(path.join(dir, 'weights.bin'));
    const tensors = tf.io.decodeWeights(
      bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      model.weightsManifest[0].weights,
    );
    // layer names differ between instances (auto-numbered); the manifest lists weights in the model's order
    t.m.model.setWeights((model.weightsManifest[0].weights as { name: string }[]).map((w) => tensors[w.name]));
    tf.dispose(Object.values(tensors));
    if (t.m.crf) {
      const c = await readCrf(dir, spec);
      t.m.crf.transitions.assign(tf.tensor2d(c.transitions, [spec.numTags, spec.numTags]));
      t.m.crf.start.assign(tf.tensor1d(c.start));
      t.m.crf.end.assign(tf.tensor1d(c.end));
    }
    return t;
  }
}

export function createLayersTagger(spec: TaggerSpec): LayersTagger {
  return new LayersTagger(new LayersBiLstm(spec));
}
