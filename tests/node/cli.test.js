// The CLI as a user runs it: real processes, real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, copyFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CLI, MNIST_DIR } from './helpers.js';
import { inspectCheckpoint } from '../../src/js/wasm-trainer.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'wt-cli-'));
function cli(args, opts = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const jsonLines = (out) => out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const SUBSET = ['--train-limit', '3000', '--test-limit', '1000'];

test('two-stage run: train, save, resume, loss keeps falling', () => {
  const dir = tmp(), ckpt = path.join(dir, 'run.safetensors');
  const a = cli(['train', '--epochs', '2', '--save', ckpt, ...SUBSET]);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /Loss at epoch 0 was \d\.\d{5}/);
  assert.match(a.out, /Loss at epoch 1 was/);
  assert.match(a.out, /test accuracy \d+\.\d\d%/);
  assert.match(a.out, /=> Saving checkpoint/);
  const b = cli(['train', '--resume', ckpt, '--epochs', '2', '--save', ckpt, '--json', ...SUBSET]);
  assert.equal(b.code, 0, b.err);
  const lines = jsonLines(b.out);
  assert.equal(lines.length, 2);
  for (const l of lines) for (const k of ['epoch', 'step', 'loss', 'test_loss', 'test_accuracy', 'samples_per_second']) assert.equal(typeof l[k], 'number', k);
  assert.deepEqual(lines.map((l) => l.epoch), [2, 3]);
  assert.equal(lines[1].step, 4 * Math.ceil(3000 / 64));
  const first = Number(/Loss at epoch 1 was (\S+)/.exec(a.out)[1]);
  assert.ok(lines[0].loss < first, `resumed epoch loss ${lines[0].loss} should be below ${first}`);
  assert.ok(lines[1].test_accuracy > 0.85);
  const c = cli(['train', '--resume', ckpt, '--epochs', '1', ...SUBSET]);
  assert.match(c.out, /=> Loading checkpoint/);
  const ev = cli(['evaluate', ckpt, '--json', '--test-limit', '1000']);
  assert.equal(ev.code, 0, ev.err);
  const e = JSON.parse(ev.out);
  assert.ok(Math.abs(e.accuracy - lines[1].test_accuracy) < 1e-9, 'evaluate agrees with the last epoch');
  const ins = cli(['inspect', ckpt]);
  assert.equal(ins.code, 0);
  assert.match(ins.out, /valid wasm-trainer checkpoint/);
  assert.match(ins.out, /fc1\.weight\s+F32 \[10, 784\]/);
  assert.match(ins.out, /epoch loss\s+(\d\.\d{4} ){3}\d\.\d{4}/);
});

test('--max-steps stops mid-epoch and saves; --epochs then counts the finished epoch first', () => {
  const dir = tmp(), ckpt = path.join(dir, 'a.safetensors');
  const a = cli(['train', '--max-steps', '10', '--save', ckpt, ...SUBSET]);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /stopped after --max-steps 10 at step 10/);
  const b = cli(['train', '--resume', ckpt, '--epochs', '1', '--json', ...SUBSET]);
  assert.equal(b.code, 0, b.err);
  const [l] = jsonLines(b.out);
  assert.equal(l.epoch, 0);
  assert.equal(l.step, Math.ceil(3000 / 64));
});

test('data given as a folder of .gz IDX files', () => {
  const dir = tmp();
  for (const f of readdirSync(MNIST_DIR)) writeFileSync(path.join(dir, `${f}.gz`), gzipSync(readFileSync(path.join(MNIST_DIR, f)), { level: 1 }));
  const r = cli(['train', '--epochs', '1', '--data', dir, '--json', '--train-limit', '640', '--test-limit', '200']);
  assert.equal(r.code, 0, r.err);
  assert.equal(jsonLines(r.out)[0].step, 10);
});

