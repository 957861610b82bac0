export { queueTrain, enqueueSweep, type QueueTrainOptions, type EnqueueResult } from './enqueue.js';
export { startWorker, type WorkerOptions, type RunningWorker } from './worker.js';
export { runQueuedTrial } from './trial-job.js';
export { sweepStatus } from './status.js';
export { collectSweep, type CollectHooks, type BestTrial } from './collect.js';
export { resolveQueueUrl, openQueue, QUEUE_NAME } from './connection.js';
export type { TrialJobData, TrialJobProgress, TrialJobResult } from './identity.js';
export { beatingLogger, beatSender, DEFAULT_TRIAL_TIMEOUT_S, Watchdog, type TrialBeat } from './watchdog.js';
