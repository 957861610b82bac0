// Config tests' shared fixtures: a throwaway workspace with configs/<name> files, and the message of the
// ValidationError a call must throw.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ValidationError } from '../errors.js';

/** A temporary workspace root whose configs/ holds `files` (name → YAML text). */
export function configWorkspace(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'nerflow-cfg-'));
  mkdirSync(path.join(root, 'configs'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, 'configs', name), text);
  return root;
}

/** The message of the ValidationError fn throws (the test fails if it throws anything else, or nothing). */
export function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected ValidationError, got ${e}`);
    return e.message;
  }
  assert.fail('expected a ValidationError');
}
