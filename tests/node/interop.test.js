// Checkpoints between wasm-trainer and PyTorch, both ways (scripts/convert.py), checked
// against PyTorch itself (scripts/torch_ref/step.py runs the seed's model, optimizer and
// load_checkpoint):
//  - wasm -> PyTorch: the converted checkpoint loads into the seed's model and optimizer
//    and predicts the same test labels; one more step on the same batch in each framework
//    gives the same loss and parameters (and Adam moments) within 1e-5;
//  - PyTorch -> wasm: a PyTorch-trained checkpoint evaluates to the same test accuracy
//    (CLI and JS API), takes the same next step, and resumes training (JS API and CLI);
//  - wasm -> PyTorch -> wasm is exact; the README's plain-loading snippet works as written;
//  - the same for a BatchNorm + Dropout preset (bn-cnn): the converted state is the
//    trainer's in PyTorch's nn.Sequential (parameters, running statistics, counters,
//    Adam), PyTorch's eval-mode logits are the trainer's, and a run resumed from the file
//    that went to PyTorch and back is bit-identical to one that never stopped; a PyTorch
//    bn-cnn state_dict without a spec converts with --model (and not without it).
// Relative difference as in fixture.test.js: |a - b| / (|b| + max|b|), tolerance 1e-5.
//
// Needs python3 with torch (python3-torch, installed by scripts/setup.sh; WT_PYTHON picks
// another interpreter); where it is missing every test here reports itself skipped with
// the reason, or fails if WT_REQUIRE_TORCH=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mnistBytes, mnistTrainer, trainExactly, assertBitEqual, readSafetensors, ROOT, CLI } from './helpers.js';

const PYTHON = process.env.WT_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const CONVERT = path.join(ROOT, 'scripts/convert.py');
const STEP = path.join(ROOT, 'scripts/torch_ref/step.py');
const TOL = 1e-5;
const PARAMS = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias'];
const TRAIN_LIMIT = 6400; // 100 steps per epoch at batch 64
const TEST_LIMIT = 10000; // the whole MNIST test set

const torchMissing = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return `python3-torch not installed: ${PYTHON} cannot run (${r.error.code ?? r.error.message})`;
  if (r.status !== 0) return `python3-torch not installed: ${PYTHON} -c "import torch" fails: ${(r.stderr || '').trim().split('\n').pop()}`;
  return null;
})();

/** A test that needs PyTorch: skipped, with the reason, where it is absent (a failure
 *  instead when WT_REQUIRE_TORCH=1, for CI machines that must run them). */
