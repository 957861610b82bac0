import path from 'node:path';
import { stringify } from 'yaml';
import { overrideKeys } from './load.js';
import type { Config } from './schema.js';

const at = (value: unknown, keys: string[]): unknown => keys.reduce<any>((v, k) => v?.[k], value);
const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/**
 * What `--verbose` prints before a command runs (as nanoGPT prints each override): the files the config
 * came from, every --set override with the value it replaced, then the resolved config as YAML.
 * `fromFiles` is the same config loaded without the overrides.
 */
export function describeConfig(config: Config, fromFiles: Config, cwd = process.cwd()): string[] {
  const rel = (f: string) => path.relative(cwd, f) || f;
  const lines = [
    `config ${rel(config.file)}${config.files.length > 1 ? ` (extends ${config.files.slice(1).map(rel).join(' → ')})` : ''}`,
  ];
  for (const o of config.overrides) {
    const key = o.slice(0, o.indexOf('='));
    const keys = overrideKeys(key);
    lines.push(`override --set ${o}: ${key} = ${show(at(config, keys))} (the files say ${show(at(fromFiles, keys))})`);
  }
  const { name: _n, file: _f, files: _fs, overrides: _o, ...body } = config;
  lines.push(
    'resolved config:',
    ...stringify(body)
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`),
  );
  return lines;
}
