export * from './types.js';
export { LIMITS, truncateValue } from './limits.js';
export { FileStore, parseMetricLines, STATUS_CODE, SOURCE_TYPE_LOCAL } from './file-store.js';
export { RestStore, resolveArtifactUri, type RestOptions } from './rest-store.js';
export { TrackingEnvironmentError } from './errors.js';
export { TrackingServerError, TrackingServerUnreachableError, type HttpOptions } from './http.js';
export { openStore, resolveTrackingUri, resolveExperimentName, type OpenStoreOptions } from './open-store.js';
export {
  startRun,
  withRun,
  activeRun,
  resumeRun,
  systemTags,
  RESUMES_TAG,
  STATUS_TAG,
  RunNotResumableError,
  type ActiveRun,
  type StartRunOptions,
} from './run.js';
export { gitCommit } from './git.js';
export { flattenParams, pyFloat, pyStr, parsePyFloat, validateKey, InvalidKeyError } from './keys.js';
export { matchesFilter, parseFilter } from './search.js';
export {
  syncStore,
  describeSync,
  locateRun,
  plural,
  RUN_SYNCERS,
  STORE_SYNCERS,
  SYNC_TAG,
  SYNC_DONE_TAG,
  SYNC_ARTIFACTS_TAG,
  type SyncSummary,
  type RunSyncer,
  type RunSyncContext,
  type StoreSyncer,
  type StoreSyncContext,
} from './sync.js';
export { guardRun, onSignalExit } from './lifecycle.js';
export {
  currentOwner,
  ownerTags,
  ownerFromTags,
  ownerIsGone,
  processStart,
  OWNER_TAGS,
  ENDED_BY_TAG,
  type RunOwner,
  type OwnerVerdict,
} from './owner.js';
export { endDeadRuns, type DeadRun, type DeadRunsOptions, type DeadRunsResult } from './gc.js';
export { downloadArtifacts } from './artifacts.js';
export {
  openRegistry,
  fetchRunArtifacts,
  registerRunModel,
  mlmodelYaml,
  FileRegistry,
  RestRegistry,
  CHAMPION,
  F1_TAG,
  type ModelRegistry,
  type ModelVersion,
  type RegisteredModel,
} from './registry.js';
export { syncRegistry, REGISTRY_SYNC_TAG, type RegistrySyncSummary } from './registry-sync.js';
