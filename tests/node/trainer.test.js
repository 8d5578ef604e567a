// The JS API on the wasm build, with real MNIST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createTrainer, inspectCheckpoint } from '../../src/js/wasm-trainer.js';
import { mnistBytes, mnistTrainer, trainExactly, assertBitEqual } from './helpers.js';

test('100 steps on real MNIST make the loss fall', async () => {
  const t = await mnistTrainer();
  const losses = trainExactly(t, 100);
  assert.equal(losses.length, 100);
  const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
  const first = mean(losses.slice(0, 10)), last = mean(losses.slice(-10));
  assert.ok(first > 1.5, `initial loss ${first} should be near ln(10) = 2.30`);
  assert.ok(last < 0.6 * first, `loss should fall: first 10 steps ${first}, last 10 ${last}`);
  const ev = t.evaluate({ limit: 1000 });
  assert.ok(ev.accuracy > 0.8, `test accuracy after 100 steps: ${ev.accuracy}`);
  assert.deepEqual(t.progress().step, 100);
  t.dispose();
});

test('save then load gives identical predictions, tensors and progress', async () => {
  const a = await mnistTrainer({ seed: 3 });
  trainExactly(a, 30);
  const ckpt = a.saveCheckpoint();
  assert.ok(ckpt instanceof Uint8Array);
  const b = await mnistTrainer({ seed: 99 });
  b.loadCheckpoint(ckpt);
  assert.deepEqual(b.progress(), a.progress());
  const size = a.model.input.reduce((x, y) => x * y, 1); // the seed's 1x28x28
  const images = mnistBytes().testImages.subarray(16, 16 + size * 50);
  const pa = a.predict(images), pb = b.predict(images);
  assert.deepEqual(pb.labels, pa.labels);
  assertBitEqual(assert, pb.probabilities, pa.probabilities, 'probabilities');
  const ta = a.tensors(), tb = b.tensors();
  for (const k of Object.keys(ta)) assertBitEqual(assert, tb[k], ta[k], k);
  a.dispose(); b.dispose();
});

test('a resumed trainer continues: step count, history and falling loss', async () => {
  const a = await mnistTrainer({}, { trainLimit: 3200, testLimit: 500 });
  const first = trainExactly(a, 50);
  a.evaluate({ recordEpoch: true });
  const b = await mnistTrainer({}, { trainLimit: 3200, testLimit: 500 });
  b.loadCheckpoint(a.saveCheckpoint());
  const more = trainExactly(b, 50);
  assert.equal(b.progress().step, 100);
  assert.equal(b.progress().epoch, 2);
  const h = b.history();
  assert.equal(h.stepLoss.length, 100);
  assert.equal(h.epochLoss.length, 2);
  assert.ok(h.epochLoss[1] < h.epochLoss[0], `epoch losses ${h.epochLoss}`);
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  assert.ok(mean(more) < mean(first));
  a.dispose(); b.dispose();
});

test('exact resume: stopping anywhere and resuming is bit-identical to never stopping', async () => {
  // 1000 images, batch 64: 16 steps per epoch, the last one partial (40 images).
  const limits = { trainLimit: 1000, testLimit: 100 };
  const total = 40;
  const ref = await mnistTrainer({ seed: 7 }, limits);
  const refLosses = trainExactly(ref, total);
  const refT = ref.tensors();
  // Epoch boundaries (16, 32), the step before and after one, and random points.
  let rnd = 12345;
  const next = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648) % (total - 1) + 1;
  const stops = [1, 15, 16, 17, 32, next(), next(), next()];
  for (const k of stops) {
    const a = await mnistTrainer({ seed: 7 }, limits);
    trainExactly(a, k, 3);
    const ckpt = a.saveCheckpoint();
    a.dispose();
    const b = await mnistTrainer({ seed: 1 }, limits);
    b.loadCheckpoint(ckpt);
    trainExactly(b, total - k, 5);
    const bt = b.tensors();
    for (const name of Object.keys(refT)) assertBitEqual(assert, bt[name], refT[name], `stop at ${k}: ${name}`);
    assertBitEqual(assert, b.history().stepLoss, Float32Array.from(refLosses), `stop at ${k}: step losses`);
    assertBitEqual(assert, b.history().epochLoss, ref.history().epochLoss, `stop at ${k}: epoch losses`);
    b.dispose();
  }
  ref.dispose();
});

