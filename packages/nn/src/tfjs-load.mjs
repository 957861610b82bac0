// Loads a nerflow model folder with stock TensorFlow.js only (no nerflow code): the folder is served over
// HTTP like a browser would fetch it; prints the tag probabilities of the token id rows given as JSON.
// Usage: node tfjs-load.mjs http://host:port/model.json '[[ids...], ...]' ['[[[char ids of token 1], ...], ...]']
// (a char-CNN model's second input: each token's chars.json ids, 0-padded here to the row's longest word)
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const model = await tf.loadLayersModel(process.argv[2]);
const rows = JSON.parse(process.argv[3]);
const chars = process.argv[4] ? JSON.parse(process.argv[4]) : null;
const out = rows.map((ids, r) =>
  tf.tidy(() => {
    const tokens = tf.tensor2d([ids], [1, ids.length], 'int32');
    if (!chars) return Array.from(model.predict(tokens).dataSync());
    const W = Math.max(...chars[r].map((w) => w.length));
    const padded = chars[r].map((w) => [...w, ...new Array(W - w.length).fill(0)]);
    return Array.from(model.predict([tokens, tf.tensor3d([padded], [1, ids.length, W], 'int32')]).dataSync());
  }),
);
process.stdout.write(
  JSON.stringify({ layers: model.layers.map((l) => l.getClassName()), inputs: model.inputs.map((i) => i.name), out }),
);
