// Trainers sharing one copy of the data (Trainer.shareData), each with its own
// limits and data options, and checkData, which checks data without keeping it.
// Small data on the single-thread build; full CIFAR-10 in 320 MiB is
// memory.test.js's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkData, createTrainer } from '../../src/js/wasm-trainer.js';
import { assertBitEqual, mnistBytes, syntheticData, trainExactly } from './helpers.js';

const RECORD = 3073;

/** A CIFAR-10 batch file of n records: a class-dependent band on noise. */
function cifarFile(name, n, seed) {
  const b = new Uint8Array(n * RECORD);
  let s = seed;
  for (let r = 0; r < n; r++) {
    const y = (r * 7 + seed) % 10;
    b[r * RECORD] = y;
    for (let i = 1; i < RECORD; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const row = Math.floor(((i - 1) % 1024) / 32);
      b[r * RECORD + i] = row === 3 * y ? 220 : s >>> 27;
    }
  }
  return { name, bytes: b };
}
const cifar = () => ({ train: [cifarFile('data_batch_1.bin', 300, 1), cifarFile('data_batch_2.bin', 300, 2)], test: [cifarFile('test_batch.bin', 100, 3)] });
const MODEL = { input: [3, 32, 32], layers: [
  { type: 'Conv2d', out_channels: 4, kernel_size: 3, padding: 1 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 4 },
  { type: 'Flatten' }, { type: 'Linear', out_features: 10 }] };

test('a trainer sharing the data with a limit trains exactly as one given its own copy with that limit', async () => {
  const files = cifar();
  const a = await createTrainer({ model: MODEL, seed: 5 });
  a.setCifar10(files);
  const b = await createTrainer({ model: MODEL, seed: 1, batchSize: 32 });
  b.shareData(a, { trainLimit: 200, testLimit: 50 });
  const c = await createTrainer({ model: MODEL, seed: 1, batchSize: 32 });
  c.setCifar10({ ...files, trainLimit: 200, testLimit: 50 });
  assert.deepEqual(b.progress(), c.progress());
  const held = b.holdData();
  assert.deepEqual([held.trainCount, held.testCount, held.shape], [600, 100, [3, 32, 32]], 'the shared data is all of what a holds');
  held.dispose();
  assert.throws(() => held.trainCount, /disposed of/);
  assert.deepEqual(b.data, a.data, "the data options default to the other trainer's");
  assertBitEqual(assert, Float32Array.from(trainExactly(b, 9)), Float32Array.from(trainExactly(c, 9)), 'losses');
  assert.deepEqual(b.evaluate(), c.evaluate());
  // The same data fingerprint: c's checkpoint resumes on a trainer sharing a's data.
  const d = await createTrainer({ model: MODEL, batchSize: 32 });
  d.shareData(a, { trainLimit: 200 });
  d.loadCheckpoint(c.saveCheckpoint());
  assert.deepEqual(trainExactly(d, 3), trainExactly(c, 3));
  // On all 600 images it was not trained on: refused, d as it was.
  const e = await createTrainer({ model: MODEL, batchSize: 32 });
  e.shareData(a);
  assert.throws(() => e.loadCheckpoint(c.saveCheckpoint()), /trained on 200 images but the loaded training set has 600/);
  assert.equal(e.progress().step, 0);
  // The data outlives the trainer that loaded it.
  a.dispose();
  assert.equal(trainExactly(e, 2).length, 2);
  for (const t of [b, c, d, e]) t.dispose();
});

test('each sharing trainer has its own data options; a resume with other options is refused', async () => {
  const a = await createTrainer({ model: MODEL });
  a.setCifar10(cifar()); // CIFAR-10's normalization and augmentation
  trainExactly(a, 2);
  const plain = await createTrainer({ model: MODEL });
  plain.shareData(a, { data: { name: 'cifar-10', classNames: a.data.classNames } });
  assert.equal(plain.data.normalize, undefined);
  assert.equal(plain.data.augment, undefined);
  assert.ok(a.data.normalize && a.data.augment, 'the other trainer keeps its own options');
  assert.throws(() => plain.loadCheckpoint(a.saveCheckpoint()), /use the same data settings to resume/);
  const same = await createTrainer({ model: MODEL });
  same.shareData(a);
  same.loadCheckpoint(a.saveCheckpoint());
  assert.deepEqual(trainExactly(same, 2), trainExactly(a, 2));
  for (const t of [a, plain, same]) t.dispose();
});

