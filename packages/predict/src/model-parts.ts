import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelFolderError, type ModelMeta } from '@nerflow/nn';

/** chars.json as featurize writes it and train copies it into a char model's folder (part "chars"). */
export interface CharVocabFile {
  max_word_len: number;
  size: number;
  /** chars[i] = the character (one Unicode code point) of id i; 0 = padding, 1 = unknown. */
  chars: string[];
}

/** A char model's character vocabulary, checked against the model's char embedding size. */
export async function readCharVocab(dir: string, vocabSize: number): Promise<CharVocabFile> {
  const file = path.join(dir, 'chars.json');
  let j: CharVocabFile;
  try {
    j = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not valid JSON (${(e as Error).message})`}; this char-CNN model needs its character vocabulary: copy the whole model folder or train it again`,
    );
  }
  const ok =
    Array.isArray(j?.chars) &&
    j.chars.every((c) => typeof c === 'string') &&
    Number.isInteger(j.max_word_len) &&
    j.max_word_len > 0 &&
    j.chars.length === vocabSize;
  if (!ok)
    throw new ModelFolderError(
      `${file}: not the character vocabulary of this model ({max_word_len, size, chars} with ${vocabSize} characters, as nerflow.json spec.chars.vocabSize); copy the whole model folder or train it again`,
    );
  return j;
}

/**
 * What the model's tag ids mean: nerflow.json tag_scheme (written by train from featurize.tag_scheme),
 * else the training config's featurize.tag_scheme, else from the tags themselves (any E-/S- tag: BIOES).
 */
export function tagSchemeOf(meta: Pick<ModelMeta, 'tag_scheme' | 'training' | 'tags'>): string {
  const featurize = meta.training?.featurize as { tag_scheme?: string } | undefined;
  return (
    meta.tag_scheme ?? featurize?.tag_scheme ?? ((meta.tags ?? []).some((t) => /^[ES]-/.test(t)) ? 'bioes' : 'iob2')
  );
}
