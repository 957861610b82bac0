/**
 * Entity chunks by the CoNLL shared-task scorer's rules (conlleval.pl, startOfChunk / endOfChunk) for
 * IOB tags: a chunk starts at B-X, or at I-X after O or after another type; it ends before B-*, O or a
 * tag of another type, and at the end of the sentence.
 */
export interface Chunk {
  start: number;
  /** Inclusive. */
  end: number;
  type: string;
}

/** Precomputed shape of each tag id: 0 = O, 1 = B, 2 = I; and its type id. */
export interface TagCodes {
  prefix: Uint8Array;
  type: Int32Array;
  types: string[];
}

export function tagCodes(tags: string[]): TagCodes {
  const types: string[] = [];
  const prefix = new Uint8Array(tags.length);
  const type = new Int32Array(tags.length).fill(-1);
  tags.forEach((t, i) => {
    const m = /^([BI])-(.+)$/.exec(t);
    if (!m) return; // O (or anything that is not B-/I-) is outside
    prefix[i] = m[1] === 'B' ? 1 : 2;
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
  for (let i = 0; i < seq.length; i++) {
    const p = codes.prefix[seq[i]];
    const t = codes.type[seq[i]];
    const starts = p === 1 || (p === 2 && (open < 0 || openType !== t));
    if (open >= 0 && (p === 0 || starts)) {
      out.push(open, i - 1, openType);
      open = -1;
    }
    if (starts) {
      open = i;
      openType = t;
    }
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
  for (let i = 0; i < flat.length; i += 3) out.push({ start: flat[i], end: flat[i + 1], type: codes.types[flat[i + 2]] });
  return out;
}
