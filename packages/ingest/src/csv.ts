import { ValidationError } from '@nerflow/core';

/** A quoted field still open at the end of the text: the file was cut off inside it (or has a stray quote). */
export class OpenQuoteAtEnd extends ValidationError {
  constructor(
    message: string,
    readonly line: number,
    readonly rowStart: number,
  ) {
    super(message);
  }
}

/**
 * RFC 4180 CSV: fields separated by commas, optionally double-quoted; `""` inside quotes is a quote;
 * quoted fields may hold commas and line breaks; CRLF or LF line ends. Calls `onRow(fields, line)` with
 * the 1-based line the row starts on and the offset just past it. A quote left open at the end of the file is a truncated file.
 */
export function parseCsv(
  text: string,
  file: string,
  onRow: (fields: string[], line: number, offset: number) => boolean | void,
): void {
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const rowLine = line;
    const rowStart = i;
    const fields: string[] = [];
    for (;;) {
      let value: string;
      if (text.charCodeAt(i) === 34 /* " */) {
        const quoteLine = line;
        let out = '';
        let start = ++i;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) {
            throw new OpenQuoteAtEnd(
              `${file}:${quoteLine}: a quoted field opened here is never closed: the file is truncated or has a stray quote. ` +
                `Re-export the file, or fix the quoting (a quote inside a quoted field is written "").`,
              rowLine,
              rowStart,
            );
          }
          for (let k = i; k < q; k++) if (text.charCodeAt(k) === 10) line++;
          if (text.charCodeAt(q + 1) === 34) {
            out += text.slice(start, q + 1);
            i = start = q + 2;
            continue;
          }
          out += text.slice(start, q);
          i = q + 1;
          break;
        }
        value = out;
        const c = text.charCodeAt(i);
        if (i < n && c !== 44 && c !== 13 && c !== 10) {
          throw new ValidationError(
            `${file}:${line}: unexpected text after a closing quote. A quote inside a quoted field must be doubled ("").`,
          );
        }
      } else {
        let j = i;
        while (j < n) {
          const c = text.charCodeAt(j);
          if (c === 44 || c === 13 || c === 10) break;
          if (c === 34)
            throw new ValidationError(
              `${file}:${line}: a double quote inside an unquoted field. Quote the whole field and double the quote ("...""...").`,
            );
          j++;
        }
        value = text.slice(i, j);
        i = j;
      }
      fields.push(value);
      const c = text.charCodeAt(i);
      if (c === 44) {
        i++;
        continue;
      }
      if (c === 13 && text.charCodeAt(i + 1) === 10) i += 2;
      else if (c === 10 || c === 13) i += 1;
      line++;
      break;
    }
    if (onRow(fields, rowLine, i) === false) return;
  }
}
