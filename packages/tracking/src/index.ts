export * from './types.js';
export { FileStore, parseMetricLines } from './file-store.js';
export { RestStore, TrackingServerError, type RestOptions } from './rest-store.js';
export { openStore, startRun, activeRun, gitCommit, type ActiveRun, type StartRunOptions } from './run.js';
export { flattenParams, pyFloat, validateKey } from './keys.js';
export { matchesFilter } from './search.js';
export { syncStore, SYNC_TAG, type SyncSummary } from './sync.js';
