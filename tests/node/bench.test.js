// `npm run bench` keeps working: a tiny run (3 steps, 1 round, no browser) must
// produce every figure the issue asks for. Nothing here looks at the speed itself
// (speed lives in the benchmark, not in tests); only that each figure is there and sane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const torchRequired = process.env.WT_REQUIRE_TORCH === '1';

test('bench --json reports throughput, ratios, peak, per-layer split, size and memory', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench.js'), '--json', '--steps', '3', '--rounds', '1', '--no-browser'],
    { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `bench failed: ${r.stderr}`);
  const b = JSON.parse(r.stdout.trim().split('\n').pop());
  const positive = (x, what) => assert.ok(Number.isFinite(x) && x > 0, `${what}: ${x}`);
  for (const k of Object.keys(b.wasm).filter((k) => k.startsWith('threads_'))) positive(b.wasm[k], `wasm ${k}`);
  positive(b.wasm.threads_1, 'wasm threads_1');
  positive(b.native.threads_1, 'native threads_1');
  positive(b.wasm.peak_gflops, 'wasm peak');
  positive(b.native.peak_gflops, 'native peak');
  positive(b.ratios.wasm_vs_native_1t, 'wasm/native ratio');
  if (torchRequired) {
    positive(b.torch.threads_1, 'PyTorch threads_1');
    positive(b.ratios.wasm_vs_torch_1t, 'wasm/PyTorch ratio');
  }
  assert.equal(b.rounds.length, 1);
  // Every stage of the per-layer split, wasm and native, and they cover the step.
  for (const side of ['wasm', 'native']) {
    const l = b[side].layers;
    for (const stage of ['conv1 forward', 'conv2 forward', 'conv2 backward', 'conv1 backward', 'adam', 'softmax xent'])
      assert.ok(l[stage] >= 0, `${side} per-layer split lacks "${stage}": ${JSON.stringify(l)}`);
    assert.ok(l['conv2 backward'] > 0 && l['conv2 forward'] > 0, `${side}: conv2 took no time? ${JSON.stringify(l)}`);
  }
  assert.ok(b.wasm.file_bytes > 50_000 && b.wasm.file_gzip_bytes < b.wasm.file_bytes, 'wasm sizes');
  assert.ok(b.wasm.memory_bytes_1t > 0 && b.wasm.memory_bytes_1t <= 128 * 2 ** 20, `wasm memory ${b.wasm.memory_bytes_1t}`);
  positive(b.epoch_seconds_wasm, 'epoch seconds');
});
