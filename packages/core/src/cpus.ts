import { availableParallelism } from 'node:os';
import { ValidationError } from './errors.js';

/**
 * The cores nerflow plans its threads for: NERFLOW_CPUS when set (a container whose CPU quota Node does not
 * see, or a test), else os.availableParallelism().
 */
export function usableCores(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.NERFLOW_CPUS;
  if (v === undefined || v === '') return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new ValidationError(
      `NERFLOW_CPUS=${v}: expected a whole number of cores ≥ 1 (or unset it to use all ${availableParallelism()})`,
    );
  return n;
}
