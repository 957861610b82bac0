/** Per-label scores as scikit-learn's classification_report gives them. */
export interface LabelScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface TokenReport {
  per_tag: Record<string, LabelScores>;
  accuracy: number;
  macro_f1: number;
  weighted_f1: number;
  macro_avg: LabelScores;
  weighted_avg: LabelScores;
  tokens: number;
}

const div = (a: number, b: number) => (b === 0 ? 0 : a / b);

/**
 * Token-level report over real tokens only, equal to scikit-learn's
 * `classification_report(y_true, y_pred, labels=range(len(labels)), zero_division=0)`:
 * precision = tp/(tp+fp), recall = tp/(tp+fn), F1 = 2pr/(p+r), 0 where a denominator is 0;
 * macro = unweighted mean over `labels` (all of them, as when sklearn is given `labels`);
 * weighted = mean weighted by support; accuracy = correct/total.
 * `gold`/`pred` are tag ids (index into `labels`), one array per sentence or one flat array.
 */
export function classificationReport(
  gold: ArrayLike<number>[] | ArrayLike<number>,
  pred: ArrayLike<number>[] | ArrayLike<number>,
  labels: string[],
): TokenReport {
  const golds = isNested(gold) ? gold : [gold];
  const preds = isNested(pred) ? pred : [pred as ArrayLike<number>];
  const k = labels.length;
  const tp = new Float64Array(k);
  const predicted = new Float64Array(k);
  const support = new Float64Array(k);
  let total = 0;
  let correct = 0;
  for (let s = 0; s < golds.length; s++) {
    const g = golds[s];
    const p = preds[s];
    if (g.length !== p.length) throw new Error(`sentence ${s}: ${g.length} gold tags but ${p.length} predicted`);
    for (let i = 0; i < g.length; i++) {
      support[g[i]]++;
      predicted[p[i]]++;
      total++;
      if (g[i] === p[i]) {
        tp[g[i]]++;
        correct++;
      }
    }
  }
  const per_tag: Record<string, LabelScores> = {};
  const macro = { precision: 0, recall: 0, f1: 0 };
  const weighted = { precision: 0, recall: 0, f1: 0 };
  labels.forEach((label, i) => {
    const precision = div(tp[i], predicted[i]);
    const recall = div(tp[i], support[i]);
    const f1 = div(2 * precision * recall, precision + recall);
    per_tag[label] = { precision, recall, f1, support: support[i] };
    macro.precision += precision / k;
    macro.recall += recall / k;
    macro.f1 += f1 / k;
    weighted.precision += div(precision * support[i], total);
    weighted.recall += div(recall * support[i], total);
    weighted.f1 += div(f1 * support[i], total);
  });
  return {
    per_tag,
    accuracy: div(correct, total),
    macro_f1: macro.f1,
    weighted_f1: weighted.f1,
    macro_avg: { ...macro, support: total },
    weighted_avg: { ...weighted, support: total },
    tokens: total,
  };
}

function isNested(x: ArrayLike<number>[] | ArrayLike<number>): x is ArrayLike<number>[] {
  return x.length > 0 && typeof (x as ArrayLike<unknown>)[0] === 'object';
}