function torchTest(name, fn) {
  test(name, async (t) => {
    if (torchMissing && process.env.WT_REQUIRE_TORCH === '1') assert.fail(`WT_REQUIRE_TORCH=1 but ${torchMissing}`);
    if (torchMissing) { t.skip(torchMissing); return; }
    const dir = mkdtempSync(path.join(tmpdir(), 'wt-interop-'));
    try { await fn(t, dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  });
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT, ...opts });
  if (r.error) throw r.error;
  if (opts.expectFail) return r;
  assert.equal(r.status, 0, `${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}
const py = (args, opts = {}) => run(PYTHON, args, { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, ...opts });
const cli = (args, opts) => run(process.execPath, [CLI, ...args], opts);

// ---- the comparison ----
// Tensors as typed arrays (readSafetensors: helpers.js).
const readFile = (p) => {
  const { metadata, tensors } = readSafetensors(new Uint8Array(readFileSync(p)));
  return { metadata, tensors: Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, v.data])) };
};

function compareAll(t, title, pairs) {
  const bad = [];
  for (const [name, a, b] of pairs) {
    assert.equal(a.length, b.length, `${name}: lengths`);
    let scale = 0, maxAbs = 0, maxRel = 0;
    for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / (Math.abs(b[i]) + scale || 1e-300));
      if (Number.isNaN(d)) maxRel = Infinity;
    }
    t.diagnostic(`${title}: ${name.padEnd(44)} max abs ${maxAbs.toExponential(2)}  max rel ${maxRel.toExponential(2)}`);
    if (!(maxRel <= TOL)) bad.push(`${name} (rel ${maxRel.toExponential(2)})`);
  }
  assert.deepEqual(bad, [], `${title}: beyond relative ${TOL}: ${bad.join(', ')}`);
}

/** Train images [start, start + n) as floats / 255, and their labels. */
function trainBatch(start, n) {
  const { trainImages, trainLabels } = mnistBytes();
  const px = trainImages.subarray(16 + start * 784, 16 + (start + n) * 784);
  return { images: Float32Array.from(px, (v) => v / 255), labels: Array.from(trainLabels.subarray(8 + start, 8 + start + n)) };
}
const testImages = (n) => mnistBytes().testImages.subarray(16, 16 + n * 784);

/** The wasm trainer's next step on an explicit batch vs PyTorch's (step.py's output). */
function compareNextStep(t, title, trainer, torchOut, batch) {
  const r = trainer.forwardBackward(batch.images, batch.labels);
  trainer.adamStep();
  const got = trainer.tensors();
  const pairs = [['loss', Float32Array.of(r.loss), torchOut.tensors.loss]];
  for (const p of PARAMS) {
    pairs.push([`after.${p}`, got[p], torchOut.tensors[`after.${p}`]]);
    for (const m of ['exp_avg', 'exp_avg_sq']) pairs.push([`after.optimizer.${p}.${m}`, got[`optimizer.${p}.${m}`], torchOut.tensors[`after.optimizer.${p}.${m}`]]);
  }
  compareAll(t, title, pairs);
}

function samePredictions(wasmLabels, torchPredictions, what) {
  const differ = [];
  for (let i = 0; i < wasmLabels.length; i++) if (wasmLabels[i] !== Number(torchPredictions[i])) differ.push(i);
  assert.deepEqual(differ, [], `${what}: ${differ.length} of ${wasmLabels.length} test predictions differ (images ${differ.slice(0, 10)})`);
}

// ---- tests ----

torchTest('wasm -> PyTorch: the seed loads it, predicts the same on the whole test set, and the next step matches', async (t, dir) => {
  const trainer = await mnistTrainer({ seed: 11 }, { trainLimit: TRAIN_LIMIT, testLimit: TEST_LIMIT });
  trainExactly(trainer, 30);
  const ckpt = path.join(dir, 'wasm.safetensors');
  writeFileSync(ckpt, trainer.saveCheckpoint());
  py([CONVERT, 'to-torch', ckpt, path.join(dir, 'wasm.pth')]);
  // step.py loads it exactly as the seed's load_checkpoint does, evaluates, then steps
  // on train images 640..703 (any batch: both frameworks get the same one).
  py([STEP, 'step', path.join(dir, 'wasm.pth'), path.join(dir, 'torch.safetensors'),
    '--batch-start', '640', '--batch-size', '64', '--test-limit', String(TEST_LIMIT)]);
  const out = readFile(path.join(dir, 'torch.safetensors'));
  assert.equal(out.metadata.step, '31', 'PyTorch continues Adam at step 30 + 1');

  samePredictions(trainer.predict(testImages(TEST_LIMIT)).labels, out.tensors.predictions, 'wasm vs PyTorch');
  const ev = trainer.evaluate({ limit: TEST_LIMIT });
  assert.equal(Math.round(ev.accuracy * ev.count), Number(out.tensors.test_correct[0]), 'test accuracy');
  compareAll(t, 'test set', [['test_loss', Float32Array.of(ev.loss), out.tensors.test_loss]]);
  compareNextStep(t, 'step 31', trainer, out, trainBatch(640, 64));
  trainer.dispose();
});

torchTest('PyTorch -> wasm: same test accuracy (CLI and API), same next step, and training resumes', async (t, dir) => {
  const pth = path.join(dir, 'torch.pth'), ckpt = path.join(dir, 'torch.safetensors');
  py([STEP, 'train', pth, '--steps', '40', '--seed', '3', '--train-limit', String(TRAIN_LIMIT)]);
  py([CONVERT, 'from-torch', pth, ckpt, '--seed', '3', '--train-limit', String(TRAIN_LIMIT)]);
  py([STEP, 'step', pth, path.join(dir, 'out.safetensors'), '--batch-start', '128', '--batch-size', '64',
    '--test-limit', String(TEST_LIMIT)]);
  const out = readFile(path.join(dir, 'out.safetensors'));
  const conv = readFile(ckpt);
  assert.equal(conv.metadata.step, '40');
  assert.equal(conv.metadata.epoch, '0');
  assert.equal(conv.metadata.epoch_step, '40', 'position derived from the step count: 100 steps per epoch');
  assert.equal(conv.tensors['history.step_loss'].length, 0, 'no history from PyTorch');

  // The CLI, as a user would run it.
  const ev = JSON.parse(cli(['evaluate', ckpt, '--json']).stdout.trim());
  assert.equal(Math.round(ev.accuracy * ev.count), Number(out.tensors.test_correct[0]), 'CLI test accuracy = PyTorch\'s');
  compareAll(t, 'CLI test set', [['test_loss', Float32Array.of(ev.loss), out.tensors.test_loss]]);

  // The JS API: same predictions, same next step.
  const a = await mnistTrainer({}, { trainLimit: TRAIN_LIMIT, testLimit: TEST_LIMIT });
  a.loadCheckpoint(readFileSync(ckpt));
  assert.equal(a.progress().step, 40);
  assert.equal(a.config.seed, 3);
  samePredictions(a.predict(testImages(TEST_LIMIT)).labels, out.tensors.predictions, 'imported');
  compareNextStep(t, 'step 41', a, out, trainBatch(128, 64));
  a.dispose();

  // Resumes: the API trains on with a falling loss, and the history holds 40 unknown steps.
  const b = await mnistTrainer({}, { trainLimit: TRAIN_LIMIT, testLimit: TEST_LIMIT });
  b.loadCheckpoint(readFileSync(ckpt));
  const losses = trainExactly(b, 20);
  assert.ok(losses.every(Number.isFinite));
  const p = b.progress();
  assert.deepEqual([p.step, p.epoch, p.epochStep], [60, 0, 60]);
  const h = b.history();
  assert.equal(h.stepLoss.length, 60);
  assert.ok(h.stepLoss.slice(0, 40).every(Number.isNaN) && h.stepLoss.slice(40).every(Number.isFinite));
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  // A fresh model starts near ln(10) = 2.30; this one continues from PyTorch's 40 steps.
  assert.ok(mean(losses) < 0.8 * Math.log(10), `resumed from a trained state, the loss should be below a fresh start's: ${mean(losses)}`);
  assert.ok(mean(losses.slice(10)) < mean(losses.slice(0, 10)), `the loss should keep falling: ${losses}`);
  b.dispose();

  // And the CLI resumes it too.
  const resumed = path.join(dir, 'resumed.safetensors');
  cli(['train', '--resume', ckpt, '--train-limit', String(TRAIN_LIMIT), '--test-limit', '200', '--max-steps', '3',
    '--threads', '1', '--save', resumed]);
  assert.equal(readFile(resumed).metadata.step, '43');
});

