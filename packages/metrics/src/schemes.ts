import { chunks, type Chunk } from './chunks.js';

/**
 * Tag schemes: how entity spans are written as one tag per token. Ingest checks the declared scheme and
 * stores IOB2; featurize trains on IOB2 or BIOES; evaluate scores spans and writes predictions back in
 * the declared scheme. One module, so every stage agrees on what a tag means.
 *
 * - iob2:  B-X starts every entity, I-X continues it.
 * - iob1:  I-X starts and continues an entity; B-X only starts one that directly follows another X.
 * - bioes: B-X begin, I-X inside, E-X end, S-X a one-token entity.
 * - bilou: BIOES with L (last) for E and U (unit) for S.
 * - io:    I-X on every token of an entity (two adjacent X entities cannot be told apart).
 */
export type TagScheme = 'iob2' | 'iob1' | 'bioes' | 'bilou' | 'io';
export const TAG_SCHEMES: TagScheme[] = ['iob2', 'iob1', 'bioes', 'bilou', 'io'];

const PREFIXES: Record<TagScheme, string> = { iob2: 'BI', iob1: 'BI', bioes: 'BIES', bilou: 'BILU', io: 'I' };
const NAME: Record<TagScheme, string> = { iob2: 'IOB2', iob1: 'IOB1', bioes: 'BIOES', bilou: 'BILOU', io: 'IO' };
export const schemeName = (s: TagScheme): string => NAME[s];

/** What tags a scheme allows, for messages: "O, B-<type> or I-<type>". */
export function schemeTags(s: TagScheme): string {
  const list = ['O', ...PREFIXES[s].split('').map((p) => `${p}-<type>`)];
  return `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`;
}

/** `O` → {prefix 'O'}; `B-PER` → {prefix 'B', type 'PER'}; anything else (no prefix, unknown letter) → null. */
export function parseTag(tag: string): { prefix: string; type: string } | null {
  if (tag === 'O') return { prefix: 'O', type: '' };
  if (tag.length < 3 || tag.charCodeAt(1) !== 45 /* - */) return null;
  const p = tag[0];
  return 'BIESLU'.includes(p) ? { prefix: p, type: tag.slice(2) } : null;
}

/** True when the tag's shape belongs to the scheme (O, or a prefix the scheme uses). */
export function tagFits(tag: string, s: TagScheme): boolean {
  const t = parseTag(tag);
  return !!t && (t.prefix === 'O' || PREFIXES[s].includes(t.prefix));
}

/** What the rule broken at a transition is, for messages. */
export const SCHEME_RULE: Record<TagScheme, string> = {
  iob2: 'an I-X must follow B-X or I-X',
  iob1: 'a B-X must follow an X tag (B- only separates two adjacent X entities)',
  bioes: 'B-X/I-X must be followed by I-X or E-X, and I-X/E-X must follow B-X or I-X',
  bilou: 'B-X/I-X must be followed by I-X or L-X, and I-X/L-X must follow B-X or I-X',
  io: 'only O and I-X',
};

/**
 * Whether `tag` may follow `prev` (null = the sentence start) under the scheme; `tag` null = the sentence
 * end. Both tags must already fit the scheme.
 */
export function schemeAllows(prev: string | null, tag: string | null, s: TagScheme): boolean {
  const p = prev === null ? null : parseTag(prev);
  const t = tag === null ? null : parseTag(tag);
  const same = !!p && !!t && p.type === t.type;
  switch (s) {
    case 'iob2':
      return !t || t.prefix !== 'I' || (!!p && same && (p.prefix === 'B' || p.prefix === 'I'));
    case 'iob1':
      return !t || t.prefix !== 'B' || (!!p && same && (p.prefix === 'B' || p.prefix === 'I'));
    case 'io':
      return true;
    default: {
      const open = !!p && (p.prefix === 'B' || p.prefix === 'I');
      const cont = !!t && (t.prefix === 'I' || t.prefix === 'E' || t.prefix === 'L');
      return open ? cont && same : !cont;
    }
  }
}

/** Entity spans of one sentence written in `scheme` (conlleval's rules, which decode every scheme's valid tags exactly). */
export function spansOf(tags: string[], scheme: TagScheme): Chunk[] {
  if (scheme === 'iob1' || scheme === 'iob2' || scheme === 'io') return chunks(tags);
  return chunks(
    tags.map((t) =>
      t[0] === 'L' && t[1] === '-' ? 'E' + t.slice(1) : t[0] === 'U' && t[1] === '-' ? 'S' + t.slice(1) : t,
    ),
  );
}

/** Write spans as tags of `scheme` (spans sorted by start, not overlapping). */
export function tagsOf(spans: Chunk[], length: number, scheme: TagScheme): string[] {
  const out = new Array<string>(length).fill('O');
  let prevEnd = -2;
  let prevType = '';
  for (const { start, end, type } of spans) {
    const single = start === end;
    for (let i = start; i <= end; i++) out[i] = `I-${type}`;
    if (scheme === 'iob2') out[start] = `B-${type}`;
    else if (scheme === 'iob1') {
      if (prevEnd === start - 1 && prevType === type) out[start] = `B-${type}`;
    } else if (scheme === 'bioes' || scheme === 'bilou') {
      const [b, e, u] = scheme === 'bioes' ? ['B', 'E', 'S'] : ['B', 'L', 'U'];
      if (single) out[start] = `${u}-${type}`;
      else {
        out[start] = `${b}-${type}`;
        out[end] = `${e}-${type}`;
      }
    }
    prevEnd = end;
    prevType = type;
  }
  return out;
}

/** One sentence's tags from one scheme to another (identity when they are the same). */
export function convertTags(tags: string[], from: TagScheme, to: TagScheme): string[] {
  if (from === to) return tags;
  return tagsOf(spansOf(tags, from), tags.length, to);
}

/**
 * The schemes a corpus is valid in (every tag fits, no transition breaks the rules), given its tags and
 * sentence lengths; for "this file looks like IOB1" hints. Stops a scheme at its first problem.
 */
export function schemesThatFit(
  tags: ArrayLike<string>,
  lengths: ArrayLike<number>,
  candidates: TagScheme[] = TAG_SCHEMES,
): TagScheme[] {
  return candidates.filter((s) => {
    let k = 0;
    for (let n = 0; n < lengths.length; n++) {
      let prev: string | null = null;
      for (let i = 0; i < lengths[n]; i++, k++) {
        const t = tags[k];
        if (!tagFits(t, s) || !schemeAllows(prev, t, s)) return false;
        prev = t;
      }
      if (!schemeAllows(prev, null, s)) return false;
    }
    return true;
  });
}
