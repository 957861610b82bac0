// The batch file the PyTorch side of the benchmarks reads (torch_tagger.py: read_header, read_batches), written
// by nerflow-bench.ts (timed batches) and accuracy.ts (every epoch's batches, then val's):
// [u32 header length][header JSON][per batch: tokens i32, tags i32, lengths i32, then any extra arrays (chars)].
import { writeFileSync } from 'node:fs';
import type { Batch, TaggerSpec } from '@nerflow/nn';

/** The header's model fields: what torch_tagger.Tagger is built from (the same sizes, head and constraint). */
export function modelHeader(spec: TaggerSpec, tagNames: string[]) {
  return {
    vocab: spec.vocabSize,
    tags: spec.numTags,
    tag_names: tagNames,
    embedding_dim: spec.embeddingDim,
    lstm_units: spec.lstmUnits,
    dropout: spec.dropout,
    learning_rate: spec.learningRate,
    head: spec.head,
    crf_constrain: spec.crf?.constrain ?? false,
  };
}

/** Writes the header and the batches in order; `extra` adds arrays after a batch's tokens, tags and lengths. */
export function writeBatchFile(
  file: string,
  header: object,
  batches: Batch[],
  extra: (b: Batch) => Int32Array[] = () => [],
): void {
  const json = Buffer.from(JSON.stringify(header));
  const parts: Buffer[] = [Buffer.from(Uint32Array.of(json.length).buffer), json];
  for (const b of batches)
    for (const a of [b.tokens, b.tags, b.lengths, ...extra(b)])
      parts.push(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  writeFileSync(file, Buffer.concat(parts));
}
