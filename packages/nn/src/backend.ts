import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { EnvironmentError } from '@nerflow/core';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let chosen: string | null = null;

/**
 * Pick the TensorFlow.js backend: `tensorflow` (@tensorflow/tfjs-node, native, when it is installed and
 * loads — it needs libtensorflow, which its install script downloads), else `wasm` (SIMD, from npm alone),
 * or `cpu` (pure JS, 10–15× slower) when asked for. Returns the backend in use.
 */
export async function initBackend(pref: BackendPreference = 'auto'): Promise<string> {
  // createTagger makes a layers model synchronously: its code (and TF.js's) loads here, never for the fused model
  await (await import('./tagger.js')).loadLayersSupport();
  if (chosen && (pref === 'auto' || pref === chosen)) return chosen;
  if (pref === 'auto' || pref === 'tensorflow') {
    try {
      const name = '@tensorflow/tfjs-node';
      await import(name);
      if (await tf.setBackend('tensorflow')) return (chosen = 'tensorflow');
    } catch (e) {
      if (pref === 'tensorflow') {
        throw new EnvironmentError(
          `train.backend is tensorflow but @tensorflow/tfjs-node does not load (${(e as Error).message.split('\n')[0]}). ` +
            'Install it (npm install @tensorflow/tfjs-node, needs internet) or use backend: auto.',
        );
      }
    }
  }
  const name = pref === 'cpu' ? 'cpu' : 'wasm';
  if (!(await tf.setBackend(name))) {
    throw new EnvironmentError(
      `could not start the TensorFlow.js ${name} backend: use another train.backend (wasm needs npm alone)`,
    );
  }
  await tf.ready();
  tf.enableProdMode();
  return (chosen = name);
}

export { tf };
