import { createHash } from 'node:crypto';
import { ValidationError } from '@nerflow/core';
import { convertTags, schemeAllows, schemeName, schemeTags, tagFits, type TagScheme } from '@nerflow/metrics';

export type SplitName = 'train' | 'val' | 'test';

/** The corpus as columns, in file order (every file of data.splits one after the other). */
export interface Corpus {
  sentenceIds: Int32Array;
  positions: Int32Array;
  docIds: Int32Array;
  words: string[];
  pos: string[];
  /** IOB2, converted from data.scheme. */
  tags: string[];
  /** The tags as written in the file (the same array as `tags` when data.scheme is iob2). */
  writtenTags: string[];
  /** The split of each sentence (data.splits), or null for a single-file corpus. */
  sentenceSplits: (SplitName | null)[];
  rows: number;
  sentences: number;
  /** Token count of each sentence, in file order. */
  lengths: number[];
  /** Tag counts as written in the file (data.scheme). */
  tagCounts: Record<string, number>;
  violations: Violations;
  blankLines: number;
  docstarts: number;
  comments: number;
}

export interface Violations {
  count: number;
  sentences: number;
  first: { file: string; sentence: number; line: number; tag: string; prev: string }[];
}

/**
 * Collects tokens from any format (CSV, CoNLL) into columns, checking each tag against the declared
 * scheme as it goes. Tags are kept as written; `finish()` converts them to IOB2 a sentence at a time.
 */
export class CorpusBuilder {
  private cap = 1 << 16;
  private sentenceIds = new Int32Array(this.cap);
  private positions = new Int32Array(this.cap);
  private docIds = new Int32Array(this.cap);
  readonly words: string[] = [];
  readonly pos: string[] = [];
  readonly tags: string[] = [];
  readonly lengths: number[] = [];
  /** Per sentence: the file, its first line and its split. */
  readonly sentenceLines: number[] = [];
  private readonly ids: number[] = [];
  readonly sentenceFiles: string[] = [];
  readonly sentenceSplits: (SplitName | null)[] = [];
  readonly tagCounts: Record<string, number> = {};
  readonly violations: Violations = { count: 0, sentences: 0, first: [] };
  private readonly intern = new Map<string, string>();
  private readonly fits = new Map<string, boolean>();
  rows = 0;
  doc = 0;
  blankLines = 0;
  docstarts = 0;
  comments = 0;
  private current = -1;
  private position = 0;
  private prevTag: string | null = null;
  private lastViolSentence = -1;
  private prevLine = 0;
  file = '';
  split: SplitName | null = null;
  private fileStart = 0;

  constructor(
    readonly scheme: TagScheme,
    readonly limit: number | null,
  ) {}

  /** The next file (of data.splits) starts: limit_sentences counts per file. */
  beginFile(file: string, split: SplitName | null): void {
    this.endSentence();
    this.file = file;
    this.split = split;
    this.fileStart = this.lengths.length;
  }

  /** Sentences read from the current file. */
  get fileSentences(): number {
    return this.lengths.length - this.fileStart;
  }

  /** False when limit_sentences is reached (the reader stops). */
  startSentence(id: number, line: number): boolean {
    this.endSentence();
    if (this.limit !== null && this.lengths.length - this.fileStart >= this.limit) return false;
    this.current = id;
    this.position = 0;
    this.prevTag = null;
    this.lengths.push(0);
    this.ids.push(id);
    this.sentenceLines.push(line);
    this.sentenceFiles.push(this.file);
    this.sentenceSplits.push(this.split);
    return true;
  }

  /** Close the open sentence (checks that no entity is left open under BIOES/BILOU). */
  endSentence(): void {
    if (this.prevTag !== null && this.scheme !== 'iob2' && !schemeAllows(this.prevTag, null, this.scheme))
      this.violation(this.prevLine + 1, '(sentence end)', this.prevTag);
    this.prevTag = null;
  }

  get sentences(): number {
    return this.lengths.length;
  }

  /** Drop the last sentence (a file cut off inside it). */
  dropLastSentence(): void {
    const n = this.lengths.pop() ?? 0;
    this.ids.pop();
    this.sentenceLines.pop();
    this.sentenceFiles.pop();
    this.sentenceSplits.pop();
    for (let r = this.rows - n; r < this.rows; r++) this.tagCounts[this.tags[r]]--;
    this.rows -= n;
    this.words.length = this.pos.length = this.tags.length = this.rows;
    this.prevTag = null;
  }

  private violation(line: number, tag: string, prev: string): void {
    const v = this.violations;
    v.count++;
    if (this.current !== this.lastViolSentence) {
      v.sentences++;
      this.lastViolSentence = this.current;
    }
    if (v.first.length < 5) v.first.push({ file: this.file, sentence: this.current, line, tag, prev });
  }

