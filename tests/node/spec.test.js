// Models through the wasm and the JS API: the presets described layer by layer,
// malformed specs refused with the core's messages, a trainer of every preset
// taking a few steps on data of its input shape, the model a checkpoint holds,
// BatchNorm's buffers and counters, and sizes taken from the model everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  createTrainer, describeModel, getDefaults, inputFits, listPresets, modelDifference, modelOfCheckpoint,
} from '../../src/js/wasm-trainer.js';
import { ROOT, mnistBytes, mnistTrainer, syntheticData, trainExactly, rewriteMetadata } from './helpers.js';

const DEFAULTS_FILE = JSON.parse(readFileSync(path.join(ROOT, 'src/defaults.json'), 'utf8'));

// Counted by hand from the preset definitions (README: Presets).
const PRESETS = {
  // conv1 8*9+8, conv2 16*8*9+16, fc1 784*10+10
  seed: { input: [1, 28, 28], params: 80 + 1168 + 7850, layers: 8, buffers: 0 },
  // 784*256+256, 256*10+10
  mlp: { input: [1, 28, 28], params: 200960 + 2570, layers: 5, buffers: 0 },
  // 6*25+6, 16*6*25+16, 400*120+120, 120*84+84, 84*10+10
  lenet5: { input: [1, 28, 28], params: 156 + 2416 + 48120 + 10164 + 850, layers: 12, buffers: 0 },
  // conv 32*9+32, BN 2*32, conv 64*32*9+64, BN 2*64, 3136*128+128, 128*10+10
  'bn-cnn': { input: [1, 28, 28], params: 320 + 64 + 18496 + 128 + 401536 + 1290, layers: 13, buffers: 2 * 32 + 2 * 64 },
  // 32*27+32, 32*32*9+32, 64*32*9+64, 64*64*9+64, 4096*10+10
  'cifar-convnet': { input: [3, 32, 32], params: 896 + 9248 + 18496 + 36928 + 40970, layers: 12, buffers: 0 },
};

test('the defaults come from src/defaults.json, through the wasm', async () => {
  const d = await getDefaults();
  const h = DEFAULTS_FILE.hyperparameters;
  assert.deepEqual(d, {
    model: DEFAULTS_FILE.default_model, seed: h.seed, learningRate: h.learning_rate,
    batchSize: h.batch_size, weightDecay: h.weight_decay, threads: 1,
  });
  const t = await createTrainer();
  assert.equal(t.model.name, 'seed');
  assert.deepEqual({ ...t.config, threads: 1 }, { seed: h.seed, learningRate: h.learning_rate, batchSize: h.batch_size, weightDecay: h.weight_decay, threads: 1 });
  t.dispose();
});

test('listPresets: the five presets in the file\'s order, with their sizes', async () => {
  const list = await listPresets();
  assert.deepEqual(list.map((p) => p.name), Object.keys(DEFAULTS_FILE.presets));
  for (const p of list) {
    const want = PRESETS[p.name];
    assert.ok(want, `unexpected preset ${p.name}`);
    assert.deepEqual(p.input, want.input, p.name);
    assert.equal(p.classes, 10, p.name);
    assert.equal(p.params, want.params, p.name);
    assert.equal(p.default, p.name === 'seed');
    assert.equal(p.description, DEFAULTS_FILE.presets[p.name].description);
    assert.ok(p.flops > 0);
    // The spec as the file writes it, without the description: a model again.
    const { description, ...spec } = DEFAULTS_FILE.presets[p.name];
    assert.deepEqual(p.spec, spec, p.name);
    assert.equal((await describeModel(p.spec)).name, p.name);
  }
  // A copy each time: changing one changes nothing else.
  list[0].spec.layers.length = 0;
  assert.deepEqual((await listPresets())[0].spec.layers, DEFAULTS_FILE.presets[list[0].name].layers);
});

test('inputFits: setData\'s rule for data and model shapes', () => {
  assert.equal(inputFits([1, 28, 28], [1, 28, 28]), true);
  assert.equal(inputFits([28, 28], [1, 28, 28]), true, '3-d IDX images are [h, w]');
  assert.equal(inputFits([3, 32, 32], [1, 28, 28]), false);
  assert.equal(inputFits([28, 28], [3, 28, 28]), false);
  assert.equal(inputFits([1, 28, 28], [784]), true, 'a flat input takes as many values');
  assert.equal(inputFits([1, 28, 28], [785]), false);
  assert.equal(inputFits(null, [1, 28, 28]), false);
});