test('errors: one line, non-zero exit, no stack trace', () => {
  const dir = tmp();
  const bad = path.join(dir, 'bad.safetensors');
  writeFileSync(bad, 'not a checkpoint at all');
  for (const [args, re] of [
    [['evaluate', path.join(dir, 'missing.safetensors')], /does not exist/],
    [['evaluate', bad], /refused checkpoint/],
    [['inspect', bad], /not a valid checkpoint/],
    [['train', '--data', dir], /has no train-images-idx3-ubyte/],
    [['train', '--epochs', 'x'], /--epochs must be an integer/],
    [['bogus'], /unknown command/],
  ]) {
    const r = cli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
});

test('a non-finite loss stops training and never overwrites the good checkpoint', async () => {
  const dir = tmp(), ckpt = path.join(dir, 'good.safetensors');
  assert.equal(cli(['train', '--epochs', '1', '--save', ckpt, '--train-limit', '640', '--test-limit', '100']).code, 0);
  const good = readFileSync(ckpt);
  const r = cli(['train', '--epochs', '1', '--lr', '1e38', '--save', ckpt, '--train-limit', '640', '--test-limit', '100']);
  assert.equal(r.code, 1);
  assert.match(r.err, /loss became (NaN|infinite) at step \d+/);
  assert.deepEqual(readFileSync(ckpt), good);
});

test('killing the process at random moments leaves the old or the new checkpoint, complete', async () => {
  const dir = tmp(), ckpt = path.join(dir, 'k.safetensors');
  // 4 steps per epoch: a save every few milliseconds, so kills land inside writes.
  const args = [CLI, 'train', '--epochs', '100000', '--save', ckpt, '--train-limit', '256', '--test-limit', '16', '--json'];
  for (let i = 0; i < 6; i++) {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    // The kill lands a random moment after the first save (an epoch's --json line),
    // not after a fixed time: start-up takes as long as it takes on a loaded machine.
    await new Promise((res, rej) => {
      p.stdout.once('data', res);
      p.once('exit', () => rej(new Error('the CLI exited before its first save')));
    });
    await new Promise((res) => setTimeout(res, Math.random() * 300));
    p.kill('SIGKILL');
    if (p.exitCode === null) await new Promise((res) => p.once('exit', res));
    assert.ok(existsSync(ckpt), 'a checkpoint was saved before the kill');
    const info = await inspectCheckpoint(new Uint8Array(readFileSync(ckpt))); // throws if damaged
    assert.equal(info.metadata.format, 'wasm-trainer-checkpoint');
    const r = cli(['inspect', ckpt]);
    assert.equal(r.code, 0, r.err);
    copyFileSync(ckpt, `${ckpt}.${i}`);
  }
});

// ---- models: --model, `models`, `inspect --model`, resume keeps the model ----

const SMALL = ['--train-limit', '256', '--test-limit', '64'];

test('models lists the presets with their input shapes and parameter counts', () => {
  const r = cli(['models']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Model\s+Input\s+Classes\s+Params\s+FLOPs\/image\s+Description$/m);
  assert.match(r.out, /^seed \(default\)\s+\[1, 28, 28\]\s+10\s+9,098\s/m);
  assert.match(r.out, /^lenet5\s+\[1, 28, 28\]\s+10\s+61,706\s/m);
  assert.match(r.out, /^bn-cnn\s+\[1, 28, 28\]\s+10\s+421,834\s/m);
  assert.match(r.out, /^mlp\s+\[1, 28, 28\]\s+10\s+203,530\s/m);
  assert.match(r.out, /^cifar-convnet\s+\[3, 32, 32\]\s+10\s+106,538\s/m);
  const j = cli(['models', '--json']);
  assert.equal(j.code, 0, j.err);
  const list = JSON.parse(j.out);
  assert.deepEqual(list.map((p) => p.name), ['seed', 'mlp', 'lenet5', 'bn-cnn', 'cifar-convnet']);
  assert.equal(list.find((p) => p.name === 'lenet5').params, 61706);
});

test('inspect --model prints the layer table with totals (torchinfo-style); --json too', () => {
  const r = cli(['inspect', '--model', 'lenet5']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.match(lines[0], /^Model: lenet5 · input \[1, 28, 28\] · 10 classes$/);
  assert.match(lines[1], /^=+$/);
  assert.match(lines[2], /^ ?#\s+Name\s+Type\s+Output Shape\s+Param #\s+FLOPs$/);
  assert.match(r.out, /^ 0\s+0\s+Conv2d\s+\[6, 28, 28\]\s+156\s+[\d,]+$/m);
  assert.match(r.out, /^ 6\s+6\s+Flatten\s+\[400\]\s+0\s+0$/m);
  assert.match(r.out, /^ 7\s+7\s+Linear\s+\[120\]\s+48,120\s+96,000$/m);
  assert.match(r.out, /^\s+Total\s+61,706\s+[\d,]+$/m);
  assert.match(r.out, /^Total params: 61,706$/m);
  assert.match(r.out, /^Forward FLOPs per image: \d+\.\d\d M$/m);
  // Aligned columns: every table row as wide as the rules at most, and the
  // parameter column right-aligned at one position.
  const rows = lines.filter((l) => /^ ?\d+ /.test(l));
  assert.equal(rows.length, 12);
  const ends = new Set(rows.map((l) => l.search(/\S+\s+\S+$/) + l.match(/\S+\s+\S+$/)[0].split(/\s+/)[0].length));
  assert.equal(ends.size, 1, 'the Param # column is right-aligned');
  const j = cli(['inspect', '--model', 'bn-cnn', '--json']);
  assert.equal(j.code, 0, j.err);
  const d = JSON.parse(j.out);
  assert.equal(d.name, 'bn-cnn');
  assert.equal(d.totalParams, 421834);
  assert.equal(d.buffers, 192);
  assert.equal(d.layers[1].type, 'BatchNorm2d');
  assert.equal(d.spec.layers.length, 13);
  const bn = cli(['inspect', '--model', 'bn-cnn']);
  assert.match(bn.out, /^Buffers \(BatchNorm running statistics, not trained\): 192$/m);
});

test('train --model lenet5 on a small MNIST set; inspect shows the model; resume takes it from the checkpoint', () => {
  const dir = tmp(), ckpt = path.join(dir, 'lenet.safetensors');
  const a = cli(['train', '--model', 'lenet5', '--max-steps', '2', '--save', ckpt, ...SMALL]);
  assert.equal(a.code, 0, a.err);
  assert.match(a.out, /model lenet5: 61,706 parameters, input \[1, 28, 28\], 10 classes/);
  assert.match(a.out, /stopped after --max-steps 2 at step 2/);
  const ins = cli(['inspect', ckpt]);
  assert.equal(ins.code, 0, ins.err);
  assert.match(ins.out, /valid wasm-trainer checkpoint/);
  assert.match(ins.out, /^Model: lenet5 · input \[1, 28, 28\]/m);
  assert.match(ins.out, /^Total params: 61,706$/m);
  assert.match(ins.out, /^\s+spec\s+\(the model above\)$/m);
  const insJson = JSON.parse(cli(['inspect', ckpt, '--json']).out);
  assert.equal(insJson.valid, true);
  assert.equal(insJson.model.name, 'lenet5');
  // Resumed without --model: the checkpoint's model.
  const b = cli(['train', '--resume', ckpt, '--max-steps', '2', '--save', ckpt, ...SMALL]);
  assert.equal(b.code, 0, b.err);
  assert.match(b.out, /model lenet5: /);
  assert.match(b.out, /resumed at epoch 0, step 2/);
  assert.match(b.out, /stopped after --max-steps 2 at step 4/);
  // The same model named again is fine; another one is refused, naming the first differing layer.
  const c = cli(['train', '--resume', ckpt, '--model', 'lenet5', '--max-steps', '1', ...SMALL]);
  assert.equal(c.code, 0, c.err);
  const d = cli(['train', '--resume', ckpt, '--model', 'seed', '--max-steps', '1', ...SMALL]);
  assert.equal(d.code, 1);
  assert.match(d.err, /^wasm-trainer: error: --model seed conflicts with the checkpoint's model \(lenet5\): layer 0 .* A resumed run keeps its model: drop --model\n$/);
  const ev = cli(['evaluate', ckpt, '--json', '--test-limit', '64']);
  assert.equal(ev.code, 0, ev.err);
  assert.equal(JSON.parse(ev.out).count, 64);
});

test('train --model with a spec file; bad files and names give one clear line', () => {
  const dir = tmp();
  const good = path.join(dir, 'tiny.json');
  writeFileSync(good, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'Flatten' }, { type: 'Linear', out_features: 32 }, { type: 'ReLU' }, { type: 'Linear', out_features: 10 }] }));
  const r = cli(['train', '--model', good, '--max-steps', '2', '--json', ...SMALL]);
  assert.equal(r.code, 0, r.err);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ input: [1, 28, 28], layers: [{ type: 'Conv2d', out_channels: 4, kernel_size: 3 }, { type: 'Linear', out_features: 10 }] }));
  const syntax = path.join(dir, 'syntax.json');
  writeFileSync(syntax, '{"input": [1, 28, 28],\n "layers": [}');
  for (const [args, re] of [
    [['train', '--model', bad], /^wasm-trainer: error: --model .*bad\.json: layer 1 \(Linear\): Linear needs a flat input/],
    [['train', '--model', syntax], /^wasm-trainer: error: --model .*syntax\.json: .*line 2, column \d+/],
    [['train', '--model', path.join(dir, 'missing.json')], /^wasm-trainer: error: model file .*missing\.json does not exist/],
    [['train', '--model', 'resnet50'], /^wasm-trainer: error: --model resnet50: unknown preset "resnet50"; the presets are/],
    [['inspect', '--model', bad], /layer 1 \(Linear\)/],
    [['inspect'], /inspect needs a checkpoint file or --model/],
    // The data must have the model's input shape.
    [['train', '--model', 'cifar-convnet', '--max-steps', '1', ...SMALL], /the train images are \[28, 28\] but the model cifar-convnet takes \[3, 32, 32\] images/],
  ]) {
    const e = cli(args);
    assert.equal(e.code, 1, args.join(' '));
    assert.match(e.err, re);
    assert.equal(e.err.trim().split('\n').length, 1, `one line: ${e.err}`);
  }
});