torchTest('wasm -> PyTorch -> wasm is exact, and the plain-loading snippet of README-torch works as written', async (t, dir) => {
  const trainer = await mnistTrainer({ seed: 2, batchSize: 32 }, { trainLimit: 640, testLimit: 500 });
  trainExactly(trainer, 25); // into the 2nd epoch (20 steps per epoch)
  trainer.evaluate({ recordEpoch: true });
  const src = path.join(dir, 'checkpoint.safetensors');
  writeFileSync(src, trainer.saveCheckpoint());
  py([CONVERT, 'to-torch', src, path.join(dir, 'c.pth')]);
  py([CONVERT, 'from-torch', path.join(dir, 'c.pth'), path.join(dir, 'back.safetensors')]);
  const a = readFile(src), b = readFile(path.join(dir, 'back.safetensors'));
  assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
  for (const k of Object.keys(a.tensors)) {
    assert.deepEqual(Buffer.from(b.tensors[k].buffer), Buffer.from(a.tensors[k].buffer), `${k} differs after the round trip`);
  }
  for (const k of Object.keys(a.metadata)) {
    if (!['created', 'producer', 'checksum'].includes(k)) assert.equal(b.metadata[k], a.metadata[k], `metadata ${k}`);
  }
  const again = await mnistTrainer({}, { trainLimit: 640, testLimit: 500 });
  again.loadCheckpoint(readFileSync(path.join(dir, 'back.safetensors')));
  assert.deepEqual(again.progress(), trainer.progress());
  again.dispose();

  // The snippet, verbatim from scripts/README-torch.md, then its model's predictions.
  const md = readFileSync(path.join(ROOT, 'scripts/README-torch.md'), 'utf8');
  const m = md.match(/<!-- plain-load[^>]*-->\s*```python\n([\s\S]*?)```/);
  assert.ok(m, 'README-torch.md has the plain-load snippet');
  const script = [
    'import sys', `sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'scripts'))})`,
    'from torch_ref.model import CNN, load_mnist',
    m[1],
    'x, _, _, _ = load_mnist("test", limit=500)',
    'print(",".join(str(int(v)) for v in model(x).argmax(1)))',
  ].join('\n');
  const r = py(['-c', script], { cwd: dir });
  samePredictions(trainer.predict(testImages(500)).labels, r.stdout.trim().split(','), 'README snippet');
  trainer.dispose();
});

