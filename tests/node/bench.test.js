// `npm run bench` keeps working: a tiny run (3 steps, 1 round, no warm-up, no
// browser, every preset) must produce every figure issue 12 asks for, for every
// preset. Nothing here looks at the speed itself (speed lives in the benchmark, not
// in tests); only that each figure is there and sane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listPresets } from '../../src/js/wasm-trainer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const torchRequired = process.env.WT_REQUIRE_TORCH === '1';
const positive = (x, what) => assert.ok(Number.isFinite(x) && x > 0, `${what}: ${x}`);

test('bench --json --model all reports throughput, ratios, GFLOP/s, per-layer split, size and memory for every preset', async () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench.js'), '--json', '--model', 'all', '--steps', '3', '--rounds', '1', '--warmup', '0', '--no-browser'],
    { encoding: 'utf8', timeout: 480_000, maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `bench failed: ${r.stderr}`);
  const b = JSON.parse(r.stdout.trim().split('\n').pop());
  const presets = (await listPresets()).map((p) => p.name);
  assert.deepEqual(Object.keys(b.models), presets, 'one section per preset, in src/defaults.json order');
  const hasTorch = b.torch.peak_gflops != null;
  if (torchRequired) assert.ok(hasTorch, 'PyTorch is required (WT_REQUIRE_TORCH=1) but the bench found none');
  positive(b.wasm.peak_gflops, 'wasm peak');
  positive(b.native.peak_gflops, 'native peak');
  if (hasTorch) positive(b.torch.peak_gflops, 'PyTorch peak');
  assert.ok(b.wasm.file_bytes > 50_000 && b.wasm.file_gzip_bytes < b.wasm.file_bytes, 'wasm sizes');
  assert.ok(b.wasm.file_bytes_mt > 50_000 && b.wasm.file_gzip_bytes_mt < b.wasm.file_bytes_mt, 'pthreads wasm sizes');
  assert.match(b.flop_convention, /first layer with parameters/);
  const nt = b.threads[b.threads.length - 1];

  for (const [name, m] of Object.entries(b.models)) {
    const at = (what) => `${name}: ${what}`;
    assert.equal(m.rounds.length, 1, at('rounds'));
    positive(m.flop_per_image, at('training FLOPs per image'));
    assert.ok(m.flop_per_image >= 2 * m.forward_flop_per_image && m.flop_per_image <= 3 * m.forward_flop_per_image, at('FLOP convention'));
    for (const th of b.threads) {
      for (const side of hasTorch ? ['wasm', 'native', 'torch'] : ['wasm', 'native']) {
        positive(m[side][`threads_${th}`], at(`${side} images/s on ${th} thread(s)`));
        positive(m[side][`gflops_${th}t`], at(`${side} GFLOP/s on ${th} thread(s)`));
        positive(m[side][`peak_share_${th}t`], at(`${side} share of peak on ${th} thread(s)`));
      }
      positive(m.ratios[`wasm_vs_native_${th}t`], at(`wasm/native on ${th} thread(s)`));
      if (hasTorch) {
        positive(m.ratios[`wasm_vs_torch_${th}t`], at(`wasm/PyTorch on ${th} thread(s)`));
        const [lo, hi] = m.ratio_ranges[`wasm_vs_torch_${th}t`];
        assert.ok(lo <= m.ratios[`wasm_vs_torch_${th}t`] && m.ratios[`wasm_vs_torch_${th}t`] <= hi, at('ratio inside its range'));
      }
    }
    if (b.threads.length > 1) positive(m.ratios[`wasm_${nt}t_vs_1t`], at('wasm scaling'));
    if (hasTorch) assert.equal(typeof m.targets.wasm_vs_torch_1t.met, 'boolean', at('target verdict'));
    positive(m.epoch_seconds_wasm, at('epoch seconds'));

    // The per-layer split, wasm and native: every stage, and each op's forward and backward.
    for (const side of ['wasm', 'native']) {
      const l = m[side].layers;
      for (const stage of ['data (u8->f32)', 'softmax xent', 'adam']) assert.ok(l[stage] >= 0, at(`${side} per-layer split lacks "${stage}": ${JSON.stringify(l)}`));
      // Ops that compute (not a leading Flatten, whose backward is skipped) have both passes.
      const ops = m.layer_table.filter((t) => t.label.endsWith(' forward') && t.flop_per_image > 0).map((t) => t.label);
      assert.ok(ops.length > 0, at(`${side}: no op in the split`));
      for (const k of ops) assert.ok(l[k] >= 0 && l[k.replace(/ forward$/, ' backward')] >= 0, at(`${side}: ${k} or its backward missing: ${JSON.stringify(l)}`));
    }
    const withFlops = m.layer_table.filter((l) => l.flop_per_image > 0);
    assert.ok(withFlops.length >= 2, at('layer table with FLOPs'));
    const share = m.layer_table.reduce((a, l) => a + l.wasm_share, 0);
    assert.ok(Math.abs(share - 1) < 1e-6, at(`wasm shares sum to ${share}`));
    assert.ok(withFlops.some((l) => l.wasm_gflops > 0), at('per-layer GFLOP/s'));

    // Memory: a figure for the single-thread build, and a figure or the reason for the pthreads build.
    positive(m.wasm.memory_bytes_1t, at('wasm memory, single-thread build'));
    for (const th of b.threads.slice(1)) {
      assert.ok(m.wasm[`memory_bytes_${th}t`] > 0 || /\w/.test(m.wasm[`memory_error_${th}t`] ?? ''), at(`wasm memory, pthreads build: ${m.wasm[`memory_bytes_${th}t`]} ${m.wasm[`memory_error_${th}t`]}`));
    }
  }

  // Today's keys describe the first model (the seed), as before the per-model section.
  assert.equal(b.model, 'seed');
  assert.equal(b.wasm.threads_1, b.models.seed.wasm.threads_1);
  positive(b.ratios.wasm_vs_native_1t, 'wasm/native ratio');
  for (const side of ['wasm', 'native']) {
    const l = b[side].layers;
    for (const stage of ['conv1 forward', 'conv2 forward', 'conv2 backward', 'conv1 backward', 'adam', 'softmax xent'])
      assert.ok(l[stage] >= 0, `${side} per-layer split lacks "${stage}": ${JSON.stringify(l)}`);
    assert.ok(l['conv2 backward'] > 0 && l['conv2 forward'] > 0, `${side}: conv2 took no time? ${JSON.stringify(l)}`);
  }
  assert.ok(b.wasm.memory_bytes_1t > 0 && b.wasm.memory_bytes_1t <= 128 * 2 ** 20, `wasm memory ${b.wasm.memory_bytes_1t}`);
  positive(b.epoch_seconds_wasm, 'epoch seconds');
  assert.ok(b.models['bn-cnn'].batchnorm_dropout_share > 0, 'bn-cnn: share of BatchNorm and Dropout');
  assert.equal(b.models['cifar-convnet'].epoch_images, 50000);
});
