import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitError, ValidationError } from '@nerflow/core';
import { initBackend } from '@nerflow/nn';
import { openStore } from '@nerflow/tracking';
import { reportError } from './report-error.js';

const thrown = async (fn: () => unknown): Promise<unknown> => {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
};

test('a user error: "error:", exit 1, no stack unless --verbose; ExitError keeps its code', () => {
  const r = reportError(new ValidationError('a.yaml:3: train.epochs: expected a number.'), false);
  assert.deepEqual(r, { text: 'nerflow: error: a.yaml:3: train.epochs: expected a number.\n', code: 1 });
  assert.match(reportError(new ValidationError('x'), true).text, /\n\s+at /, '--verbose adds the stack');
  assert.equal(reportError(new ExitError('stop', 3), false).code, 3);
});

test('environment problems are not bugs: "environment:" naming the fix, exit 1', async () => {
  const uri = await thrown(() => openStore({ uri: 'sqlite:///tmp/mlflow.db', env: {} }));
  const store = reportError(uri, false);
  assert.equal(store.code, 1);
  assert.match(
    store.text,
    /^nerflow: environment: tracking URI sqlite:\/\/\/tmp\/mlflow\.db: .*mlflow server --backend-store-uri/,
  );

  // @tensorflow/tfjs-node is not installed here (nothing downloads at install time): asked for, it cannot load
  const tfjs = reportError(await thrown(() => initBackend('tensorflow')), false);
  assert.equal(tfjs.code, 1);
  assert.match(
    tfjs.text,
    /^nerflow: environment: train\.backend is tensorflow but @tensorflow\/tfjs-node does not load .*use backend: auto/,
  );

  const full = reportError(
    Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
    false,
  );
  assert.equal(full.code, 1);
  assert.match(full.text, /^nerflow: environment: ENOSPC: no space left on device, write\. Fix: free disk space/);
  for (const r of [store, tfjs, full]) assert.doesNotMatch(r.text, /internal error|\n\s+at /);
});

test('anything else is a bug: "internal error" with the stack, exit 2', () => {
  const r = reportError(new TypeError("Cannot read properties of undefined (reading 'x')"), false);
  assert.equal(r.code, 2);
  assert.match(
    r.text,
    /^nerflow: internal error \(a bug; please report it with this output\):\nTypeError: Cannot read .*\n\s+at /,
  );
});
