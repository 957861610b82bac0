/** MLflow's entities as the REST API 2.0 names them (mlflow/protos/service.proto). */
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  /** ms since the epoch */
  timestamp: number;
}

export interface RunInfo {
  run_id: string;
  /** = run_id (deprecated alias MLflow still stores and returns) */
  run_uuid: string;
  run_name: string;
  experiment_id: string;
  user_id: string;
  status: RunStatus;
  start_time: number;
  end_time: number | null;
  artifact_uri: string;
  lifecycle_stage: 'active' | 'deleted';
}

export interface RunData {
  params: Record<string, string>;
  /** the latest value of each metric (highest step, then latest timestamp, then largest value) */
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

export interface RunRecord {
  info: RunInfo;
  data: RunData;
}

export interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
}

export interface DatasetInput {
  name: string;
  digest: string;
  source_type: string;
  source: string;
  schema?: string;
  profile?: string;
  /** Logged as the input tag mlflow.data.context. */
  context?: 'training' | 'validation' | 'test';
}

export interface LogBatch {
  metrics?: MetricPoint[];
  params?: Record<string, string>;
  tags?: Record<string, string>;
}

/** One entry of an artifact listing (mlflow.entities.FileInfo): path relative to the run's artifact root. */
export interface ArtifactInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export interface CreateRunOptions {
  experimentId: string;
  runName?: string;
  /** ms since the epoch; default now */
  startTime?: number;
  tags?: Record<string, string>;
  /** default: the mlflow.user tag, else the OS user */
  userId?: string;
}

export interface UpdateRunOptions {
  status?: RunStatus;
  endTime?: number;
  runName?: string;
}

/** What the tracking client reports through (structurally @nerflow/core's Logger). */
export interface TrackingLogger {
  info(msg: string): void;
  warn(msg: string): void;
  progress(
    label: string,
    total: number,
    unit?: string,
  ): { update(done: number, extra?: string): void; finish(extra?: string): void };
}

/** One interface, two backends (file store, REST), chosen by the tracking URI as MLflow does. */
export interface TrackingStore {
  readonly uri: string;
  getExperimentByName(name: string): Promise<Experiment | null>;
  /** Fails if the name exists. */
  createExperiment(name: string): Promise<string>;
  /** The id of the active experiment with this name, created if needed (safe against concurrent creators). */
  getOrCreateExperiment(name: string): Promise<string>;
  createRun(o: CreateRunOptions): Promise<RunInfo>;
  /** Any size: split within MLflow's per-request limits by the REST backend. */
  logBatch(runId: string, b: LogBatch): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[]): Promise<void>;
  /** A file (→ <artifactPath>/<basename>) or a folder's contents (→ <artifactPath>/...). */
  logArtifact(runId: string, localPath: string, artifactPath?: string): Promise<void>;
  updateRun(runId: string, o: UpdateRunOptions): Promise<void>;
  /** Marks the run deleted (lifecycle_stage), as MLflow's delete_run does. */
  deleteRun(runId: string): Promise<void>;
  getRun(runId: string): Promise<RunRecord>;
  getMetricHistory(runId: string, key: string): Promise<MetricPoint[]>;
  /**
   * Active runs of these experiments, newest first. filter: MLflow's search syntax, clauses joined by
   * AND: `tags.k = 'v'`, `params.k = 'v'`, `metrics.k > 0.5`, `attributes.run_name = 'x'`, keys may be
   * `backticked`.
   */
  searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]>;
  /** Direct children of `path` in the run's artifacts (MLflow's list_artifacts). */
  listArtifacts(runId: string, path?: string): Promise<ArtifactInfo[]>;
  /** One artifact file's bytes (MLflow's download_artifacts for a file). */
  readArtifact(runId: string, path: string): Promise<Uint8Array>;
}
