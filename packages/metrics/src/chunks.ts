/**
 * Entity chunks by the CoNLL shared-task scorer's rules (conlleval.pl, startOfChunk / endOfChunk) for
 * IOB tags: a chunk starts at B-X, or at I-X after O or after another type; it ends before B-*, O or a
 * tag of another type, and at the end of the sentence. BIOES/BILOU tags follow the same scorer's E/S
 * rules (L = E, U = S): a chunk also ends after E-* or S-*, starts at S-*, and at I-X/E-X after E or S.
 * Every scheme's well-formed tags decode to exactly the spans they were written from (schemes.ts).
 */
export interface Chunk {
  start: number;
  /** Inclusive. */
  end: number;
  type: string;
}

/** Precomputed shape of each tag id: 0 = O, 1 = B, 2 = I, 3 = E (or L), 4 = S (or U); and its type id. */
export interface TagCodes {
  prefix: Uint8Array;
  type: Int32Array;
  types: string[];
}

const PREFIX_CODE: Record<string, number> = { B: 1, I: 2, E: 3, L: 3, S: 4, U: 4 };

export function tagCodes(tags: string[]): TagCodes {
  const types: string[] = [];
  const prefix = new Uint8Array(tags.length);
  const type = new Int32Array(tags.length).fill(-1);
  tags.forEach((t, i) => {
    const m = /^([BIESLU])-(.+)$/.exec(t);
    if (!m) return; // O (or anything that is not B-/I-/E-/S-/L-/U-) is outside
    prefix[i] = PREFIX_CODE[m[1]];
    let ti = types.indexOf(m[2]);
    if (ti < 0) ti = types.push(m[2]) - 1;
    type[i] = ti;
  });
  return { prefix, type, types };
}

/** Chunks of one sentence of tag ids, as [start, end, typeId] triples packed in a flat array. */
export function chunkIds(seq: ArrayLike<number>, codes: TagCodes): number[] {
  const out: number[] = [];
  let open = -1;
  let openType = -1;
  let prev = 0;
  for (let i = 0; i < seq.length; i++) {
    const p = codes.prefix[seq[i]];
    const t = codes.type[seq[i]];
    // after E or S nothing continues; B and S always start; I/E start when nothing of their type is open
    const closed = prev === 3 || prev === 4;
    const starts = p === 1 || p === 4 || ((p === 2 || p === 3) && (open < 0 || closed || openType !== t));
    if (open >= 0 && (p === 0 || starts || closed)) {
      out.push(open, i - 1, openType);
      open = -1;
    }
    if (starts) {
      open = i;
      openType = t;
    }
    prev = p;
  }
  if (open >= 0) out.push(open, seq.length - 1, openType);
  return out;
}

/** Chunks of one sentence of tag strings. */
export function chunks(tags: string[]): Chunk[] {
  const uniq = [...new Set(tags)];
  const codes = tagCodes(uniq);
  const ids = tags.map((t) => uniq.indexOf(t));
  const flat = chunkIds(ids, codes);
  const out: Chunk[] = [];
  for (let i = 0; i < flat.length; i += 3)
    out.push({ start: flat[i], end: flat[i + 1], type: codes.types[flat[i + 2]] });
  return out;
}