test('before the build: every command says in one line to run "npm run build"', () => {
  const dir = tmp(); // no build here
  const ckpt = path.join(dir, 'x.safetensors');
  writeFileSync(ckpt, 'whatever');
  const env = { ...process.env, WT_BUILD_DIR: dir };
  for (const args of [['models'], ['inspect', '--model', 'seed'], ['inspect', ckpt], ['train', '--max-steps', '1'], ['train', '--model', 'lenet5'], ['evaluate', ckpt]]) {
    const r = cli(args, { env });
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.err, /^wasm-trainer: error: the wasm build is missing \(.*\): run "npm run build" first\n$/, args.join(' '));
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  const help = cli(['train', '--help'], { env });
  assert.equal(help.code, 0);
  assert.match(help.out, /--model <name\|file>/);
});

test('inspect shows BatchNorm\'s buffers and counters of a bn-cnn checkpoint', () => {
  const dir = tmp(), ckpt = path.join(dir, 'bn.safetensors');
  const a = cli(['train', '--model', 'bn-cnn', '--max-steps', '2', '--batch-size', '16', '--save', ckpt, ...SMALL]);
  assert.equal(a.code, 0, a.err);
  const r = cli(['inspect', ckpt]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Buffers \(BatchNorm running statistics, not trained\): 192$/m);
  assert.match(r.out, /^ {2}1\.num_batches_tracked\s+I64 \[\]\s+value 2$/m);
  assert.match(r.out, /^ {2}1\.running_var\s+F32 \[32\]\s+min/m);
});
