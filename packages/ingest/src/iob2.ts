/** IOB2: `O`, `B-TYPE` or `I-TYPE`; an `I-X` must follow `B-X` or `I-X` in the same sentence. */
export type TagShape = { prefix: 'O' | 'B' | 'I'; type: string } | null;

export function tagShape(tag: string): TagShape {
  if (tag === 'O') return { prefix: 'O', type: '' };
  const m = /^([BI])-(.+)$/.exec(tag);
  return m ? { prefix: m[1] as 'B' | 'I', type: m[2] } : null;
}

/** True when `tag` may follow `prev` (null at a sentence start) under IOB2. */
export function iob2Allows(prev: string | null, tag: string): boolean {
  if (!tag.startsWith('I-')) return true;
  return prev !== null && (prev === 'B-' + tag.slice(2) || prev === tag);
}
