import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ValidationError } from '@nerflow/core';
import { spansOf } from '@nerflow/metrics';
import { allowedTransitions, crfMarginals, loadTagger, paddedBatch, pathAllowed, type Batch } from '@nerflow/nn';
import { registerRunModel, RestStore } from '@nerflow/tracking';
import { realMlflowSkip, startRealMlflow } from '../../tracking/src/test-helpers/real-mlflow.js';
import { corpusSentences } from '../../core/src/test-helpers/corpus.js';
import { predictionJson } from './io.js';
import { tagSchemeOf } from './model-parts.js';
import { resolveModel } from './model-uri.js';
import { Predictor, type Prediction } from './predictor.js';
import { createServer } from './serve.js';
import { tinyModelDir } from './test-helpers/tiny-model.js';

/** Corpus sentences the tiny models never saw (they train on the first 1,500). */
const unseen = () => corpusSentences().slice(3000, 3060);

/** Entities of a prediction as [token_start, token_end) + type. */
const spans = (p: Prediction) => p.entities.map((e) => `${e.type}:${e.token_start}-${e.token_end}`);

test('a char-CNN model predicts: its characters reach the kernel (capitals change what it tags), exactly as a batch encoded by hand', async () => {
  const dir = await tinyModelDir({ chars: true });
  const p = await Predictor.load(dir);
  const words = await Predictor.load(await tinyModelDir());
  try {
    assert.ok(p.chars, 'chars.json read');
    // the word vocabulary is lowercase: only the char features can tell "paris" from "Paris"
    const upper = unseen().map((s) => ({ tokens: s.words }));
    const lower = upper.map((x) => ({ tokens: x.tokens.map((w) => w.toLowerCase()) }));
    const a = p.predict(upper);
    const b = p.predict(lower);
    assert.notDeepEqual(
      a.map((x) => x.tags),
      b.map((x) => x.tags),
      'the char model tags capitalised text differently',
    );
    assert.deepEqual(
      words.predict(upper).map((x) => x.tags),
      words.predict(lower).map((x) => x.tags),
      'a word-only lowercase model cannot tell the difference (the check above is about chars)',
    );
    // the same tags as the kernel on a batch whose char ids are encoded here from chars.json
    const { chars, max_word_len } = JSON.parse(readFileSync(path.join(dir, 'chars.json'), 'utf8'));
    const meta = JSON.parse(readFileSync(path.join(dir, 'nerflow.json'), 'utf8'));
    const vocab = new Map<string, number>(meta.vocab.words.map((w: string, i: number) => [w, i]));
    const tagger = await loadTagger(dir);
    const rows = upper.slice(0, 20).map((x) => x.tokens);
    const steps = Math.max(...rows.map((r) => r.length));
    const offsets = new Int32Array(rows.length * steps + 1);
    const ids: number[] = [];
    const b0 = paddedBatch(rows.map((r) => r.length));
    rows.forEach((r, i) => {
      for (let t = 0; t < steps; t++) {
        if (t < r.length) {
          b0.tokens[i * steps + t] = vocab.get(r[t].toLowerCase()) ?? 1;
          for (const c of Array.from(r[t]).slice(0, max_word_len)) ids.push(Math.max(1, chars.indexOf(c)));
        }
        offsets[i * steps + t + 1] = ids.length;
      }
    });
    const probs = tagger.probabilities({ ...b0, chars: { offsets, ids: Int32Array.from(ids) } });
    tagger.dispose();
    const K = meta.tags.length;
    rows.forEach((r, i) => {
      const want = r.map((_, t) => {
        let best = 0;
        for (let k = 1; k < K; k++) if (probs[(i * steps + t) * K + k] > probs[(i * steps + t) * K + best]) best = k;
        return meta.tags[best];
      });
      assert.deepEqual(a[i].tags, want, `sentence ${i}`);
    });
  } finally {
    p.dispose();
    words.dispose();
  }
});

test('a char model without its chars.json, or with one of another size, is refused naming the file', async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-chars-'));
  try {
    const dir = path.join(tmp, 'model');
    cpSync(await tinyModelDir({ chars: true }), dir, { recursive: true });
    const chars = readFileSync(path.join(dir, 'chars.json'), 'utf8');
    writeFileSync(path.join(dir, 'chars.json'), JSON.stringify({ ...JSON.parse(chars), chars: ['<PAD>', '<UNK>'] }));
    await assert.rejects(
      Predictor.load(dir),
      (e: Error) =>
        e instanceof ValidationError && /chars\.json: not the character vocabulary of this model/.test(e.message),
    );
    rmSync(path.join(dir, 'chars.json'));
    await assert.rejects(
      Predictor.load(dir),
      (e: Error) => e instanceof ValidationError && /has no chars\.json/.test(e.message),
    );
  } finally {
    rmSync(tmp, { recursive: true });
  }
});

