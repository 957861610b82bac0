import { tf } from './backend.js';
import { unsortedSegmentSum } from './segment-sum.js';

export { unsortedSegmentSum };

let registered = false;

/** Register the linear-time kernel for the wasm and cpu backends (idempotent). */
export function registerKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    try {
      tf.unregisterKernel('UnsortedSegmentSum', backendName);
    } catch {
      // not registered for this backend (wasm has none)
    }
    tf.registerKernel({
      kernelName: 'UnsortedSegmentSum',
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
        const { numSegments } = attrs as unknown as { numSegments: number };
        const be = backend as unknown as {
          readSync(id: tf.DataId): Float32Array | Int32Array;
          makeOutput?: (shape: number[], dtype: tf.DataType) => tf.TensorInfo;
          typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array | Int32Array;
          makeTensorInfo?: (shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array) => tf.TensorInfo;
        };
        const inner = x.shape.slice(1).reduce((a, b) => a * b, 1);
        const shape = [numSegments, ...x.shape.slice(1)];
        const xs = be.readSync(x.dataId);
        const ids = be.readSync(segmentIds.dataId);
        const result =
          x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
        unsortedSegmentSum(xs, ids, numSegments, inner, result);
        if (be.makeOutput && be.typedArrayFromHeap) {
          const out = be.makeOutput(shape, x.dtype);
          be.typedArrayFromHeap(out).set(result);
          return out;
        }
        return be.makeTensorInfo!(shape, x.dtype, result);
      },
    });
  }
}