test('describeModel: every preset, layer by layer', async () => {
  for (const [name, want] of Object.entries(PRESETS)) {
    const d = await describeModel(name);
    assert.equal(d.name, name);
    assert.deepEqual(d.input, want.input, name);
    assert.equal(d.classes, 10, name);
    assert.equal(d.params, want.params, name);
    assert.equal(d.totalParams, want.params, name);
    assert.equal(d.buffers, want.buffers, name);
    assert.equal(d.layers.length, want.layers, name);
    assert.deepEqual(d.layers.map((l) => l.index), [...Array(want.layers).keys()]);
    assert.equal(d.layers.reduce((s, l) => s + l.params, 0), d.totalParams);
    assert.equal(d.layers.reduce((s, l) => s + l.flops, 0), d.totalFlops);
    assert.deepEqual(d.layers.at(-1).shape, [10], `${name}: the last layer gives the class scores`);
    // The canonical spec is a spec again, of the same network.
    const again = await describeModel(d.canonical);
    assert.equal(again.canonical, d.canonical);
    assert.equal(again.name, name);
    assert.equal(await modelDifference(name, JSON.parse(d.canonical)), '');
  }
  const seed = await describeModel('seed');
  assert.deepEqual(seed.layers.map((l) => [l.name, l.type]), [
    ['conv1', 'Conv2d'], ['1', 'ReLU'], ['2', 'MaxPool2d'], ['conv2', 'Conv2d'], ['4', 'ReLU'], ['5', 'MaxPool2d'], ['6', 'Flatten'], ['fc1', 'Linear'],
  ]);
  const lenet = await describeModel('lenet5');
  assert.deepEqual(lenet.layers.map((l) => l.shape), [
    [6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400], [120], [120], [84], [84], [10],
  ]);
  assert.deepEqual(lenet.layers.map((l) => l.params), [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]);
  // Forward FLOPs of a Linear: 2 x in x out per image.
  assert.equal(lenet.layers[7].flops, 2 * 400 * 120);
});

test('a spec object, its JSON text and the preset name are one model; a changed one is custom', async () => {
  const spec = { input: [1, 28, 28], layers: DEFAULTS_FILE.presets.seed.layers };
  assert.equal((await describeModel(spec)).name, 'seed');
  assert.equal((await describeModel(JSON.stringify(spec))).name, 'seed');
  const wider = { input: [1, 28, 28], layers: spec.layers.map((l) => (l.name === 'conv1' ? { ...l, out_channels: 12 } : l)) };
  const d = await describeModel(wider);
  assert.equal(d.name, 'custom');
  assert.equal(d.layers[0].params, 12 * 9 + 12);
  assert.match(await modelDifference(wider, 'seed'), /layer 0 \(conv1, Conv2d\) differs: "out_channels" is 12 here but 8/);
  const t = await createTrainer({ model: wider });
  assert.equal(t.model.name, 'custom');
  assert.equal(t.model.spec.layers[0].out_channels, 12);
  assert.deepEqual(t.model.input, [1, 28, 28]);
  t.dispose();
});

// Malformed specs: each refused by describeModel and by createTrainer with the
// core's message (layer index, type, field, what was expected).
const MALFORMED = [
  ['JSON syntax', '{"input": [1, 28, 28], "layers": [{"type": "Flatten"},', /line \d+, column \d+/],
  ['unknown preset', 'resnet50', /unknown preset "resnet50"; the presets are .*seed/],
  ['unknown type', { input: [1, 28, 28], layers: [{ type: 'Conv3d' }] }, /layer 0: unknown type "Conv3d"/],
  ['missing argument', { input: [1, 28, 28], layers: [{ type: 'Conv2d', kernel_size: 3 }, { type: 'Flatten' }, { type: 'Linear', out_features: 10 }] }, /layer 0 \(Conv2d\): "out_channels" is missing/],
  ['negative size', { input: [1, 28, 28], layers: [{ type: 'Flatten' }, { type: 'Linear', out_features: -3 }] }, /layer 1 \(Linear\): "out_features" must be a positive integer/],
  ['Linear before Flatten', { input: [1, 28, 28], layers: [{ type: 'Linear', out_features: 10 }] }, /layer 0 \(Linear\): Linear needs a flat input/],
  ['kernel larger than its input', { input: [1, 4, 4], layers: [{ type: 'Conv2d', out_channels: 2, kernel_size: 5 }, { type: 'Flatten' }, { type: 'Linear', out_features: 10 }] }, /layer 0 \(Conv2d\): kernel 5x5 \("kernel_size"\) is larger than the padded input/],
  ['duplicate names', { input: [1, 28, 28], layers: [{ type: 'Flatten', name: 'a' }, { type: 'Linear', out_features: 10, name: 'a' }] }, /"a" is already the name of layer 0.*names must be unique/],
  ['unknown argument', { input: [1, 28, 28], layers: [{ type: 'Flatten' }, { type: 'Linear', out_features: 10, bais: false }] }, /layer 1 \(Linear\): unknown argument "bais"/],
];

