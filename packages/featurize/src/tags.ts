/** Tag index order: O first, then by entity type, B- before I- (stable whatever order the data has). */
export function orderTags(tags: Iterable<string>): string[] {
  const key = (t: string) => (t === 'O' ? ['', ''] : [t.slice(2), t.slice(0, 1)]);
  return [...new Set(tags)].sort((a, b) => {
    const [ta, pa] = key(a);
    const [tb, pb] = key(b);
    return ta < tb ? -1 : ta > tb ? 1 : pa < pb ? -1 : pa > pb ? 1 : 0;
  });
}
