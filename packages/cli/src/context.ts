import { createLogger, describeConfig, loadConfig, workspaceRoot, type StageContext } from '@nerflow/core';

/** Flags every stage command takes. Config values are changed with --set KEY=VALUE, which goes through the config schema. */
export interface CommonArgs {
  config: string;
  force?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  set?: string[];
}

export function stageContext(args: CommonArgs): StageContext {
  const root = workspaceRoot();
  const config = loadConfig(args.config, { root, overrides: args.set ?? [] });
  const log = createLogger({ verbose: args.verbose, quiet: args.quiet });
  if (args.verbose) for (const line of describeConfig(config, loadConfig(args.config, { root }))) log.debug(line);
  return { config, root, log, force: !!args.force };
}
