// Datasets beyond MNIST through the CLI and the JS API: CIFAR-10's binary format
// (loose files and the .tar.gz as distributed, generated here in exactly that
// format: the real one cannot be downloaded on these machines), Fashion-MNIST from
// Debian's package, malformed data refused with a message that says what is wrong,
// and the data configuration kept in checkpoints.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, test } from 'node:test';

import { createTar } from 'nanotar';

import { createTrainer, inspectCheckpoint, listDatasets } from '../../src/js/wasm-trainer.js';
import { CLI } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'wt-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** n CIFAR-10 records: 1 label byte + 1024 R + 1024 G + 1024 B bytes each. */
function records(n, seed, label = (i) => (i * 7 + seed) % 10) {
  const b = new Uint8Array(n * 3073);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    b[i * 3073] = label(i);
    for (let j = 1; j < 3073; j++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[i * 3073 + j] = x >>> 24;
    }
  }
  return b;
}

function cifarFiles({ truncate = false, badLabel = false, withTest = true } = {}) {
  const files = [
    { name: 'cifar-10-batches-bin/data_batch_1.bin', data: records(40, 1) },
    { name: 'cifar-10-batches-bin/data_batch_2.bin', data: truncate ? records(40, 2).subarray(0, 40 * 3073 - 100) : records(40, 2) },
    { name: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode(CLASSES.join('\n') + '\n\n') },
  ];
  if (withTest) files.push({ name: 'cifar-10-batches-bin/test_batch.bin', data: records(20, 3, badLabel ? () => 12 : undefined) });
  return files;
}

function tarGz(name, files) {
  const file = path.join(dir, name);
  writeFileSync(file, gzipSync(createTar(files)));
  return file;
}

test('CIFAR-10 as distributed (.tar.gz) trains cifar-convnet with its normalization and augmentation', async () => {
  const archive = tarGz('cifar-10-binary.tar.gz', cifarFiles());
  const save = path.join(dir, 'cifar.safetensors');
  const r = cli('train', '--model', 'cifar-convnet', '--data', archive, '--max-steps', '3', '--batch-size', '16',
    '--threads', '1', '--save', save);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /data cifar-10: 80 training and 20 test images/);
  const info = await inspectCheckpoint(new Uint8Array(readFileSync(save)));
  const data = JSON.parse(info.metadata.data);
  assert.equal(data.name, 'cifar-10');
  assert.deepEqual(data.class_names, CLASSES);
  assert.equal(data.augment.crop_padding, 4);
  assert.equal(data.augment.hflip, true);
  assert.equal(data.normalize.mean.length, 3);
  // Resuming on the same data continues; the same archive unpacked into a folder is the same data.
  const folder = path.join(dir, 'unpacked');
  mkdirSync(folder);
  for (const f of cifarFiles()) writeFileSync(path.join(folder, path.basename(f.name)), f.data);
  const r2 = cli('train', '--resume', save, '--data', folder, '--max-steps', '2', '--threads', '2', '--save', save);
  assert.equal(r2.code, 0, r2.err);
  const after2 = await inspectCheckpoint(new Uint8Array(readFileSync(save)));
  assert.equal(after2.metadata.step, '5');
});

test('malformed CIFAR-10 data is refused with a message that says what is wrong', () => {
  const cases = [
    [tarGz('truncated.tar.gz', cifarFiles({ truncate: true })), /data_batch_2\.bin: truncated record: 122820 bytes .* the last record has 3073 bytes|data_batch_2\.bin: truncated record/],
    [tarGz('labels.tar.gz', cifarFiles({ badLabel: true })), /test_batch\.bin: record 0 has label 12, outside CIFAR-10's 0\.\.9/],
    [tarGz('no-test.tar.gz', cifarFiles({ withTest: false })), /test_batch\.bin missing/],
    [tarGz('other.tar.gz', [{ name: 'readme.txt', data: new TextEncoder().encode('hi') }]), /not CIFAR-10's binary version: data_batch_1\.bin \.\.\. data_batch_5\.bin and test_batch\.bin missing/],
  ];
  for (const [file, message] of cases) {
    const r = cli('train', '--model', 'cifar-convnet', '--data', file, '--max-steps', '1', '--threads', '1');
    assert.notEqual(r.code, 0, `${file} was accepted`);
    assert.match(r.err, message);
    assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
  }
  const notGzip = path.join(dir, 'plain.tar.gz');
  writeFileSync(notGzip, createTar(cifarFiles()));
  const r = cli('train', '--model', 'cifar-convnet', '--data', notGzip, '--max-steps', '1');
  assert.match(r.err, /plain\.tar\.gz: not a valid gzip file/);
});

test('data that does not fit the model says so and lists the presets that fit', () => {
  const r = cli('train', '--data', tarGz('fit.tar.gz', cifarFiles()), '--max-steps', '1', '--threads', '1');
  assert.notEqual(r.code, 0);
  assert.match(r.err, /CIFAR-10 images are \[3, 32, 32\] but the model seed takes \[1, 28, 28\] images; presets that take them: cifar-convnet/);
  const r2 = cli('train', '--model', 'cifar-convnet', '--max-steps', '1', '--threads', '1');
  assert.match(r2.err, /\[28, 28\] but the model cifar-convnet takes \[3, 32, 32\] images; presets that take them: seed, mlp, lenet5, bn-cnn/);
});

test('Fashion-MNIST is built in, with its class names', async () => {
  const r = cli('train', '--data', 'fashion-mnist', '--max-steps', '2', '--train-limit', '256', '--test-limit', '64', '--threads', '1');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /data fashion-mnist: 256 training and 64 test images/);
  const ds = await listDatasets();
  const fm = ds.find((d) => d.name === 'fashion-mnist');
  assert.equal(fm.classNames[0], 'T-shirt/top');
  assert.equal(fm.classNames[9], 'Ankle boot');
  assert.deepEqual(ds.map((d) => d.name), ['mnist', 'fashion-mnist', 'cifar-10']);
  assert.deepEqual(ds.map((d) => d.displayName), ['MNIST', 'Fashion-MNIST', 'CIFAR-10']);
});

test('JS API: setCifar10 takes the files, applies CIFAR-10 defaults, and refuses without half-applying', async () => {
  const t = await createTrainer({ model: 'cifar-convnet', batchSize: 16 });
  const files = cifarFiles().filter((f) => f.name.endsWith('.bin'));
  const train = files.filter((f) => f.name.includes('data_batch')).map((f) => ({ name: path.basename(f.name), bytes: f.data }));
  const testSet = files.filter((f) => f.name.includes('test_batch')).map((f) => ({ name: 'test_batch.bin', bytes: f.data }));
  t.setCifar10({ train, test: testSet });
  assert.equal(t.progress().trainCount, 80);
  assert.equal(t.data.name, 'cifar-10');
  assert.deepEqual(t.data.augment, { cropPadding: 4, hflip: true });
  assert.equal(t.data.classNames[0], 'airplane');
  const r = t.trainSteps(2);
  assert.equal(r.steps, 2);
  // A refused file leaves the loaded data as it was.
  const bad = [{ name: 'data_batch_9.bin', bytes: records(3, 4).subarray(0, 5000) }];
  assert.throws(() => t.setCifar10({ train: bad, test: testSet }), /data_batch_9\.bin: truncated record/);
  assert.equal(t.progress().trainCount, 80);
  assert.equal(t.trainSteps(1).steps, 1);
  t.dispose();
});
