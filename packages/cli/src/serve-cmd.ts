import { createLogger, workspaceRoot } from '@nerflow/core';
import { engineOptions, trackingUriOf, type EngineArgs } from './predict-cmd.js';

export interface ServeArgs extends EngineArgs {
  host: string;
  port: number;
  maxBodyBytes: number;
  maxInputs: number;
  maxSentences: number;
  maxTokens: number;
  batchWindowMs: number;
}

/**
 * `nerflow serve --model <uri>`: MLflow's scoring protocol and /v1/ner on Fastify until SIGTERM/SIGINT,
 * which stops accepting connections, finishes the requests in flight, then exits 0.
 */
export async function serveCommand(a: ServeArgs): Promise<void> {
  const { resolveModel, Predictor, createServer } = await import('@nerflow/predict');
  const root = workspaceRoot();
  const log = createLogger({ verbose: a.verbose, quiet: a.quiet });
  const model = await resolveModel(a.model, { root, trackingUri: trackingUriOf(a.config, root) });
  const predictor = await Predictor.load(model.dir, engineOptions(a));
  log.info(
    `nerflow serve: ${predictor.meta.kind} model, ${predictor.scheme} tags, head ${predictor.meta.spec.head ?? 'softmax'}${predictor.chars ? ', char CNN' : ''}; kernel ${predictor.engine.kernel} on ${predictor.engine.threads} thread(s)`,
  );
  const app = createServer({
    predictor,
    model: { uri: model.uri, version: model.version?.version, runId: model.runId },
    limits: {
      maxBodyBytes: a.maxBodyBytes,
      maxInputs: a.maxInputs,
      maxSentences: a.maxSentences,
      maxTokens: a.maxTokens,
    },
    batchWindowMs: a.batchWindowMs,
    accessLog: a.quiet ? () => undefined : (l) => process.stderr.write(l + '\n'),
  });
  const address = await app.listen({ host: a.host, port: a.port });
  // always printed (also with --quiet, which only drops the access log): scripts wait for this line
  process.stderr.write(
    `nerflow serve: ${model.uri}${model.version ? ` (version ${model.version.version})` : ''} listening on ${address} — POST /invocations, POST /v1/ner, GET /ping /health /version, page at ${address}/\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info(`nerflow serve: ${sig}: finishing requests in flight, then stopping`);
      // a short drain first: requests whose bytes already arrived (while the kernel was busy) get parsed
      // and count as in flight, instead of being dropped as idle connections by close()
      setTimeout(
        () =>
          app.close().then(
            () => resolve(),
            () => resolve(),
          ),
        200,
      );
    };
    // the CLI's own handler (main.ts: end MLflow runs KILLED, remove staging, exit at once) does not apply:
    // serve has no run and no staging, and must finish its requests first
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.removeAllListeners(sig);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  predictor.dispose();
  log.info('nerflow serve: stopped');
}
