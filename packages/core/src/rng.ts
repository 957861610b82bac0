/**
 * mulberry32: a tiny seeded PRNG, the same sequence on every machine; floats in [0, 1).
 * The one generator behind every seeded draw in nerflow (the split, batch shuffles, random sweeps, weight init).
 */
export function mulberry32(seed: number): () => number {
  return new Mulberry32(seed).next;
}

/**
 * mulberry32 whose state (one uint32) can be read and set: a training checkpoint saves the dropout generator's
 * state, so a resumed training draws the masks an uninterrupted one would have.
 */
export class Mulberry32 {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  readonly next = (): number => bits((this.state = (this.state + STEP) >>> 0)) / 4294967296;

  /**
   * Dropout-style masks without a call and a branch per draw: out[i] = 0 where draw i < p, else `keep`, for
   * out.length draws — the same draws, and the same state after, as that many calls of next() (draw < p exactly
   * when its 32 bits < p·2^32: both sides scaled by a power of two).
   */
  maskInto(out: Float32Array, p: number, keep: number): void {
    this.state = maskDraws(out, this.state, p * 4294967296, keep);
  }

  /** Move the state past n draws without making them (each draw adds one fixed step to the state, modulo 2^32). */
  skip(n: number): void {
    this.state = (this.state + Math.imul(n, STEP)) >>> 0;
  }
}

/**
 * maskInto's loop from state s (threshold P = p·2^32), returning the state after. A function of its own: as a method
 * the loop was compiled on its own (OSR) before `this.state = s` after it had ever run, and that code then bailed
 * out at the store on every later call ("insufficient type feedback"), hundreds of times in a benchmark.
 */
function maskDraws(out: Float32Array, s: number, P: number, keep: number): number {
  const n = out.length;
  for (let i = 0; i < n; i++) {
    s = (s + STEP) >>> 0;
    // bits(s), inlined: V8 did not inline the call here (3x slower)
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = keep * +((t ^ (t >>> 14)) >>> 0 >= P);
  }
  return s;
}

const STEP = 0x6d2b79f5;

/** mulberry32's output bits (uint32) for a state. */
function bits(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** Standard normal draws (Box–Muller) from a uniform source. */
export function normal(rand: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
