/** MLflow's entities as the REST API 2.0 names them (mlflow/protos/service.proto). */
export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

export interface RunInfo {
  run_id: string;
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

export interface RunRecord {
  info: RunInfo;
  data: { params: Record<string, string>; metrics: Record<string, number>; tags: Record<string, string> };
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

/** One interface, two backends (file store, REST), chosen by the tracking URI as MLflow does. */
export interface TrackingStore {
  readonly uri: string;
  getExperimentByName(name: string): Promise<Experiment | null>;
  createExperiment(name: string): Promise<string>;
  getOrCreateExperiment(name: string): Promise<string>;
  createRun(o: { experimentId: string; runName?: string; startTime?: number; tags?: Record<string, string> }): Promise<RunInfo>;
  logBatch(runId: string, b: LogBatch): Promise<void>;
  logInputs(runId: string, datasets: DatasetInput[]): Promise<void>;
  /** A file, or a folder's contents, under artifacts/<artifactPath>/. */
  logArtifact(runId: string, localPath: string, artifactPath?: string): Promise<void>;
  updateRun(runId: string, o: { status?: RunStatus; endTime?: number; runName?: string }): Promise<void>;
  getRun(runId: string): Promise<RunRecord>;
  getMetricHistory(runId: string, key: string): Promise<MetricPoint[]>;
  /** filter: MLflow's search syntax, at least `tags.k = 'v'`, `params.k = 'v'`, `attributes.run_name = 'x'` joined by AND. */
  searchRuns(experimentIds: string[], filter?: string): Promise<RunRecord[]>;
}

/** MLflow's limits (mlflow/utils/validation.py). */
export const LIMITS = { metricsPerBatch: 1000, paramsPerBatch: 100, tagsPerBatch: 100, totalPerBatch: 1000, paramValueLength: 6000, tagValueLength: 8000 };
