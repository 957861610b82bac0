/** One line of history.json (and one MLflow step): the metrics after an epoch. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  val_loss: number;
  val_token_accuracy: number;
  val_entity_f1: number;
  epoch_seconds: number;
  tokens_per_s: number;
}

export type Monitor = 'val_entity_f1' | 'val_loss' | 'val_token_accuracy';

export function monitorGoal(m: string): 'maximize' | 'minimize' {
  return m.endsWith('loss') ? 'minimize' : 'maximize';
}

export function isImprovement(m: string, value: number, best: number | null): boolean {
  if (best === null) return true;
  return monitorGoal(m) === 'maximize' ? value > best : value < best;
}