torchTest('the converter refuses damaged or foreign input with a clear message', async (t, dir) => {
  const trainer = await mnistTrainer({}, { trainLimit: 640, testLimit: 100 });
  trainExactly(trainer, 2);
  const bytes = trainer.saveCheckpoint();
  trainer.dispose();
  bytes[bytes.length - 5] ^= 0x40; // one bit of the last tensor's data
  writeFileSync(path.join(dir, 'bad.safetensors'), bytes);
  let r = py([CONVERT, 'to-torch', path.join(dir, 'bad.safetensors'), path.join(dir, 'x.pth')], { expectFail: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /checksum mismatch/);
  // An AMSGrad optimizer state: wasm-trainer's Adam has no max_exp_avg_sq.
  const script = [
    'import sys, torch', `sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'scripts'))})`,
    'from torch_ref.model import CNN',
    'm = CNN(); o = torch.optim.Adam(m.parameters(), amsgrad=True)',
    'm(torch.zeros(1, 1, 28, 28)).sum().backward(); o.step()',
    `torch.save({"model": m.state_dict(), "optimizer": o.state_dict()}, ${JSON.stringify(path.join(dir, 'ams.pth'))})`,
  ].join('\n');
  py(['-c', script]);
  r = py([CONVERT, 'from-torch', path.join(dir, 'ams.pth'), path.join(dir, 'x.safetensors')], { expectFail: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /amsgrad=True/);
  assert.ok(!existsSync(path.join(dir, 'x.safetensors')), 'nothing written on error');
});

// ---- a BatchNorm + Dropout model (bn-cnn) both ways ----

const SCRIPTS = path.join(ROOT, 'scripts');
const BN_LIMITS = { trainLimit: 640, testLimit: 200 };

/** A trainer's whole state, bit for bit: tensors (counters included), progress, history. */
function assertSameRun(a, b, what) {
  const ta = a.tensors(), tb = b.tensors();
  assert.deepEqual(Object.keys(tb).sort(), Object.keys(ta).sort(), `${what}: tensor names`);
  for (const k of Object.keys(ta)) {
    if (ta[k] instanceof BigInt64Array) assert.deepEqual([...tb[k]], [...ta[k]], `${what}: ${k}`);
    else assertBitEqual(assert, tb[k], ta[k], `${what}: ${k}`);
  }
  assert.deepEqual(b.progress(), a.progress(), `${what}: progress`);
  const ha = a.history(), hb = b.history();
  assertBitEqual(assert, Float32Array.from(hb.stepLoss), Float32Array.from(ha.stepLoss), `${what}: step losses`);
}

torchTest('bn-cnn: wasm -> PyTorch keeps BatchNorm and Adam exactly, evaluates alike, and comes back to resume bit-identically', async (t, dir) => {
  const config = { model: 'bn-cnn', seed: 6, batchSize: 32 };
  const a = await mnistTrainer(config, BN_LIMITS);
  trainExactly(a, 5);
  const src = path.join(dir, 'bn.safetensors'), pth = path.join(dir, 'bn.pth'), back = path.join(dir, 'back.safetensors');
  writeFileSync(src, a.saveCheckpoint());
  py([CONVERT, 'to-torch', src, pth]);

  // In PyTorch: the spec's nn.Sequential takes the state as it is, with Adam's.
  const images = testImages(64);
  writeFileSync(path.join(dir, 'images.bin'), images);
  const script = [
    'import json, sys, numpy as np, torch', `sys.path.insert(0, ${JSON.stringify(SCRIPTS)})`,
    'from torch_ref import spec_model as sm, wtformat',
    `tensors, md = wtformat.read(${JSON.stringify(src)})`,
    `ck = torch.load(${JSON.stringify(pth)})`,
    'assert set(ck) == {"model", "optimizer", "spec", "wasm_trainer"}, sorted(ck)',
    'assert sm.canonical_json(ck["spec"]) == md["spec"], "the spec entry is the checkpoint\'s"',
    'model = sm.build_model(ck["spec"])',
    'model.load_state_dict(ck["model"])',
    'opt = torch.optim.Adam(model.parameters())',
    'opt.load_state_dict(ck["optimizer"])',
    'problems = []',
    'sd = model.state_dict()',
    'for n, v in sd.items():',
    '    a = tensors[n]',
    '    if n.endswith(".num_batches_tracked"):',
    '        if not (v.dtype == torch.int64 and v.dim() == 0 and int(v) == int(a.reshape(-1)[0]) == int(md["step"])): problems.append(f"{n}: {v!r}")',
    '    elif not (v.dtype == torch.float32 and v.numpy().tobytes() == a.tobytes()): problems.append(n)',
    'names = [n for n, _ in model.named_parameters()]',
    'assert len(names) == len(opt.param_groups[0]["params"]) == len(opt.state), (len(names), len(opt.state))',
    'for n, p in model.named_parameters():',
    '    st = opt.state[p]',
    '    if float(st["step"]) != float(md["step"]): problems.append(f"step of {n}")',
    '    for k in ("exp_avg", "exp_avg_sq"):',
    '        if st[k].numpy().tobytes() != tensors[f"optimizer.{n}.{k}"].tobytes(): problems.append(f"{k} of {n}")',
    'g = opt.param_groups[0]',
    'if (g["lr"], g["betas"], g["eps"], g["weight_decay"]) != (float(md["learning_rate"]), (float(md["beta1"]), float(md["beta2"])), float(md["eps"]), float(md["weight_decay"])): problems.append(f"hyperparameters {g}")',
    `x = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'images.bin'))}, np.uint8).astype(np.float32)).div(255).reshape(-1, 1, 28, 28)`,
    'model.eval()',
    'with torch.no_grad(): logits = model(x)',
    'print(json.dumps({"problems": problems, "buffers": [n for n in sd if "running" in n or "num_batches" in n], "logits": logits.reshape(-1).tolist()}))',
  ].join('\n');
  const r = JSON.parse(py(['-c', script]).stdout);
  assert.deepEqual(r.problems, [], `PyTorch's state differs from the checkpoint's: ${r.problems.join(', ')}`);
  assert.deepEqual(r.buffers, ['1.running_mean', '1.running_var', '1.num_batches_tracked', '5.running_mean', '5.running_var', '5.num_batches_tracked']);
  compareAll(t, 'eval mode', [['eval logits (running statistics, no dropout)', a.evalLogits(images), Float32Array.from(r.logits)]]);

  // Back: the same tensors and metadata, and a resumed run is the unbroken one.
  py([CONVERT, 'from-torch', pth, back]);
  const f = readFile(src), g = readFile(back);
  assert.deepEqual(Object.keys(g.tensors).sort(), Object.keys(f.tensors).sort());
  for (const k of Object.keys(f.tensors)) {
    assert.deepEqual(Buffer.from(g.tensors[k].buffer), Buffer.from(f.tensors[k].buffer), `${k} differs after the round trip`);
  }
  for (const k of new Set([...Object.keys(f.metadata), ...Object.keys(g.metadata)])) {
    if (!['created', 'producer', 'checksum'].includes(k)) assert.equal(g.metadata[k], f.metadata[k], `metadata ${k}`);
  }
  assert.equal(g.metadata.model, 'bn-cnn');
  const b = await mnistTrainer({ model: 'bn-cnn' }, BN_LIMITS);
  b.loadCheckpoint(readFileSync(back));
  assertSameRun(a, b, 'loaded');
  trainExactly(a, 7); // to step 12 of an epoch of 20
  trainExactly(b, 7);
  assertSameRun(a, b, 'resumed 7 steps');
  a.dispose(); b.dispose();
});

torchTest('bn-cnn: a PyTorch state_dict without a spec converts with --model (and is refused without it), and evaluates alike', async (t, dir) => {
  const pth = path.join(dir, 'torch_bn.pth'), out = path.join(dir, 'torch_bn.safetensors');
  const images = testImages(64);
  writeFileSync(path.join(dir, 'images.bin'), images);
  const script = [
    'import json, sys, numpy as np, torch', `sys.path.insert(0, ${JSON.stringify(SCRIPTS)})`,
    'from torch_ref import spec_model as sm',
    'from torch_ref.model import load_mnist',
    'torch.manual_seed(1)',
    'model = sm.build_model(sm.preset("bn-cnn"))',
    'opt = torch.optim.Adam(model.parameters(), lr=2e-3)',
    'x, y, _, _ = load_mnist("train", limit=96)',
    'for i in range(3):',
    '    loss = torch.nn.functional.cross_entropy(model(x[32 * i:32 * i + 32]), y[32 * i:32 * i + 32])',
    '    opt.zero_grad(); loss.backward(); opt.step()',
    `torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, ${JSON.stringify(pth)})`,
    `xt = torch.from_numpy(np.fromfile(${JSON.stringify(path.join(dir, 'images.bin'))}, np.uint8).astype(np.float32)).div(255).reshape(-1, 1, 28, 28)`,
    'model.eval()',
    'with torch.no_grad(): print(json.dumps(model(xt).reshape(-1).tolist()))',
  ].join('\n');
  const logits = Float32Array.from(JSON.parse(py(['-c', script]).stdout));
  const refused = py([CONVERT, 'from-torch', pth, out], { expectFail: true });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /does not fit the model spec \(seed, the default; pass --model/);
  assert.ok(!existsSync(out), 'nothing written on error');
  py([CONVERT, 'from-torch', pth, out, '--model', 'bn-cnn', '--train-limit', '640']);
  const conv = readFile(out);
  assert.equal(conv.metadata.format_version, '2');
  assert.equal(conv.metadata.model, 'bn-cnn');
  assert.equal(conv.metadata.step, '3');
  assert.deepEqual([...conv.tensors['1.num_batches_tracked']], [3n]);
  const b = await mnistTrainer({ model: 'bn-cnn' }, BN_LIMITS);
  b.loadCheckpoint(readFileSync(out));
  assert.equal(b.progress().step, 3);
  assert.equal(b.config.learningRate, 2e-3);
  compareAll(t, 'eval mode', [['eval logits', b.evalLogits(images), logits]]);
  const losses = trainExactly(b, 3);
  assert.ok(losses.every(Number.isFinite), `resumed losses ${losses}`);
  b.dispose();
});
