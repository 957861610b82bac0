/**
 * MLflow's request and value limits (mlflow/utils/validation.py: MAX_METRICS_PER_BATCH,
 * MAX_PARAMS_TAGS_PER_BATCH, MAX_ENTITIES_PER_BATCH, MAX_BATCH_LOG_REQUEST_SIZE, MAX_PARAM_VAL_LENGTH,
 * MAX_TAG_VAL_LENGTH, MAX_DATASETS_PER_BATCH). Tag values: 5000 is the limit every MLflow 2.x/3.x
 * server accepts (newer ones accept 8000).
 */
export const LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  totalPerBatch: 1000,
  /** bytes of one JSON log-batch request */
  requestBytes: 1_000_000,
  paramValueLength: 6000,
  tagValueLength: 5000,
  datasetsPerBatch: 1000,
} as const;

/**
 * _validate_length_limit(..., truncate=True) with MLFLOW_TRUNCATE_LONG_VALUES (default on): a too-long
 * param or tag value is cut to the limit, with a warning, as MLflow's own client does.
 */
export function truncateValue(kind: 'param' | 'tag', key: string, value: string, warn?: (msg: string) => void): string {
  const limit = kind === 'param' ? LIMITS.paramValueLength : LIMITS.tagValueLength;
  if (value.length <= limit) return value;
  warn?.(`MLflow ${kind} ${key}: value of ${value.length} characters truncated to ${limit} (MLflow's limit)`);
  return value.slice(0, limit);
}
