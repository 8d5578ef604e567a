// Every preset on the wasm build against PyTorch's own numbers, through the JS API:
// build/native/fixtures/<preset>.safetensors (WT_FIXTURE_DIR overrides), written by
// scripts/torch_ref/make_preset_fixtures.py (scripts/test.sh runs it before the suites;
// its docstring describes the contents). The native twin is tests/cpp/test_fixture_presets.cpp.
//
// Steps 1, 2 and 10 of PyTorch's 10-step run on one batch of 32, each taken from
// PyTorch's state before it (parameters, Adam's moments and step count, BatchNorm's
// running statistics and counters; Dropout's masks from the trainer's seed = the
// fixture's dropout_seed): the step's logits, loss and gradients (step 1), its loss,
// the state after it, and after step 10 the eval-mode logits. Every tensor's largest
// absolute and relative difference is printed as a diagnostic; any element beyond its
// tolerance fails and is named. The same run with 2 threads (the pthreads build) must
// give the same bits.
//
// Relative difference, per element: |a - b| / (|b| + max|b|), b = PyTorch (as
// fixture.test.js). Tolerance 1e-5, except for the elements the fixture lists under
// loose.<tensor>.index / .tol (float32 rounding noise measured above 1e-6 by rerunning
// PyTorch with other summation orders, convolutions and formulas): 10x their noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createTrainer } from '../../src/js/wasm-trainer.js';
import { ROOT, assertBitEqual, readSafetensors } from './helpers.js';

const DIR = process.env.WT_FIXTURE_DIR ?? path.join(ROOT, 'build/native/fixtures');
const GENERATE = '/usr/bin/python3 scripts/torch_ref/make_preset_fixtures.py build/native/fixtures';
const TOL = 1e-5;
const DEFAULTS = JSON.parse(readFileSync(path.join(ROOT, 'src/defaults.json'), 'utf8'));
const PRESETS = Object.keys(DEFAULTS.presets);


const cache = new Map();
function fixture(preset) {
  if (!cache.has(preset)) {
    const file = path.join(DIR, `${preset}.safetensors`);
    assert.ok(existsSync(file), `${file} is missing: generate the preset fixtures with \`${GENERATE}\` `
      + '(needs python3-torch; scripts/test.sh does it before the suites)');
    cache.set(preset, readSafetensors(new Uint8Array(readFileSync(file))));
  }
  const fx = cache.get(preset);
  const T = (name) => {
    const e = fx.tensors[name];
    assert.ok(e, `${preset}.safetensors has no tensor "${name}"`);
    return e.data;
  };
  return { ...fx, T, has: (name) => name in fx.tensors };
}

/** Compares one tensor with the fixture's: [line for the diagnostics, failure or null]. */
function compare(fx, name, actual) {
  const b = fx.T(name);
  assert.equal(actual.length, b.length, `${name}: length`);
  const tol = new Float64Array(b.length).fill(TOL);
  let loose = 0;
  if (fx.has(`loose.${name}.index`)) {
    const idx = fx.T(`loose.${name}.index`), t = fx.T(`loose.${name}.tol`);
    idx.forEach((i, k) => { tol[Number(i)] = Math.max(TOL, t[k]); });
    loose = idx.length;
  }
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let maxAbs = 0, maxRel = 0, looseRatio = 0, worst = 0, worstRatio = 0, over = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(actual[i] - b[i]);
    const r = Number.isNaN(d) ? Infinity : d / (Math.abs(b[i]) + scale || 1e-300);
    if (!(d <= maxAbs)) maxAbs = d;
    if (tol[i] === TOL) { if (!(r <= maxRel)) maxRel = r; } else if (!(r / tol[i] <= looseRatio)) looseRatio = r / tol[i];
    if (!(r <= tol[i])) over++;
    if (!(r / tol[i] <= worstRatio)) { worstRatio = r / tol[i]; worst = i; }
  }
  const line = `${name.padEnd(48)} max abs ${maxAbs.toExponential(2).padStart(9)}  max rel ${maxRel.toExponential(2).padStart(9)}`
    + (loose ? `  (${loose} loose: worst ${looseRatio.toFixed(2)} of their tolerance)` : '');
  if (!over) return [line, null];
  const zero = list(fx.metadata.exact_zero_grads).find((z) => new RegExp(`\\.${z.replace(/\./g, '\\.')}(\\.|$)`).test(name));
  return [line, `${name}: ${over} of ${b.length} elements beyond their tolerance; [${worst}] is ${actual[worst]}, `
    + `PyTorch ${b[worst]} (rel ${(worstRatio * tol[worst]).toExponential(2)}, tolerance ${tol[worst].toExponential(1)})`
    + (zero ? ` (${zero} feeds BatchNorm: its gradient is exactly 0 in train mode; the fixture uses that 0, the trainer must too)` : '')
    + (!zero && fx.metadata.exact_zero_grads && name.endsWith('eval_logits')
      ? ` (eval mode uses the biases ${fx.metadata.exact_zero_grads} against BatchNorm's running mean: if they differ above, this differs too)` : '')];
}

