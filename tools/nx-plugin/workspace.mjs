// Nx plugin: the workspace's own work as cached Nx targets, for every package (packages/*/package.json)
// and for tools/:
//   test       node tools/test.mjs <folder>: Node's test runner through tsx, the same script and the same
//              files as `npm test` (tools/test-files.mjs), only this folder's
//   lint       eslint <folder> (the root eslint.config.js, with its package-boundary rule)
//   typecheck  tsc -p <folder>/tsconfig.json (strict; what `npm run typecheck` checks, one folder at a time)
// Each is cached on the folder's files, the production files of the packages it depends on (^production)
// and the shared config, so `npx nx affected -t test` runs only what a change can break and
// `npx nx run-many -t test lint typecheck` replays unchanged projects from the cache.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { testFiles } from '../test-files.mjs';

const shared = ['{workspaceRoot}/tsconfig.base.json', '{workspaceRoot}/package-lock.json'];

/** The three targets of one folder (a package root or tools), relative to the workspace root. */
function targetsFor(root, folder) {
  const run = (command, inputs, description) => ({
    executor: 'nx:run-commands',
    options: { command, cwd: '{workspaceRoot}' },
    cache: true,
    inputs,
    outputs: [],
    metadata: { description },
  });
  const code = ['default', '^production', ...shared];
  const targets = {
    lint: run(
      `eslint ${folder}`,
      [...code, '{workspaceRoot}/eslint.config.js'],
      `ESLint over ${folder} (package boundaries included)`,
    ),
    typecheck: run(`tsc -p ${folder}/tsconfig.json`, code, `tsc --noEmit over ${folder} and what it imports`),
  };
  if (testFiles(root, [path.join(root, folder)]).length) {
    targets.test = run(
      `node tools/test.mjs ${folder}`,
      [...code, '{workspaceRoot}/tools/test.mjs', '{workspaceRoot}/tools/test-files.mjs'],
      `Node's test runner over ${folder}'s *.test.ts (as npm test)`,
    );
  }
  return targets;
}

export const createNodesV2 = [
  '{packages/*/package.json,tools/test.mjs}',
  async (files, _options, context) => {
    const root = context.workspaceRoot;
    // tools' tests run the whole pipeline (the CLI, Nx, the repro check), so they depend on every package
    const json = (f) => (existsSync(path.join(root, f)) ? JSON.parse(readFileSync(path.join(root, f), 'utf8')) : null);
    const packageNames = files
      .filter((f) => f.startsWith('packages/'))
      .map((f) => json(path.join(path.dirname(f), 'project.json'))?.name ?? json(f).name);
    return files.map((file) => {
      const folder = path.dirname(file);
      if (!existsSync(path.join(root, folder, 'tsconfig.json'))) return [file, {}];
      const project =
        folder === 'tools'
          ? { name: 'tools', root: 'tools', targets: targetsFor(root, 'tools'), implicitDependencies: packageNames }
          : { targets: targetsFor(root, folder) };
      return [file, { projects: { [folder]: project } }];
    });
  },
];
