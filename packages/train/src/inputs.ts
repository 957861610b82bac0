import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  readManifest,
  readTags,
  readVocab,
  stageDir,
  ValidationError,
  type Manifest,
  type StageContext,
} from '@nerflow/core';

/** What train reads from featurize (contract: packages/featurize/README.md). */
export interface FeaturizeOutputs {
  dir: string;
  manifest: Manifest;
  trainFile: string;
  valFile: string;
  vocabFile: string;
  tagsFile: string;
  tags: string[];
  vocabSize: number;
  /** chars.json (the character vocabulary), when featurize wrote one. */
  charsFile: string | null;
  charVocabSize: number | null;
  /** vocab.json's words (id → word), for pre-trained vectors; the first trainSize are train words. */
  words: string[];
  trainSize: number;
}

export async function featurizeOutputs(ctx: StageContext): Promise<FeaturizeOutputs> {
  const dir = stageDir(ctx.root, ctx.config.name, 'featurize');
  const manifest = await readManifest(dir);
  const need = ['train.arrow', 'val.arrow', 'vocab.json', 'tags.json'];
  const missing = need.filter((f) => !existsSync(path.join(dir, f)));
  if (!manifest || missing.length) {
    throw new ValidationError(
      `${dir}: no complete featurize output (${manifest ? `missing ${missing.join(', ')}` : 'no manifest.json'}). ` +
        `Run \`npx nerflow featurize --config ${ctx.config.name}\` first (or \`npx nerflow pipeline --config ${ctx.config.name}\`).`,
    );
  }
  const tags = readTags(dir);
  const vocab = readVocab(dir);
  if (!tags || !vocab)
    throw new ValidationError(
      `${dir}: tags.json or vocab.json is unreadable. Run \`npx nerflow featurize --config ${ctx.config.name} --force\`.`,
    );
  const charsFile = path.join(dir, 'chars.json');
  const charVocabSize = existsSync(charsFile) ? (JSON.parse(readFileSync(charsFile, 'utf8')).size as number) : null;
  return {
    dir,
    manifest,
    tags,
    vocabSize: vocab.words.length,
    words: vocab.words,
    trainSize: vocab.train_size ?? vocab.words.length,
    charsFile: charVocabSize === null ? null : charsFile,
    charVocabSize,
    trainFile: path.join(dir, 'train.arrow'),
    valFile: path.join(dir, 'val.arrow'),
    vocabFile: path.join(dir, 'vocab.json'),
    tagsFile: path.join(dir, 'tags.json'),
  };
}