test('a refused share says why and changes nothing', async () => {
  const mnist = await createTrainer({ model: 'seed' });
  mnist.setData({ ...mnistBytes(), trainLimit: 256, testLimit: 64 });
  const colour = await createTrainer({ model: MODEL });
  colour.setCifar10(cifar());
  assert.throws(() => mnist.shareData(colour), /train images are 3x32x32 but this model \(seed\) takes \[1, 28, 28\] inputs/);
  assert.equal(mnist.progress().trainCount, 256, 'the data it had stays');
  const empty = await createTrainer({ model: MODEL });
  assert.throws(() => colour.shareData(empty), /holds no data to share/);
  const five = await createTrainer({ model: { ...MODEL, layers: [...MODEL.layers.slice(0, 4), { type: 'Linear', out_features: 5 }] } });
  assert.throws(() => five.shareData(colour), /label [5-9] at index \d+ is outside 0\.\.4 \(this model has 5 classes\)/);
  assert.throws(() => five.shareData({}), /another Trainer/);
  assert.equal(trainExactly(mnist, 2).length, 2);
  for (const t of [mnist, colour, empty, five]) t.dispose();
});

test('checkData checks data as setData would, without keeping it', async () => {
  const mnist = mnistBytes();
  assert.deepEqual(await checkData(mnist, { classes: 10 }), { shape: [1, 28, 28], trainCount: 60000, testCount: 10000 });
  assert.deepEqual(await checkData({ ...mnist, trainLimit: 100 }, { classes: 10, trainLimit: 100 }), { shape: [1, 28, 28], trainCount: 100, testCount: 10000 });
  assert.deepEqual(await checkData(cifar(), { model: 'cifar-convnet' }), { shape: [3, 32, 32], trainCount: 600, testCount: 100 });
  // The messages setData gives.
  const t = await createTrainer({ model: 'seed' });
  const refusals = [
    { ...mnist, trainImages: mnist.trainImages.subarray(0, mnist.trainImages.length - 5) },
    { ...mnist, testLabels: mnist.testLabels.subarray(0, 9) },
    { ...mnist, trainImages: mnist.trainLabels },
  ];
  for (const bad of refusals) {
    let expected;
    try { t.setData(bad); } catch (e) { expected = e.message; }
    assert.ok(expected, 'setData refuses it');
    await assert.rejects(checkData(bad, { classes: 10 }), (e) => e.message === expected);
  }
  const d = syntheticData({ input: [1, 28, 28], classes: 10, train: 64, test: 16 });
  await assert.rejects(checkData(d, { classes: 4 }), /train labels: label [4-9] at index \d+ is outside 0\.\.3 \(this model has 4 classes\)/);
  await assert.rejects(checkData(d, { classes: 10, data: { classNames: ['a', 'b'] } }), /the data has 2 class names but this model has 10 classes/);
  await assert.rejects(checkData(d, { model: 'cifar-convnet' }), /the images are \[1, 28, 28\] but the model cifar-convnet takes \[3, 32, 32\]/);
  const files = cifar();
  files.train[1] = { name: 'data_batch_2.bin', bytes: files.train[1].bytes.subarray(0, 5000) };
  await assert.rejects(checkData(files, { classes: 10 }), /data_batch_2\.bin: truncated record/);
  const hundred = cifar();
  hundred.test[0].bytes[RECORD * 7] = 42;
  await assert.rejects(checkData(hundred, { classes: 10 }), /test_batch\.bin: record 7 has label 42, outside CIFAR-10's 0\.\.9/);
  await assert.rejects(checkData({ train: cifar().train, test: [] }, { classes: 10 }), /no CIFAR-10 test records/);
  await assert.rejects(checkData({ ...mnist }, {}), /needs the classes/);
  t.dispose();
});
