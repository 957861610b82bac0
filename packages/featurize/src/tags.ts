/** Tag index order: O first, then by entity type, B- before I- (then E-, S-), stable whatever order the data has. */
export function orderTags(tags: Iterable<string>): string[] {
  const rank: Record<string, string> = { B: '1', I: '2', E: '3', S: '4' };
  const key = (t: string) => (t === 'O' ? ['', ''] : [t.slice(2), rank[t[0]] ?? t.slice(0, 1)]);
  return [...new Set(tags)].sort((a, b) => {
    const [ta, pa] = key(a);
    const [tb, pb] = key(b);
    return ta < tb ? -1 : ta > tb ? 1 : pa < pb ? -1 : pa > pb ? 1 : 0;
  });
}
