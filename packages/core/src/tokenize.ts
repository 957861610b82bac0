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

/** Tokens of a text with their character offsets (UTF-16 code units, as JavaScript strings index). */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  TOKEN_RE.lastIndex = 0;
  for (let m = TOKEN_RE.exec(text); m; m = TOKEN_RE.exec(text)) {
    let word = m[0];
    let start = m.index;
    let end = start + word.length;
    if (/^[\p{L}\p{M}\p{N}]/u.test(word)) {
      if (text[end] === '.' && isAbbreviation(word)) {
        word += '.';
        end++;
        TOKEN_RE.lastIndex = end;
      }
      const c = CLITIC_RE.exec(word);
      if (c && c.index > 0) {
        out.push({ text: word.slice(0, c.index), start, end: start + c.index });
        start += c.index;
        word = word.slice(c.index);
      }
    }
    out.push({ text: word, start, end });
  }
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
  const out: { start: number; end: number }[] = [];
  let first = 0;
  const flush = (last: number) => {
    if (last >= first) out.push({ start: tokens[first].start, end: tokens[last].end });
    first = last + 1;
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (!next) break;
    // (cheap checks first: a blank line needs 2+ characters between the tokens; an end needs . ? or ! first)
    if (next.start - t.end >= 2 && /\n\s*\n/.test(text.slice(t.end, next.start))) {
      flush(i);
      continue;
    }
    const c0 = t.text.charCodeAt(0);
    if ((c0 !== 46 && c0 !== 63 && c0 !== 33) || !/^(?:[.?!]|\.\.\.+)$/.test(t.text)) continue;
    let j = i;
    while (tokens[j + 1] && tokens[j + 1].start === tokens[j].end && /^["')\]]$/.test(tokens[j + 1].text)) j++;
    const after = tokens[j + 1];
    if (!after || after.start === tokens[j].end) continue;
    if (/^[\p{Lu}\p{N}"'([]/u.test(after.text)) {
      flush(j);
      i = j;
    }
  }
  if (first < tokens.length) flush(tokens.length - 1);
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
