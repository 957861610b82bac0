import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readManifest, stageDir, ValidationError, type Manifest, type StageContext } from '@nerflow/core';

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
  const tagsJson = JSON.parse(readFileSync(path.join(dir, 'tags.json'), 'utf8'));
  const vocabJson = JSON.parse(readFileSync(path.join(dir, 'vocab.json'), 'utf8'));
  const tags: string[] = Array.isArray(tagsJson) ? tagsJson : tagsJson.tags;
  const words: string[] = Array.isArray(vocabJson) ? vocabJson : vocabJson.words;
  return {
    dir, manifest, tags, vocabSize: words.length,
    trainFile: path.join(dir, 'train.arrow'), valFile: path.join(dir, 'val.arrow'),
    vocabFile: path.join(dir, 'vocab.json'), tagsFile: path.join(dir, 'tags.json'),
  };
}