test('a BIOES model: entities follow BIOES rules (S- is one token, E- closes), tags come out in BIOES or as asked', async () => {
  const p = await Predictor.load(await tinyModelDir({ scheme: 'bioes' }));
  const iob2 = await Predictor.load(await tinyModelDir({ scheme: 'bioes' }), { tagScheme: 'iob2' });
  try {
    assert.equal(p.scheme, 'bioes');
    const inputs = unseen().map((s) => ({ tokens: s.words }));
    const out = p.predict(inputs);
    const all = out.flatMap((x) => x.tags);
    assert.ok(all.some((t) => t.startsWith('S-')) && all.some((t) => t.startsWith('E-')), 'BIOES tags out');
    let singles = 0;
    for (const x of out) {
      // the entities are exactly the BIOES spans of the tags (conlleval's rules)
      assert.deepEqual(
        spans(x),
        spansOf(x.tags, 'bioes').map((c) => `${c.type}:${c.start}-${c.end + 1}`),
      );
      // every S- tag is a one-token entity of its own
      x.tags.forEach((t, i) => {
        if (!t.startsWith('S-')) return;
        singles++;
        assert.ok(spans(x).includes(`${t.slice(2)}:${i}-${i + 1}`), `${x.tags.join(' ')}: ${i}`);
      });
    }
    assert.ok(singles > 0);
    // --tag-scheme iob2: the same entities, tags rewritten in IOB2
    const conv = iob2.predict(inputs);
    assert.deepEqual(conv.map(spans), out.map(spans));
    for (const x of conv) {
      assert.ok(
        x.tags.every((t) => t === 'O' || /^[BI]-/.test(t)),
        x.tags.join(' '),
      );
      assert.deepEqual(
        spansOf(x.tags, 'iob2').map((c) => `${c.type}:${c.start}-${c.end + 1}`),
        spans(x),
      );
    }
    await assert.rejects(Predictor.load(p.dir, { tagScheme: 'bio' }), /--tag-scheme bio: unknown; use one of iob2/);
  } finally {
    p.dispose();
    iob2.dispose();
  }
});

test("a CRF model: tags are the constrained Viterbi path and confidence is the CRF's marginals (forward-backward in JS agrees), not the emissions' softmax", async () => {
  const dir = await tinyModelDir({ crf: true, scheme: 'bioes' });
  const tmp = mkdtempSync(path.join(tmpdir(), 'nerflow-crf-'));
  const p = await Predictor.load(dir);
  try {
    // the same network without its CRF: its probabilities are the softmax of the emissions, whose logs are
    // the emissions up to a constant per token (which a CRF's marginals do not see)
    const plain = path.join(tmp, 'model');
    cpSync(dir, plain, { recursive: true });
    const meta = JSON.parse(readFileSync(path.join(dir, 'nerflow.json'), 'utf8'));
    const { crf: _, ...spec } = meta.spec;
    writeFileSync(
      path.join(plain, 'nerflow.json'),
      JSON.stringify({ ...meta, spec: { ...spec, head: 'softmax' }, parts: [] }),
    );
    const softmax = await loadTagger(plain);
    const crf = JSON.parse(readFileSync(path.join(dir, 'crf.json'), 'utf8'));
    const tags: string[] = meta.tags;
    const K = tags.length;
    const allowed = allowedTransitions(tags);
    const vocab = new Map<string, number>(meta.vocab.words.map((w: string, i: number) => [w, i]));
    let checked = 0;
    let differs = 0;
    for (const s of unseen().slice(0, 30)) {
      const [out] = p.predict([{ tokens: s.words }]);
      const T = s.words.length;
      const b: Batch = {
        size: 1,
        steps: T,
        tokens: Int32Array.from(s.words, (w) => vocab.get(w.toLowerCase()) ?? 1),
        tags: new Int32Array(T),
        lengths: Int32Array.of(T),
        index: Int32Array.of(0),
      };
      const sm = softmax.probabilities(b);
      // forward-backward in plain JS (nn's crfMarginals, itself checked against the kernel in fused-crf.test.ts)
      const flat = crfMarginals(
        Array.from(sm, Math.log),
        [T],
        T,
        K,
        { transitions: crf.transitions.flat(), start: crf.start, end: crf.end },
        allowed,
      );
      const marg = Array.from({ length: T }, (_, t) => Array.from(flat.subarray(t * K, (t + 1) * K)));
      const ids = out.tags.map((t) => tags.indexOf(t));
      assert.ok(pathAllowed(ids, allowed, K), `an allowed path: ${out.tags.join(' ')}`);
      for (const e of out.entities) {
        let m = 0;
        let q = 0;
        for (let t = e.token_start; t < e.token_end; t++) {
          m += marg[t][ids[t]];
          q += sm[t * K + ids[t]];
        }
        const n = e.token_end - e.token_start;
        assert.ok(Math.abs(e.confidence - m / n) < 1e-3, `${e.text}: confidence ${e.confidence}, marginal ${m / n}`);
        if (Math.abs(e.confidence - q / n) > 0.01) differs++;
        checked++;
      }
    }
    softmax.dispose();
    assert.ok(checked >= 20, `${checked} entities checked`);
    assert.ok(differs > checked / 4, `the marginals are not the softmax (${differs} of ${checked} differ)`);
  } finally {
    p.dispose();
    rmSync(tmp, { recursive: true });
  }
});

