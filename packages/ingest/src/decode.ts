import { ValidationError } from '@nerflow/core';

/**
 * Windows-1252 bytes 0x80–0x9F. (Node 20's TextDecoder('windows-1252') decodes these as latin-1 C1
 * controls, so `Korea’s` would come out with U+0092 inside: we map them ourselves.)
 * null = undefined in Windows-1252.
 */
const CP1252_C1: (number | null)[] = [
  0x20ac,
  null,
  0x201a,
  0x0192,
  0x201e,
  0x2026,
  0x2020,
  0x2021,
  0x02c6,
  0x2030,
  0x0160,
  0x2039,
  0x0152,
  null,
  0x017d,
  null,
  null,
  0x2018,
  0x2019,
  0x201c,
  0x201d,
  0x2022,
  0x2013,
  0x2014,
  0x02dc,
  0x2122,
  0x0161,
  0x203a,
  0x0153,
  null,
  0x017e,
  0x0178,
];

export type Encoding = 'windows-1252' | 'latin1' | 'utf-8';

function lineAt(buf: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (buf[i] === 0x0a) line++;
  return line;
}

/** Decode the whole file; bytes that the encoding does not define are an error naming the line. */
export function decodeText(buf: Uint8Array, encoding: Encoding, file: string): string {
  if (encoding === 'utf-8') {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    } catch {
      const bad = firstInvalidUtf8(buf);
      throw new ValidationError(
        `${file}:${lineAt(buf, bad)}: byte 0x${buf[bad].toString(16)} at offset ${bad} is not valid UTF-8. ` +
          `The file is probably Windows-1252 (the Kaggle ner_dataset.csv is): set data.encoding: windows-1252.`,
      );
    }
  }
  const latin = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1');
  if (encoding === 'latin1') return latin;
  return latin.replace(/[\x80-\x9f]/g, (ch, offset: number) => {
    const cp = CP1252_C1[ch.charCodeAt(0) - 0x80];
    if (cp === null) {
      throw new ValidationError(
        `${file}:${lineAt(buf, offset)}: byte 0x${ch.charCodeAt(0).toString(16)} is not defined in Windows-1252, so the file is not Windows-1252 text. ` +
          `Set data.encoding to the file's real encoding (utf-8 or latin1).`,
      );
    }
    return String.fromCodePoint(cp);
  });
}

function firstInvalidUtf8(buf: Uint8Array): number {
  for (let i = 0; i < buf.length;) {
    const b = buf[i];
    const n = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= buf.length || (buf[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return 0;
}

/** A hint when a Windows-1252 read looks like UTF-8 (’ written as E2 80 99 reads as â€™). */
export function looksLikeUtf8(buf: Uint8Array): boolean {
  let multi = 0;
  for (let i = 0; i + 2 < buf.length && multi < 3; i++) {
    if (buf[i] >= 0xc2 && buf[i] < 0xf0 && (buf[i + 1] & 0xc0) === 0x80) multi++;
  }
  return multi >= 3;
}
