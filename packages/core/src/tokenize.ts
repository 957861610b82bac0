/**
 * Raw text → tokens the way the bundled corpus (GMB / Kaggle ner_dataset.csv, Penn-Treebank-like) is
 * tokenized, with exact character offsets (`text.slice(start, end) === token` always). Rules, in order:
 * 1. Whitespace separates tokens and is never part of one.
 * 2. A word is letters/digits joined by `-`, `~`, `&`, `'` + letter (Shi'ite, O'Connor, al-Qaida,
 *    U.S.-led, 2,00,000, 1.5, 06-Mar), `.` or `,` between digits, and `.` between letters when the part
 *    before is one letter (U.S, D.C).
 * 3. A trailing `.` belongs to the word when the word is an abbreviation: letters with inner dots (U.S.),
 *    one capital letter (an initial: J.), or one of ABBREVIATIONS (Mr., Dr., St., Corp., Jan., …).
 * 4. Clitics split off the end of a word as the corpus does: `'s`, `'S`, `n't`, `'re`, `'ve`, `'ll`,
 *    `'d`, `'m` (Iraq's → Iraq 's; don't → do n't). A lone `'` (workers') is its own token.
 * 5. `--` and `...` are one token; every other symbol (`$ % " ( ) , ; : ? ! / #`) is a token of its own.
 * No npm tokenizer fitted: the maintained ones (wink-tokenizer, natural's Treebank tokenizer) give no
 * character offsets and split U.S.-led, 2,00,000 or Shi'ite differently from the corpus.
 */
export const TOKENIZER = { name: 'nerflow-gmb', version: '1' } as const;

export interface Token {
  text: string;
  start: number;
  end: number;
}

export const ABBREVIATIONS = new Set([
  'Mr',
  'Mrs',
  'Ms',
  'Dr',
  'St',
  'Sr',
  'Jr',
  'Prof',
  'Gen',
  'Sen',
  'Rep',
  'Gov',
  'Lt',
  'Col',
  'Sgt',
  'Capt',
  'Maj',
  'Adm',
  'Cmdr',
  'Corp',
  'Inc',
  'Co',
  'Ltd',
  'Bros',
  'No',
  'vs',
  'etc',
  'Ave',
  'Mt',
  'Ft',
  'Rev',
  'Pres',
  'Gov',
  'Atty',
  'Supt',
  'Det',
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Sept',
  'Oct',
  'Nov',
  'Dec',
]);

const L = '\\p{L}\\p{M}';
const LN = `${L}\\p{N}`;
// a word: alnum runs joined by the rule-2 joiners (the trailing-dot rule is applied after the match)
const WORD = `[${LN}]+(?:(?:[-~&]|'(?=[${L}])|(?<=\\p{N})[.,](?=\\p{N})|(?<=(?:^|[^${LN}.])(?:[${L}]\\.)*[${L}])\\.-?(?=[${L}]))[${LN}]+)*`;
const TOKEN_RE = new RegExp(`${WORD}|--+|\\.\\.\\.+|\\S`, 'gu');
const CLITIC_RE = /(?:'[sSdDmM]|n't|N'T|'re|'RE|'ve|'VE|'ll|'LL)$/u;

function isAbbreviation(word: string): boolean {
  return /^(?:\p{L}\.)+\p{L}$/u.test(word) || /^\p{Lu}$/u.test(word) || ABBREVIATIONS.has(word);
}

/** Tokens as parallel arrays: texts[i] = text.slice(starts[i], ends[i]) (no object per token). */
export interface FlatTokens {
  texts: string[];
  starts: number[];
  ends: number[];
}

// the same pattern anchored where a token starts (sticky): every alternative begins with a non-space character,
// so the global pattern's next match starts at the next non-space character, exactly where this one is tried
const TOKEN_AT = new RegExp(TOKEN_RE.source, 'uy');
const SPACE = /\s/u;

/** Whether s[i] is a character \s matches (all are in the BMP; ASCII answered without a regex). */
function isSpace(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return SPACE.test(s[i]);
}

/** Whether the word starts with a letter, mark or digit (ASCII answered without a regex). */
function startsAlnum(word: string): boolean {
  const c = word.charCodeAt(0);
  if (c < 128) return isAsciiAlnum(c);
  return /^[\p{L}\p{M}\p{N}]/u.test(word);
}

/**
 * Where the pattern's match starting at s[at] ends, for the plain ASCII cases, without running it: a run of
 * ASCII letters and digits followed by the end or by an ASCII character that cannot join (not a letter, digit,
 * `-`, `~`, `&`, `'`, `.` or `,`) is the whole match (the joiners are the pattern's only way on); an ASCII
 * symbol other than `-` and `.` (which can start `--` or `...`) is a token alone. Else -1: run the pattern.
 */
function asciiToken(s: string, at: number): number {
  const c = s.charCodeAt(at);
  if (c >= 128) return -1;
  if (!isAsciiAlnum(c)) return c === 45 || c === 46 ? -1 : at + 1;
  let i = at + 1;
  while (i < s.length && isAsciiAlnum(s.charCodeAt(i))) i++;
  if (i === s.length) return i;
  const n = s.charCodeAt(i);
  // - ~ & ' , . or any non-ASCII character (a letter, mark or digit continues the word): the pattern decides
  if (n >= 128 || n === 45 || n === 126 || n === 38 || n === 39 || n === 44 || n === 46) return -1;
  return i;
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122);
}