const list = (s) => (s || '').split(',').filter(Boolean);

/** The whole check of one preset; returns the failures and everything computed. */
async function runPreset(t, preset, threads) {
  const fx = fixture(preset);
  const md = fx.metadata;
  const x = fx.T('input'), y = fx.T('labels');
  const failures = [], record = [];
  const check = (name, actual) => {
    const [line, failure] = compare(fx, name, actual);
    t.diagnostic(`${preset} (${threads} thread${threads > 1 ? 's' : ''}): ${line}`);
    if (failure) failures.push(failure);
    record.push(Float32Array.from(actual));
  };
  const config = {
    model: preset, seed: Number(md.dropout_seed), learningRate: Number(md.learning_rate),
    batchSize: Number(md.batch_size), weightDecay: Number(md.weight_decay), threads,
  };
  for (const ks of list(md.checked_steps)) {
    const k = Number(ks);
    const tr = await createTrainer(config);
    try {
      // Adam's step count k - 1: the JS API sets tensors, not the count, so take k - 1
      // steps first (on any gradients) and then overwrite the whole state.
      if (k > 1) tr.forwardBackward(x, y);
      for (let i = 1; i < k; i++) tr.adamStep();
      assert.equal(tr.progress().step, k - 1);
      const prefix = k === 1 ? 'init.' : `after${k - 1}.`;
      const names = Object.keys(tr.tensors());
      for (const p of list(md.params)) {
        tr.setTensor(p, fx.T(prefix + p));
        for (const m of ['exp_avg', 'exp_avg_sq']) {
          tr.setTensor(`optimizer.${p}.${m}`, k === 1 ? new Float32Array(fx.T(prefix + p).length) : fx.T(`${prefix}optimizer.${p}.${m}`));
        }
      }
      for (const b of list(md.buffers)) tr.setTensor(b, fx.T(prefix + b));
      for (const c of list(md.counters)) tr.setCounter(c, Number(fx.T(prefix + c)[0]));
      const expected = [...list(md.params).flatMap((p) => [p, `optimizer.${p}.exp_avg`, `optimizer.${p}.exp_avg_sq`]),
        ...list(md.buffers), ...list(md.counters)];
      assert.deepEqual([...names].sort(), [...expected].sort(), 'the trainer\'s tensors are the fixture\'s state');

      const r = tr.forwardBackward(x, y);
      check(`step${k - 1}.loss`, Float32Array.of(r.loss));
      record.push(Float32Array.from(r.logits));
      if (k === 1) {
        check('step0.logits', r.logits);
        for (const p of list(md.params)) check(`step0.grad.${p}`, r.grads[p]);
      }
      tr.adamStep();
      assert.equal(tr.progress().step, k);
      const got = tr.tensors();
      const a = `after${k}.`;
      for (const p of list(md.params)) {
        check(a + p, got[p]);
        for (const m of ['exp_avg', 'exp_avg_sq']) check(`${a}optimizer.${p}.${m}`, got[`optimizer.${p}.${m}`]);
      }
      for (const b of list(md.buffers)) check(a + b, got[b]);
      for (const c of list(md.counters)) {
        const want = fx.T(a + c)[0];
        t.diagnostic(`${preset} (${threads}): ${(a + c).padEnd(48)} ${got[c][0]} (PyTorch ${want})`);
        if (got[c][0] !== want) failures.push(`${a + c}: ${got[c][0]}, PyTorch ${want}`);
      }
      if (fx.has(`${a}eval_logits`)) check(`${a}eval_logits`, tr.evalLogits(x));
    } finally {
      tr.dispose();
    }
  }
  return { failures, record };
}

for (const preset of PRESETS) {
  test(`${preset}: steps 1, 2 and 10 match PyTorch (logits, loss, gradients, state, BatchNorm, eval), 1 and 2 threads alike`, async (t) => {
    const fx = fixture(preset);
    const md = fx.metadata;
    assert.equal(md.format, 'wasm-trainer-preset-fixture');
    assert.equal(md.format_version, '1', 'this test reads version 1 preset fixtures');
    assert.equal(md.preset, preset);
    for (const k of ['beta1', 'beta2', 'eps']) {
      assert.equal(Number(md[k]), DEFAULTS.hyperparameters[k], `the fixture's ${k} is the default (the JS API has no option for it)`);
    }
    const one = await runPreset(t, preset, 1);
    assert.deepEqual(one.failures, [], `beyond tolerance: ${one.failures.join('; ')}`);
    const two = await runPreset(t, preset, 2);
    assert.equal(two.record.length, one.record.length);
    one.record.forEach((v, i) => assertBitEqual(assert, two.record[i], v, `${preset}: 2 threads vs 1, value set ${i}`));
  });
}

test('the fixtures\' canonical specs are the trainer\'s', async () => {
  for (const preset of PRESETS) {
    const tr = await createTrainer({ model: preset });
    assert.equal(fixture(preset).metadata.spec, tr.model.canonical, preset);
    tr.dispose();
  }
});
