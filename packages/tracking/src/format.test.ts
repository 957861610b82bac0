import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flattenParams, matchesFilter, parsePyFloat, pyFloat, validateKey, type RunRecord } from './index.js';
import { dumpMeta, loadMeta } from './meta-yaml.js';
import { datasetId, inputId, newExperimentId } from './ids.js';

test("key names: the good and bad names of MLflow's own validation tests, plus colons (rejected by older MLflow)", () => {
  for (const good of [
    'a',
    'Ab-5_',
    'a/b/c',
    'a.b.c',
    '.a',
    'b.',
    'a..a/._./o_O/.e.',
    'a b/c d',
    'per_type/geo',
    'température',
  ])
    validateKey('metric', good);
  for (const bad of [
    '',
    '.',
    '/',
    '..',
    '//',
    'a//b',
    'a/./b',
    '/a',
    'a/',
    ':',
    '\\',
    './',
    '/./',
    '..a',
    'x:y',
    'a\nb',
    'k'.repeat(251),
  ]) {
    assert.throws(() => validateKey('param', bad), /invalid MLflow param name/, JSON.stringify(bad));
  }
});

test('metric values are written as Python repr(float) (checked against CPython 3.11)', () => {
  const cases: [number, string][] = [
    [1, '1.0'],
    [0.5, '0.5'],
    [1e-5, '1e-05'],
    [2.5e-7, '2.5e-07'],
    [123.25, '123.25'],
    [1 / 3, '0.3333333333333333'],
    [1e16, '1e+16'],
    [1e22, '1e+22'],
    [0.0001, '0.0001'],
    [0.00025, '0.00025'],
    [1e15, '1000000000000000.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [1.2345678901234568e17, '1.2345678901234568e+17'],
    [-2, '-2.0'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
  ];
  for (const [v, s] of cases) {
    assert.equal(pyFloat(v), s, String(v));
    if (!Number.isNaN(v)) assert.equal(parsePyFloat(s), v);
  }
});

test('meta.yaml bytes are what PyYAML safe_dump(sort_keys=True) writes for the same dict (captured from PyYAML 6.0)', () => {
  assert.equal(
    dumpMeta({
      run_uuid: '0123abcd',
      run_id: '0123abcd',
      artifact_uri: 'file:///tmp/x/123456789012345678/abc/artifacts',
      deleted_time: null,
      end_time: null,
      entry_point_name: '',
      experiment_id: '123456789012345678',
      lifecycle_stage: 'active',
      run_name: 'baseline/t-01: lr=0.001',
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: 1700000000123,
      status: 1,
      tags: [],
      user_id: 'root',
    }),
    "artifact_uri: file:///tmp/x/123456789012345678/abc/artifacts\ndeleted_time: null\nend_time: null\nentry_point_name: ''\nexperiment_id: '123456789012345678'\nlifecycle_stage: active\nrun_id: 0123abcd\nrun_name: 'baseline/t-01: lr=0.001'\nrun_uuid: 0123abcd\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1700000000123\nstatus: 1\ntags: []\nuser_id: root\n",
  );
  assert.equal(
    dumpMeta({
      source_type: 'DATASET',
      source_id: 'abc',
      destination_type: 'RUN',
      destination_id: 'abc',
      tags: { 'mlflow.data.context': 'training' },
    }),
    'destination_id: abc\ndestination_type: RUN\nsource_id: abc\nsource_type: DATASET\ntags:\n  mlflow.data.context: training\n',
  );
  assert.equal(
    dumpMeta({
      name: 'Korea’s corpus',
      digest: '0123',
      source_type: 'local',
      source: '{"uri": "runs/x"}',
      schema: null,
      profile: 'yes',
    }),
    "digest: '0123'\nname: Korea’s corpus\nprofile: 'yes'\nschema: null\nsource: '{\"uri\": \"runs/x\"}'\nsource_type: local\n",
  );
  // strings YAML 1.1 would read as something else stay strings both ways
  for (const s of [
    'yes',
    'No',
    'null',
    '~',
    '',
    '1e10',
    '0123',
    '=',
    '<<',
    '12:30',
    'tab\there',
    'x\u0085y',
    'line\nbreak',
    ' lead',
    'a: b',
    '#x',
  ]) {
    assert.equal(loadMeta(dumpMeta({ k: s })).k, s, JSON.stringify(s));
  }
  assert.deepEqual(
    loadMeta('run_uuid: 1e10\nstatus: 3\nend_time: null\n'),
    { run_uuid: '1e10', status: 3, end_time: null },
    'PyYAML reads a plain 1e10 as a string',
  );
});

test('ids: experiment ids as _generate_unique_integer_id, dataset/input ids as md5 of the concatenation', () => {
  for (let i = 0; i < 200; i++) assert.match(newExperimentId(), /^[1-9]\d{17}$/);
  assert.equal(datasetId('ds', 'abc'), '260832da6804a95fceedb9cc322950c7', "hashlib.md5(b'ds'); update(b'abc')");
  assert.equal(
    inputId('260832da6804a95fceedb9cc322950c7', 'e783face594d4e5da9d702b387d87ca4'),
    'd7bc6e7cfb41f646f11b6774d8a6cb6f',
  );
});

test('flattenParams: dotted keys, string values', () => {
  assert.deepEqual(
    flattenParams({
      train: {
        optimizer: { learning_rate: 0.001, name: 'adam' },
        layers: [100, 50],
        dropout: null,
        bidirectional: true,
      },
      seed: 7,
    }),
    {
      'train.optimizer.learning_rate': '0.001',
      'train.optimizer.name': 'adam',
      'train.layers': '[100, 50]',
      'train.dropout': 'None',
      'train.bidirectional': 'True',
      seed: '7',
    },
  );
});

test('search filters: tags, params, metrics and attributes joined by AND', () => {
  const run: RunRecord = {
    info: {
      run_id: 'r1',
      run_uuid: 'r1',
      run_name: 'base line',
      experiment_id: '1',
      user_id: 'u',
      status: 'FINISHED',
      start_time: 5,
      end_time: 9,
      artifact_uri: '',
      lifecycle_stage: 'active',
    },
    data: {
      params: { 'train.lr': '0.1' },
      metrics: { f1: 0.8 },
      tags: { 'nerflow.run_uuid': 'abc', 'a b': 'x and y' },
    },
  };
  assert.ok(matchesFilter(run, "tags.`nerflow.run_uuid` = 'abc'"));
  assert.ok(matchesFilter(run, "params.`train.lr` = '0.1' AND metrics.f1 > 0.5 and attributes.run_name = 'base line'"));
  assert.ok(matchesFilter(run, "tags.`a b` = 'x and y' and attributes.status != 'FAILED'"));
  assert.ok(!matchesFilter(run, "tags.missing = 'x'"));
  assert.ok(!matchesFilter(run, 'metrics.f1 >= 0.9'));
  assert.throws(() => matchesFilter(run, 'tags.x LIKE 1'), /unsupported search filter/);
});
