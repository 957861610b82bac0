// Loads a nerflow model folder with stock TensorFlow.js only (no nerflow code): the folder is served over
// HTTP like a browser would fetch it; prints the tag probabilities of the token id rows given as JSON.
// Usage: node tfjs-load.mjs http://host:port/model.json '[[ids...], ...]'
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const model = await tf.loadLayersModel(process.argv[2]);
const rows = JSON.parse(process.argv[3]);
const out = rows.map((ids) =>
  tf.tidy(() => Array.from(model.predict(tf.tensor2d([ids], [1, ids.length], 'int32')).dataSync())),
);
process.stdout.write(JSON.stringify({ layers: model.layers.map((l) => l.getClassName()), out }));
