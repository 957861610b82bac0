import type { SweepConfig } from '@nerflow/core';

/**
 * Pruning of bad trials from per-epoch validation metrics, as Optuna's pruners decide:
 * - median (MedianPruner): after `warmup_epochs`, stop a trial whose value at this epoch is worse than the
 *   median of the other trials' values at the same epoch, once at least `min_trials` others reported it.
 * - halving (SuccessiveHalvingPruner, reduction factor 3, min resource 1): at rung epochs 1, 3, 9, … a trial
 *   continues only if it is within the top 1/3 of the trials that reached that rung (the first trials
 *   at a rung are kept when they are the best so far, as Optuna does).
 * `others[t][e]` is trial t's metric after epoch e+1 (only trials other than the current one).
 */
export function shouldPrune(
  pruner: SweepConfig['pruner'],
  goal: SweepConfig['goal'],
  epoch: number,
  value: number,
  others: number[][],
): boolean {
  if (pruner.type === 'none' || !Number.isFinite(value)) return false;
  const better = (a: number, b: number) => (goal === 'maximize' ? a > b : a < b);
  const atEpoch = others.map((h) => h[epoch - 1]).filter((v): v is number => Number.isFinite(v));
  if (pruner.type === 'median') {
    if (epoch <= pruner.warmup_epochs || atEpoch.length < pruner.min_trials) return false;
    const sorted = [...atEpoch].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    const median = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
    return better(median, value);
  }
  // successive halving
  const eta = 3;
  if (epoch <= pruner.warmup_epochs) return false;
  let rung = 1;
  while (rung < epoch) rung *= eta;
  if (rung !== epoch) return false;
  const competing = [...atEpoch, value].sort((a, b) => a - b);
  let idx = Math.floor(competing.length / eta) - 1;
  if (idx === -1) idx = 0;
  const threshold = goal === 'maximize' ? competing[competing.length - 1 - idx] : competing[idx];
  return better(threshold, value);
}