test('a corrupted checkpoint is refused with a reason and the state is unchanged', async () => {
  const a = await mnistTrainer({}, { trainLimit: 640 });
  trainExactly(a, 5);
  const good = a.saveCheckpoint();
  trainExactly(a, 3);
  const before = a.tensors(), progress = a.progress();
  const cases = {
    'flipped byte': (() => { const b = good.slice(); b[b.length - 100] ^= 0x10; return b; })(),
    truncated: good.slice(0, good.length - 7),
    'appended garbage': (() => { const b = new Uint8Array(good.length + 5); b.set(good); return b; })(),
    empty: new Uint8Array(0),
    'not a checkpoint': new TextEncoder().encode('hello world, this is not a checkpoint'),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    assert.throws(() => a.loadCheckpoint(bytes), /refused checkpoint: .+/, name);
  }
  assert.deepEqual(a.progress(), progress);
  const after = a.tensors();
  for (const k of Object.keys(before)) assertBitEqual(assert, after[k], before[k], k);
  await assert.rejects(inspectCheckpoint(cases.truncated), /not a valid checkpoint/);
  const info = await inspectCheckpoint(good);
  assert.equal(info.metadata.format, 'wasm-trainer-checkpoint');
  assert.equal(info.metadata.step, '5');
  a.dispose();
});

test('bad data is refused with a clear message', async () => {
  const t = await createTrainer();
  const m = mnistBytes();
  assert.throws(() => t.setData({ ...m, trainLabels: m.testLabels }), /train set: 60000 images but 10000 labels/);
  assert.throws(() => t.setData({ ...m, trainImages: m.trainImages.subarray(0, 1000) }), /train images: truncated/);
  assert.throws(() => t.trainSteps(1), /no training data/);
  await assert.rejects(createTrainer({ batchSize: 0 }), /batch size/);
  t.dispose();
});

// WT_BUILD_DIR (src/js/wasm-trainer.js) may hold only the single-thread build.
const noThreadsBuild = !!process.env.WT_BUILD_DIR && !existsSync(path.join(process.env.WT_BUILD_DIR, 'wasm_trainer_mt_node.cjs'));

test('threads: the pthreads build gives bit-identical results for 1, 2 and 3 threads', { skip: noThreadsBuild && 'WT_BUILD_DIR has no pthreads build' }, async () => {
  const limits = { trainLimit: 2000, testLimit: 200 };
  const runs = [];
  for (const threads of [1, 2, 3]) {
    const t = await mnistTrainer({ seed: 4, threads }, limits);
    assert.equal(t.config.threads, threads);
    const losses = trainExactly(t, 40, 4);
    runs.push({ losses: Float32Array.from(losses), tensors: t.tensors() });
    t.dispose();
  }
  for (const r of runs.slice(1)) {
    assertBitEqual(assert, r.losses, runs[0].losses, 'losses');
    for (const k of Object.keys(r.tensors)) assertBitEqual(assert, r.tensors[k], runs[0].tensors[k], k);
  }
  // A checkpoint from a 2-thread run resumes exactly in the single-thread build.
  const a = await mnistTrainer({ seed: 4, threads: 2 }, limits);
  trainExactly(a, 25);
  const b = await mnistTrainer({ seed: 4, threads: 1 }, limits);
  b.loadCheckpoint(a.saveCheckpoint());
  trainExactly(b, 15);
  for (const k of Object.keys(runs[0].tensors)) assertBitEqual(assert, b.tensors()[k], runs[0].tensors[k], `resumed ${k}`);
  a.dispose(); b.dispose();
});

test('the config: a model by preset name, spec or JSON text; undefined values take the defaults', async () => {
  const t = await createTrainer({ model: 'mlp', seed: undefined, batchSize: 32 });
  assert.equal(t.model.name, 'mlp');
  assert.deepEqual(t.model.input, [1, 28, 28]);
  assert.equal(t.model.classes, 10);
  assert.equal(t.config.batchSize, 32);
  assert.equal(t.config.seed, 0);
  assert.throws(() => { t.model.name = 'x'; }, TypeError, 'the model is read-only');
  t.dispose();
  await assert.rejects(createTrainer({ model: 'nope' }), /unknown preset "nope"/);
  await assert.rejects(createTrainer({ model: '{"input": [1, 28, 28]}' }), /"layers" is missing/);
  await assert.rejects(createTrainer({ seed: 'x' }), /config.seed must be a finite number/);
});
