import { createLogger, fmtInt, fmtSeconds, loadConfig, workspaceRoot } from '@nerflow/core';

/** The flags predict and serve share: the model, the kernel and output options, the config for models:/. */
export interface EngineArgs {
  model: string;
  threads?: string;
  kernel?: string;
  tagScheme?: string;
  config?: string;
  verbose?: boolean;
  quiet?: boolean;
}

export interface PredictArgs extends EngineArgs {
  input?: string;
  output?: string;
  inputFormat?: string;
  format: 'jsonl' | 'conll' | 'table';
  batchSize: number;
}

/** The tracking URI for models:/ and runs:/ — the config's (when --config is given), MLFLOW_TRACKING_URI overriding. */
export function trackingUriOf(config: string | undefined, root: string): string | null {
  return config ? loadConfig(config, { root, overrides: [] }).tracking.uri : null;
}

/** --threads / --kernel / --tag-scheme (yargs checked the choices) as Predictor options. */
export function engineOptions(a: { threads?: string; kernel?: string; tagScheme?: string }): {
  threads: 'auto' | 1 | 2;
  kernel: 'auto' | 'exact' | 'fma';
  tagScheme?: string;
} {
  const threads = a.threads === '1' ? 1 : a.threads === '2' ? 2 : 'auto';
  const kernel = a.kernel === 'exact' || a.kernel === 'fma' ? a.kernel : 'auto';
  return { threads, kernel, tagScheme: a.tagScheme };
}

/** `nerflow predict --model <uri> [--input f] [--output f] [--format jsonl|conll|table]`. */
export async function predictCommand(a: PredictArgs): Promise<void> {
  const { resolveModel, predictStream } = await import('@nerflow/predict');
  const root = workspaceRoot();
  const log = createLogger({ verbose: a.verbose, quiet: a.quiet });
  const model = await resolveModel(a.model, { root, trackingUri: trackingUriOf(a.config, root) });
  log.debug(`predict: model ${model.uri} → ${model.dir}`);
  const s = await predictStream({
    modelDir: model.dir,
    input: a.input,
    output: a.output,
    inputFormat: a.inputFormat,
    format: a.format,
    batchSize: a.batchSize,
    ...engineOptions(a),
    log,
  });
  if (s.inputs >= 1000 || a.verbose) {
    log.info(
      `predict: ${fmtInt(s.inputs)} inputs, ${fmtInt(s.sentences)} sentences, ${fmtInt(s.entities)} entities in ${fmtSeconds(s.seconds)} (${fmtInt(Math.round(s.sentences / Math.max(s.seconds, 1e-9)))} sentences/s)`,
    );
  }
}
