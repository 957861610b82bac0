/** Pointers (byte offsets in the kernel's shared memory) and sizes of an inference model: see infer.ts. */
export interface InferLayout {
  H: number;
  K: number;
  /** Per direction (forward, backward): the input-projection table [V, 4H] and the recurrent kernel [H, 4H]. */
  tables: [number, number];
  wh: [number, number];
  denseKernel: number;
  denseBias: number;
  crf: { transitions: number; start: number; end: number; allowed: number } | null;
}

export interface InferJob {
  B: number;
  T: number;
  /** Row-major [B·T] word ids; rows sorted by length ascending. */
  tokens: Int32Array;
  lengths: Int32Array;
  /** probabilities: each position's probability of its own tag [B·T] instead of every tag's [B·T·K]. */
  compact?: boolean;
}

/** out[dst..dst+K) = softmax of logits[src..src+K) (max subtracted, exp, divided by the sum in tag order). */
export function softmaxAt(logits: Float32Array, src: number, out: Float32Array, dst: number, K: number): void;

export function arenaFloats(L: InferLayout, crfScratch: number, B: number, T: number): number;

export function computeBatch(
  k: unknown,
  memory: WebAssembly.Memory,
  L: InferLayout,
  arena: { base: number; end: number },
  job: InferJob,
): { predictions: Int32Array; probabilities: Float32Array };