test('malformed specs are refused with the core\'s message, by describeModel and by the Trainer', async () => {
  for (const [what, spec, re] of MALFORMED) {
    await assert.rejects(describeModel(spec), re, what);
    await assert.rejects(createTrainer({ model: spec }), re, what);
  }
  await assert.rejects(createTrainer({ model: 42 }), /a model is a preset name, a spec object or its JSON text/);
  // A spec valid at batch 64 whose activations do not fit at this batch size: the
  // binding's constructor refuses it (error()), no trainer is made.
  await assert.rejects(createTrainer({ model: 'bn-cnn', batchSize: 65536 }), /a batch of 65536 needs .* for activations/);
});

// Data of each preset's input shape: IDX [n, h, w] for one channel, [n, c, h, w]
// for colour (cifar-convnet).
test('a trainer of every preset takes steps on data of its input shape', async () => {
  for (const [name, want] of Object.entries(PRESETS)) {
    const t = await createTrainer({ model: name, seed: 3, batchSize: 16 });
    assert.equal(t.model.name, name);
    assert.deepEqual(t.model.input, want.input);
    assert.equal(t.model.classes, 10);
    const size = want.input.reduce((a, b) => a * b, 1);
    const data = syntheticData({ input: want.input, train: 64, test: 20 });
    t.setData(data);
    const losses = trainExactly(t, 3);
    assert.equal(losses.length, 3);
    for (const l of losses) assert.ok(Number.isFinite(l) && l > 0, `${name}: loss ${l}`);
    const ev = t.evaluate();
    assert.equal(ev.count, 20);
    // Explicit batches (the reference-test surface) are sized by the model too.
    const header = 4 + 4 * data.trainImages[3];
    const images = Float32Array.from(data.trainImages.subarray(header, header + 16 * size), (v) => v / 255);
    const labels = data.trainLabels.subarray(8, 8 + 16);
    const fb = t.forwardBackward(images, labels);
    assert.equal(fb.logits.length, 16 * 10);
    assert.ok(Number.isFinite(fb.loss));
    assert.equal(Object.values(fb.grads).reduce((n, g) => n + g.length, 0), want.params, `${name}: one gradient per parameter`);
    assert.throws(() => t.forwardBackward(images.subarray(0, size * 15), labels), new RegExp(`forwardBackward: images must be n\\*${size} float32 values \\(the model's input \\[${want.input.join(', ')}\\]\\) for 16 labels`));
    // predict and evalLogits take n images of the model's input size.
    const gray = new Float32Array(3 * size).fill(0.5);
    const p = t.predict(gray);
    assert.equal(p.labels.length, 3);
    assert.equal(p.probabilities.length, 3 * 10);
    const logits = t.evalLogits(gray);
    assert.equal(logits.length, 3 * 10);
    for (let i = 0; i < 3; i++) {
      const row = logits.subarray(i * 10, i * 10 + 10);
      assert.equal(row.indexOf(Math.max(...row)), p.labels[i], `${name}: predict's label is evalLogits' argmax`);
    }
    assert.throws(() => t.predict(new Float32Array(size + 1)), new RegExp(`predict: expected n\\*${size} values for the model's input \\[${want.input.join(', ')}\\]`));
    // A checkpoint knows its model.
    const ckpt = t.saveCheckpoint();
    const m = await modelOfCheckpoint(ckpt);
    assert.equal(m.name, name);
    assert.equal(m.canonical, t.model.canonical);
    t.dispose();
  }
});

test('images of another shape than the model\'s input are refused, naming both shapes', async () => {
  const t = await createTrainer({ model: 'cifar-convnet' });
  assert.throws(() => t.setData(mnistBytes()), /the train images are \[28, 28\] but the model cifar-convnet takes \[3, 32, 32\] images/);
  t.dispose();
  const s = await createTrainer({ model: 'seed' });
  assert.throws(() => s.setData(syntheticData({ input: [3, 32, 32], train: 16, test: 16 })), /the train images are \[3, 32, 32\] but the model seed takes \[1, 28, 28\] images/);
  s.dispose();
});

