import { createHash, randomInt, randomUUID } from 'node:crypto';

/** Run ids: uuid.uuid4().hex (FileStore.create_run). */
export function newRunId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * Experiment ids as FileStore.create_experiment makes them since MLflow 2.0
 * (mlflow/utils/name_utils.py _generate_unique_integer_id): the last 18 decimal digits of
 * uuid4().int, each leading zero compensated by one more random digit, read as an integer —
 * an 18-digit decimal string. The default experiment is '0' (FileStore.DEFAULT_EXPERIMENT_ID).
 */
export function newExperimentId(): string {
  const digits = BigInt(`0x${randomUUID().replace(/-/g, '')}`)
    .toString()
    .slice(-18)
    .padStart(18, '0');
  let s = digits;
  for (const c of digits) {
    if (c !== '0') break;
    s += String(randomInt(10));
  }
  return BigInt(s).toString();
}

/** FileStore._get_dataset_id: md5(name) updated with digest, hex. */
export function datasetId(name: string, digest: string): string {
  return createHash('md5').update(name, 'utf8').update(digest, 'utf8').digest('hex');
}

/** FileStore._get_input_id: md5(dataset_id) updated with run_id, hex. */
export function inputId(datasetIdHex: string, runId: string): string {
  return createHash('md5').update(datasetIdHex, 'utf8').update(runId, 'utf8').digest('hex');
}

const ADJECTIVES = [
  'able',
  'bold',
  'bright',
  'calm',
  'clever',
  'gentle',
  'keen',
  'lucky',
  'nimble',
  'quiet',
  'rare',
  'swift',
  'wise',
  'zesty',
];
const NOUNS = ['ant', 'bat', 'cod', 'crow', 'elk', 'fox', 'hare', 'lynx', 'owl', 'ram', 'seal', 'wren', 'yak', 'zebra'];

/** A run name when none is given, shaped like MLflow's _generate_random_name: <adjective>-<noun>-<0..999>. */
export function randomRunName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${randomInt(1000)}`;
}
