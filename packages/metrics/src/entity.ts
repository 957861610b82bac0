import { chunkIds, tagCodes } from './chunks.js';
import type { LabelScores } from './token.js';

export interface EntityReport {
  per_type: Record<string, LabelScores>;
  micro: { precision: number; recall: number; f1: number };
  macro_f1: number;
  scheme: 'conlleval';
  gold_entities: number;
  predicted_entities: number;
  correct_entities: number;
}

const div = (a: number, b: number) => (b === 0 ? 0 : a / b);
const f1 = (p: number, r: number) => div(2 * p * r, p + r);

/**
 * Entity-level scores (conlleval): a predicted chunk is correct only if a gold chunk has the same start,
 * end and type. Per type precision/recall/F1 and support (= gold chunks), micro over all chunks, macro F1
 * over the types seen in gold or predictions. Input: tag ids per sentence (real tokens only).
 */
export function entityReport(gold: ArrayLike<number>[], pred: ArrayLike<number>[], tags: string[]): EntityReport {
  const codes = tagCodes(tags);
  const k = codes.types.length;
  const nGold = new Float64Array(k);
  const nPred = new Float64Array(k);
  const nCorrect = new Float64Array(k);
  for (let s = 0; s < gold.length; s++) {
    const g = chunkIds(gold[s], codes);
    const p = chunkIds(pred[s], codes);
    for (let i = 0; i < g.length; i += 3) nGold[g[i + 2]]++;
    for (let i = 0; i < p.length; i += 3) nPred[p[i + 2]]++;
    // both lists are ordered by start; walk them together
    let a = 0;
    let b = 0;
    while (a < g.length && b < p.length) {
      if (g[a] === p[b]) {
        if (g[a + 1] === p[b + 1] && g[a + 2] === p[b + 2]) nCorrect[g[a + 2]]++;
        a += 3;
        b += 3;
      } else if (g[a] < p[b]) a += 3;
      else b += 3;
    }
  }
  const per_type: Record<string, LabelScores> = {};
  let macro = 0;
  let seen = 0;
  const order = codes.types.map((t, i) => [t, i] as const).sort((x, y) => (x[0] < y[0] ? -1 : 1));
  for (const [type, i] of order) {
    if (nGold[i] === 0 && nPred[i] === 0) continue;
    const precision = div(nCorrect[i], nPred[i]);
    const recall = div(nCorrect[i], nGold[i]);
    per_type[type] = { precision, recall, f1: f1(precision, recall), support: nGold[i] };
    macro += per_type[type].f1;
    seen++;
  }
  const sum = (x: Float64Array) => x.reduce((a, b) => a + b, 0);
  const precision = div(sum(nCorrect), sum(nPred));
  const recall = div(sum(nCorrect), sum(nGold));
  return {
    per_type,
    micro: { precision, recall, f1: f1(precision, recall) },
    macro_f1: div(macro, seen),
    scheme: 'conlleval',
    gold_entities: sum(nGold),
    predicted_entities: sum(nPred),
    correct_entities: sum(nCorrect),
  };
}

/** Micro entity F1 only (training's per-epoch val_entity_f1): same scorer, same numbers. */
export function entityF1FromIds(gold: ArrayLike<number>[], pred: ArrayLike<number>[], tags: string[]): number {
  return entityReport(gold, pred, tags).micro.f1;
}

/** The string form: one tag list per sentence. */
export function entityReportFromTags(gold: string[][], pred: string[][]): EntityReport {
  const tags = [...new Set([...gold.flat(), ...pred.flat()])].sort();
  const index = new Map(tags.map((t, i) => [t, i]));
  const ids = (s: string[][]) => s.map((seq) => seq.map((t) => index.get(t)!));
  return entityReport(ids(gold), ids(pred), tags);
}
