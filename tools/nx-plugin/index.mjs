// Nx plugin: one Nx task per sweep trial, inferred from configs/*.yaml (so Nx can cache each trial on
// its own and spread trials over machines with remote caching / distributed agents).
// For a config `sweep.yaml` with a sweep section it adds to project `train`:
//   sweep-<config>-data        ingest and featurize for that config (once, before any trial)
//   sweep-<config>-<trialId>   trains one trial:  nerflow train --config … --trial <id>  (depends on -data)
//   sweep-<config>             depends on every trial, then collects the sweep: trials.csv, best/, and one
//                              MLflow parent run with every trial's run under it
// Usage: npx nx run train:sweep-sweep --parallel=2   |   npx nx run train:sweep-sweep-t-1a2b3c4d5e
//
// It also declares the outputs of the four stage targets (ingest, featurize, train, evaluate) as one literal
// folder per config in configs/: runs/<name>/<stage>. Literal, not runs/*/<stage>: Nx expands a glob output
// when it caches and restores, but its hash of a dependency's outputs (dependentTasksOutputFiles, which
// makes evaluate rerun when train's manifests change) silently finds no files under a glob output.
// The trial list comes from the same code nerflow uses (packages/train/src/sweep.ts), loaded through tsx.
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';

const stageInputs = ['production', '^production', '{workspaceRoot}/configs/**/*', '{workspaceRoot}/data/**/*'];

export const createNodesV2 = [
  'configs/*.{yaml,yml}',
  async (files, _options, context) => {
    const root = context.workspaceRoot;
    const core = await tsImport(path.join(root, 'packages/core/src/index.ts'), import.meta.url);
    const sweep = await tsImport(path.join(root, 'packages/train/src/sweep.ts'), import.meta.url);
    const results = [];
    // every stage's outputs, one literal folder per config (see the note at the top)
    const names = [...new Set(files.map((f) => core.configName(f)))].sort();
    const stageOutputs = (stage) => ({
      targets: { [stage]: { outputs: names.map((n) => `{workspaceRoot}/runs/${n}/${stage}`) } },
    });
    if (files.length) {
      results.push([
        files[0],
        {
          projects: Object.fromEntries(
            ['ingest', 'featurize', 'train', 'evaluate'].map((s) => [`packages/${s}`, stageOutputs(s)]),
          ),
        },
      ]);
    }
    for (const file of files) {
      let config;
      try {
        config = core.loadConfig(path.join(root, file), { root });
      } catch {
        continue; // an invalid config gets its error when it is run, not while Nx builds its graph
      }
      if (!config.sweep || !Object.keys(config.sweep.params).length) continue;
      const name = config.name;
      const cli = 'node packages/cli/bin/nerflow.js';
      const data = `sweep-${name}-data`;
      const targets = {
        [data]: {
          executor: 'nx:run-commands',
          options: {
            command: `${cli} ingest --config ${file} && ${cli} featurize --config ${file}`,
            cwd: '{workspaceRoot}',
          },
          inputs: stageInputs,
          outputs: [`{workspaceRoot}/runs/${name}/ingest`, `{workspaceRoot}/runs/${name}/featurize`],
          cache: true,
          metadata: { description: `sweep ${name}: ingest and featurize, shared by every trial` },
        },
      };
      const trialTargets = [];
      for (const t of sweep.expandTrials(config)) {
        const target = `sweep-${name}-${t.id}`;
        trialTargets.push(target);
        targets[target] = {
          executor: 'nx:run-commands',
          options: { command: `${cli} train --config ${file} --trial ${t.id}`, cwd: '{workspaceRoot}' },
          dependsOn: [data],
          inputs: [...stageInputs, { dependentTasksOutputFiles: '**/manifest.json' }],
          outputs: [`{workspaceRoot}/runs/${name}/train/${t.id}`],
          cache: true,
          metadata: { description: `sweep ${name}: trial ${t.id} (${sweep.trialLabel(t)})` },
        };
      }
      targets[`sweep-${name}`] = {
        executor: 'nx:run-commands',
        options: { command: `${cli} train --config ${file}`, cwd: '{workspaceRoot}' },
        dependsOn: trialTargets,
        inputs: [...stageInputs, { dependentTasksOutputFiles: '**/manifest.json', transitive: true }],
        outputs: [`{workspaceRoot}/runs/${name}/train`],
        cache: true,
        metadata: { description: `sweep ${name}: every trial as its own Nx task, then trials.csv and best/` },
      };
      results.push([file, { projects: { 'packages/train': { targets } } }]);
    }
    return results;
  },
];