/**
 * tokenize's tokens as parallel arrays, without an object (nor a regex match) per token: what predict and serve
 * use on every input. The same tokens and offsets as tokenize (a test checks it on the corpus).
 */
export function tokenizeFlat(text: string): FlatTokens {
  const texts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const n = text.length;
  let at = 0;
  for (;;) {
    while (at < n && isSpace(text, at)) at++;
    if (at >= n) break;
    let end = asciiToken(text, at);
    if (end < 0) {
      TOKEN_AT.lastIndex = at;
      TOKEN_AT.test(text); // always matches at a non-space character (the last alternative is \S)
      end = TOKEN_AT.lastIndex;
    }
    let start = at;
    let word = text.slice(start, end);
    if (startsAlnum(word)) {
      if (text.charCodeAt(end) === 46 && isAbbreviation(word)) {
        word += '.';
        end++;
      }
      const c = word.includes("'") ? CLITIC_RE.exec(word) : null; // every clitic has an apostrophe
      if (c && c.index > 0) {
        texts.push(word.slice(0, c.index));
        starts.push(start);
        ends.push(start + c.index);
        start += c.index;
        word = word.slice(c.index);
      }
    }
    texts.push(word);
    starts.push(start);
    ends.push(end);
    at = end;
  }
  return { texts, starts, ends };
}

/** Tokens of a text with their character offsets (UTF-16 code units, as JavaScript strings index). */
export function tokenize(text: string): Token[] {
  const { texts, starts, ends } = tokenizeFlat(text);
  const out = new Array<Token>(texts.length);
  for (let i = 0; i < texts.length; i++) out[i] = { text: texts[i], start: starts[i], end: ends[i] };
  return out;
}

/**
 * Split a document into sentences (character ranges). Rule: a sentence ends at `.`, `?` or `!` (with any
 * closing quotes or brackets right after it) that is followed by whitespace and then an upper-case
 * letter, a digit or an opening quote/bracket — unless the `.` ends an abbreviation (rule 3 above: Mr.,
 * U.S., J.), which does not end a sentence; a line break after two or more newlines always ends one.
 * `tokens`: tokenize(text), when the caller has them already.
 */
export function splitSentences(text: string, tokens: Token[] = tokenize(text)): { start: number; end: number }[] {
  return sentenceRanges(text, {
    texts: tokens.map((t) => t.text),
    starts: tokens.map((t) => t.start),
    ends: tokens.map((t) => t.end),
  }).map(([first, last]) => ({ start: tokens[first].start, end: tokens[last - 1].end }));
}

/** splitSentences on tokenizeFlat's tokens, as token ranges [first, last) (the same sentences). */
export function sentenceRanges(text: string, tokens: FlatTokens): [number, number][] {
  const { texts, starts, ends } = tokens;
  const n = texts.length;
  const out: [number, number][] = [];
  let first = 0;
  for (let i = 0; i + 1 < n; i++) {
    // (cheap checks first: a blank line needs 2+ characters between the tokens; an end needs . ? or ! first)
    if (starts[i + 1] - ends[i] >= 2 && /\n\s*\n/.test(text.slice(ends[i], starts[i + 1]))) {
      if (i >= first) out.push([first, i + 1]);
      first = i + 1;
      continue;
    }
    const t = texts[i];
    const c0 = t.charCodeAt(0);
    if ((c0 !== 46 && c0 !== 63 && c0 !== 33) || !/^(?:[.?!]|\.\.\.+)$/.test(t)) continue;
    let j = i;
    while (j + 1 < n && starts[j + 1] === ends[j] && /^["')\]]$/.test(texts[j + 1])) j++;
    if (j + 1 >= n || starts[j + 1] === ends[j]) continue;
    if (/^[\p{Lu}\p{N}"'([]/u.test(texts[j + 1])) {
      if (j >= first) out.push([first, j + 1]);
      first = j + 1;
      i = j;
    }
  }
  if (first < n) out.push([first, n]);
  return out;
}

/**
 * Corpus tokens → the text a person would type (for measuring the tokenizer): single spaces, none
 * before closing punctuation and clitics or after opening ones; straight double quotes alternate.
 * Returns the text and each token's offset in it.
 */
export function detokenize(tokens: string[]): { text: string; offsets: number[] } {
  let text = '';
  const offsets: number[] = [];
  let quoteOpen = false;
  let glueNext = false;
  for (const t of tokens) {
    let space = text.length > 0 && !glueNext;
    glueNext = false;
    if (/^(?:[.,;:?!%)\]}]|\.\.\.|'[sSdDmM]|n't|'re|'ve|'ll)$/.test(t)) space = false;
    if (t === '"') {
      if (quoteOpen) space = false;
      else glueNext = true;
      quoteOpen = !quoteOpen;
    }
    if (/^[($[{]$/.test(t)) glueNext = true;
    if (space) text += ' ';
    offsets.push(text.length);
    text += t;
  }
  return { text, offsets };
}