test('serve answers with a char-CNN BIOES CRF model; /version says what the model is', async () => {
  const p = await Predictor.load(await tinyModelDir({ chars: true, crf: true, scheme: 'bioes' }), { threads: 1 });
  const app = createServer({ predictor: p, model: { uri: 'test' }, accessLog: () => undefined });
  try {
    const text = 'The U.S. military said Tuesday that President Bush will visit Iraq .';
    const r = await app.inject({
      method: 'POST',
      url: '/invocations',
      headers: { 'content-type': 'text/csv' },
      payload: `text\n"${text}"\n`,
    });
    assert.equal(r.statusCode, 200, r.body);
    const [pred] = r.json().predictions as { entities: unknown[] }[];
    assert.ok(pred.entities.length > 0);
    assert.deepEqual(pred, p.predict([{ text }]).map((x) => predictionJson(x))[0]);
    const v = (await app.inject({ url: '/version' })).json();
    assert.deepEqual(
      { scheme: v.tag_scheme, head: v.head, chars: v.chars, threads: v.engine.threads },
      { scheme: 'bioes', head: 'crf', chars: true, threads: 1 },
    );
  } finally {
    await app.close();
    p.dispose();
  }
});

test("a folder's tag scheme: nerflow.json tag_scheme, else the training config's, else from the tags", () => {
  const tags = ['O', 'B-a', 'I-a', 'E-a', 'S-a'];
  assert.equal(tagSchemeOf({ tag_scheme: 'bioes', tags: ['O'] }), 'bioes');
  assert.equal(tagSchemeOf({ training: { featurize: { tag_scheme: 'bioes' } }, tags: ['O', 'B-a'] }), 'bioes');
  assert.equal(tagSchemeOf({ tags }), 'bioes');
  assert.equal(tagSchemeOf({ tags: ['O', 'B-a', 'I-a'] }), 'iob2');
});

test(
  'models:/ and runs:/ through a real MLflow server: a char-CNN CRF model (with its chars.json and crf.json) is downloaded once and predicts as the folder does',
  { skip: realMlflowSkip },
  async () => {
    const dir = await tinyModelDir({ chars: true, crf: true, scheme: 'bioes' });
    const root = mkdtempSync(path.join(tmpdir(), 'nerflow-rest-model-'));
    const mlf = await startRealMlflow();
    try {
      const store = new RestStore(mlf.uri);
      const exp = await store.getOrCreateExperiment('predict-rest');
      const run = await store.createRun({ experimentId: exp, runName: 'char' });
      await store.logArtifact(run.run_id, dir, 'model');
      await registerRunModel(store, {
        runId: run.run_id,
        name: 'nerflow-char',
        artifactPath: 'model',
        flavor: {},
        metric: 0.5,
        tmpDir: path.join(root, 'tmp'),
      });
      const text = 'The U.S. military said Tuesday that President Bush will visit Iraq .';
      const local = await Predictor.load(dir, { threads: 1 });
      const want = local.predict([{ text }]);
      local.dispose();
      let firstStamp: number | undefined;
      for (const uri of ['models:/nerflow-char@champion', 'models:/nerflow-char/1', `runs:/${run.run_id}/model`]) {
        const m = await resolveModel(uri, { root, trackingUri: mlf.uri, env: {} });
        assert.equal(m.dir, path.join(root, 'runs', '.models', run.run_id, 'model'), uri);
        const p = await Predictor.load(m.dir, { threads: 1 });
        assert.deepEqual(p.predict([{ text }]), want, uri);
        assert.ok(p.chars && p.meta.spec.head === 'crf');
        p.dispose();
        // the three URIs name one run's folder: downloaded by the first, reused (not rewritten) by the others
        const stamp = statSync(path.join(m.dir, 'weights.bin')).mtimeMs;
        firstStamp ??= stamp;
        assert.equal(stamp, firstStamp, uri);
      }
      await assert.rejects(
        resolveModel('models:/nerflow-char@prod', { root, trackingUri: mlf.uri, env: {} }),
        /no alias @prod of "nerflow-char"\. It has versions 1 and aliases @champion \(version 1\)/,
      );
    } finally {
      await mlf.stop();
      rmSync(root, { recursive: true });
    }
  },
);