test('resuming with another model is refused, naming the first layer that differs', async () => {
  const a = await mnistTrainer({ model: 'seed' }, { trainLimit: 256, testLimit: 64 });
  trainExactly(a, 2);
  const ckpt = a.saveCheckpoint();
  a.dispose();
  const b = await mnistTrainer({ model: 'lenet5' }, { trainLimit: 256, testLimit: 64 });
  assert.throws(() => b.loadCheckpoint(ckpt), /refused checkpoint: .*layer 0/);
  assert.equal(b.progress().step, 0, 'a refused checkpoint changes nothing');
  b.dispose();
  assert.match(await modelDifference('lenet5', (await modelOfCheckpoint(ckpt)).canonical), /^layer 0 /);
});

test('a checkpoint without a spec (format version 1) is the seed\'s CNN', async () => {
  const a = await mnistTrainer({}, { trainLimit: 256, testLimit: 64 });
  trainExactly(a, 2);
  const v1 = rewriteMetadata(a.saveCheckpoint(), (md) => {
    delete md.spec;
    delete md.model;
    md.format_version = '1';
  });
  a.dispose();
  const m = await modelOfCheckpoint(v1);
  assert.equal(m.name, 'seed');
  const t = await mnistTrainer({ model: m.canonical }, { trainLimit: 256, testLimit: 64 });
  t.loadCheckpoint(v1);
  assert.equal(t.progress().step, 2);
  t.dispose();
  await assert.rejects(modelOfCheckpoint(new TextEncoder().encode('not a checkpoint')), /refused checkpoint: /);
  const hostile = rewriteMetadata(v1, (md) => { md.spec = '{"input": [1, 28, 28], "layers": []}'; });
  await assert.rejects(modelOfCheckpoint(hostile), /refused checkpoint: its model spec is refused: "layers" must be a non-empty array/);
});

test('BatchNorm: running statistics and num_batches_tracked through tensors(), setTensor() and setCounter()', async () => {
  const t = await createTrainer({ model: 'bn-cnn', batchSize: 16 });
  t.setData(syntheticData({ input: [1, 28, 28], train: 64, test: 16 }));
  let ts = t.tensors();
  assert.equal(ts['1.running_mean'].length, 32);
  assert.ok(ts['1.running_mean'].every((v) => v === 0));
  assert.ok(ts['1.running_var'].every((v) => v === 1));
  assert.equal(ts['5.running_var'].length, 64);
  assert.ok(ts['1.num_batches_tracked'] instanceof BigInt64Array);
  assert.deepEqual([...ts['1.num_batches_tracked']], [0n]);
  assert.equal(ts['optimizer.1.running_mean.exp_avg'], undefined, 'buffers are not trained');
  trainExactly(t, 2);
  ts = t.tensors();
  assert.deepEqual([...ts['1.num_batches_tracked']], [2n]);
  assert.deepEqual([...ts['5.num_batches_tracked']], [2n]);
  assert.ok(ts['1.running_mean'].some((v) => v !== 0), 'running mean moved');
  t.setCounter('1.num_batches_tracked', 7);
  t.setTensor('5.num_batches_tracked', BigInt64Array.of(9n));
  t.setTensor('1.running_mean', new Float32Array(32).fill(0.25));
  ts = t.tensors();
  assert.deepEqual([...ts['1.num_batches_tracked']], [7n]);
  assert.deepEqual([...ts['5.num_batches_tracked']], [9n]);
  assert.ok(ts['1.running_mean'].every((v) => v === 0.25));
  assert.throws(() => t.setTensor('1.running_mean', new Float32Array(3)), /expected 32 floats, got 3/);
  assert.throws(() => t.setCounter('1.num_batches_tracked', -1), /non-negative integer/);
  assert.throws(() => t.setCounter('nope.num_batches_tracked', 1), /unknown counter/);
  // They travel in checkpoints.
  const u = await createTrainer({ model: 'bn-cnn', batchSize: 16 });
  u.setData(syntheticData({ input: [1, 28, 28], train: 64, test: 16 }));
  u.loadCheckpoint(t.saveCheckpoint());
  const us = u.tensors();
  assert.deepEqual([...us['1.num_batches_tracked']], [7n]);
  assert.ok(us['1.running_mean'].every((v) => v === 0.25));
  t.dispose();
  u.dispose();
});
