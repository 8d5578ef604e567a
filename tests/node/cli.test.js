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
  let valid = 0;
  for (let i = 0; i < 6; i++) {
    const p = spawn(process.execPath, args, { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 400 + Math.random() * 900));
    p.kill('SIGKILL');
    await new Promise((res) => p.on('exit', res));
    if (!existsSync(ckpt)) continue;
    const info = await inspectCheckpoint(new Uint8Array(readFileSync(ckpt))); // throws if damaged
    assert.equal(info.metadata.format, 'wasm-trainer-checkpoint');
    const r = cli(['inspect', ckpt]);
    assert.equal(r.code, 0, r.err);
    valid++;
    copyFileSync(ckpt, `${ckpt}.${i}`);
  }
  assert.ok(valid >= 4, `checkpoints written and checked: ${valid}`);
});