  token(word: string, posTag: string, tag: string, line: number): void {
    if (this.fits.get(tag) !== true) this.checkTag(tag, line);
    const prev = this.prevTag;
    // IOB2 (the common case) inline: only an I-X needs a look at the previous tag
    const ok =
      this.scheme === 'iob2'
        ? tag.charCodeAt(0) !== 73 /* I */ ||
          (prev !== null && (prev === tag || (prev.charCodeAt(0) === 66 /* B */ && prev.slice(2) === tag.slice(2))))
        : schemeAllows(prev, tag, this.scheme);
    if (!ok) this.violation(line, tag, prev ?? '(sentence start)');
    this.prevTag = tag;
    this.prevLine = line;
    if (this.rows === this.cap) this.grow();
    const r = this.rows++;
    this.sentenceIds[r] = this.current;
    this.positions[r] = this.position++;
    this.docIds[r] = this.doc;
    this.words.push(word);
    const intern = this.intern;
    this.pos.push(intern.get(posTag) ?? (intern.set(posTag, posTag), posTag));
    this.tags.push(intern.get(tag) ?? (intern.set(tag, tag), tag));
    this.tagCounts[tag] = (this.tagCounts[tag] ?? 0) + 1;
    this.lengths[this.lengths.length - 1]++;
  }

  /** A tag seen for the first time: remember it if it fits the scheme, else the error (kept out of token() so that stays small). */
  private checkTag(tag: string, line: number): void {
    if (tagFits(tag, this.scheme)) {
      this.fits.set(tag, true);
      return;
    }
    const other = (['iob2', 'bioes', 'bilou', 'io'] as TagScheme[]).find((s) => s !== this.scheme && tagFits(tag, s));
    throw new ValidationError(
      `${this.file}:${line}: tag ${JSON.stringify(tag)} is not ${schemeName(this.scheme)}: expected ${schemeTags(this.scheme)}` +
        (other
          ? ` (data.scheme is ${this.scheme}; the tag fits ${schemeName(other)}: set data.scheme: ${other} if the file is written in it).`
          : '; it fits no tag scheme (a tag is O, or B-, I-, E-, S-, L- or U- and a type). Fix the tag, or point data.conll.tag / data.columns.tag at the tag column.'),
    );
  }

  private grow(): void {
    this.cap *= 2;
    for (const k of ['sentenceIds', 'positions', 'docIds'] as const) {
      const a = new Int32Array(this.cap);
      a.set(this[k]);
      this[k] = a;
    }
  }

  /** The id of sentence k (0-based, file order). */
  sentenceIdOf(k: number): number {
    return this.ids[k];
  }

  /** The first words of sentence k (0-based, file order), for messages. */
  describe(k: number): string {
    let start = 0;
    for (let i = 0; i < k; i++) start += this.lengths[i];
    const words = this.words.slice(start, start + Math.min(8, this.lengths[k]));
    return `"${words.join(' ')}${this.lengths[k] > 8 ? ' …' : ''}"`;
  }

  finish(): Corpus {
    this.endSentence();
    const rows = this.rows;
    let tags = this.tags;
    if (this.scheme !== 'iob2') {
      tags = new Array<string>(rows);
      const intern = this.intern;
      let a = 0;
      for (const n of this.lengths) {
        const out = convertTags(this.tags.slice(a, a + n), this.scheme, 'iob2');
        for (let i = 0; i < n; i++) tags[a + i] = intern.get(out[i]) ?? (intern.set(out[i], out[i]), out[i]);
        a += n;
      }
    }
    for (const k of Object.keys(this.tagCounts)) if (this.tagCounts[k] === 0) delete this.tagCounts[k];
    return {
      sentenceIds: this.sentenceIds.subarray(0, rows),
      positions: this.positions.subarray(0, rows),
      docIds: this.docIds.subarray(0, rows),
      words: this.words,
      pos: this.pos,
      tags,
      writtenTags: this.tags,
      sentenceSplits: this.sentenceSplits,
      rows,
      sentences: this.lengths.length,
      lengths: this.lengths,
      tagCounts: this.tagCounts,
      violations: this.violations,
      blankLines: this.blankLines,
      docstarts: this.docstarts,
      comments: this.comments,
    };
  }
}

/**
 * sha256 over the table's content (the DuckDB file's bytes vary run to run): the integer columns as bytes,
 * the text columns joined by U+001F (in slices, so no string grows past 64k rows), the split per sentence.
 */
export function corpusDigest(c: Corpus): string {
  const h = createHash('sha256');
  for (const a of [c.sentenceIds, c.positions, c.docIds]) h.update(new Uint8Array(a.buffer, a.byteOffset, c.rows * 4));
  for (const col of [c.words, c.pos, c.tags]) {
    for (let r = 0; r < c.rows; r += 1 << 16)
      h.update(col.slice(r, Math.min(c.rows, r + (1 << 16))).join('\x1f') + '\x1e');
  }
  h.update(c.sentenceSplits.map((s) => s ?? '').join(','));
  return h.digest('hex');
}
