import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ValidationError } from '@nerflow/core';

/** Read the corpus file's bytes, gunzipping `.gz` (or gzip magic), and reject what is clearly not text. */
export async function readSourceBytes(file: string): Promise<Buffer> {
  const st = await stat(file).catch(() => null);
  if (!st)
    throw new ValidationError(
      `${file}: no such file. Set data.path in the config to the corpus file (.csv, .conll, … or .gz); paths are relative to the config file.`,
    );
  if (st.isDirectory()) throw new ValidationError(`${file} is a folder. Set data.path to the corpus file itself.`);
  let buf = await readFile(file);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new ValidationError(
        `${file}: the gzip stream is damaged (${(e as Error).message}): the file is truncated or corrupt. Re-create it with gzip.`,
      );
    }
  } else if (file.endsWith('.gz')) {
    throw new ValidationError(
      `${file}: the name ends in .gz but the file is not gzip-compressed. Rename it to .csv or compress it with gzip.`,
    );
  }
  if (buf.length === 0) throw new ValidationError(`${file}:1: the file is empty. Point data.path at the corpus CSV.`);
  const head = buf.subarray(0, 200).toString('latin1');
  if (head.startsWith('version https://git-lfs.github.com/spec/')) {
    throw new ValidationError(
      `${file}:1: this is a Git LFS pointer, not the data. Run \`git lfs pull\` (or download the real file) and try again.`,
    );
  }
  if (buf.subarray(0, 4096).includes(0)) {
    throw new ValidationError(
      `${file}:1: the file contains NUL bytes, so it is binary, not CSV text. Point data.path at the CSV.`,
    );
  }
  return buf;
}
