/**
 * The metrics training records after every epoch: the keys of history.json (and the per-epoch MLflow
 * metric names), each with the direction that is better. The one list `early_stopping.monitor`,
 * `sweep.metric`, the pruner, the best-trial pick and the trials table draw their names from.
 */
export const EPOCH_METRICS = {
  loss: 'minimize',
  val_loss: 'minimize',
  val_token_accuracy: 'maximize',
  val_entity_f1: 'maximize',
} as const satisfies Record<string, Goal>;

export type Goal = 'maximize' | 'minimize';
export type MetricName = keyof typeof EPOCH_METRICS;
export const METRIC_NAMES = Object.keys(EPOCH_METRICS) as [MetricName, ...MetricName[]];

/** One line of history.json (and one MLflow step): the metrics after an epoch, plus its speed. */
export type EpochRecord = { epoch: number } & Record<MetricName, number> & {
    epoch_seconds: number;
    tokens_per_s: number;
  };

/** Whether `value` is better than `best` for this goal (the first value always is). */
export function isImprovement(goal: Goal, value: number, best: number | null): boolean {
  if (best === null) return true;
  return goal === 'maximize' ? value > best : value < best;
}

/** The best value of a metric over a history (null when it was never finite). */
export function bestOf(history: Partial<Record<MetricName, number>>[], metric: MetricName, goal: Goal): number | null {
  const v = history.map((r) => r[metric]).filter((x): x is number => Number.isFinite(x));
  return v.length ? (goal === 'maximize' ? Math.max(...v) : Math.min(...v)) : null;
}
