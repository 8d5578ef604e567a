// Full-size CIFAR-10 on the page (cross-origin isolated: the pthreads build, whose
// memory is fixed at 320 MiB): 50,000 + 10,000 generated records in CIFAR-10's exact
// binary format, chosen in the data picker; cifar-convnet trains briefly, stops,
// starts again, resumes from its checkpoint in IndexedDB, checks new data while a
// session is live (refused, then accepted), and never says it is out of memory. Each
// new trainer shares the one copy of the data the session holds (Trainer.shareData),
// and new data is checked without a copy (checkData): two copies (352 MiB) would
// not fit.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../../web/server.js';

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];
const RECORD = 3073;

/** A CIFAR-10 batch file of n records: noise (a 64 KiB block repeated), labels 0..9. */
function cifarFile(n, seed) {
  const b = new Uint8Array(n * RECORD);
  let x = seed >>> 0;
  for (let i = 0; i < 65536; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  for (let k = 65536; k < b.length; k *= 2) b.copyWithin(k, 0, Math.min(k, b.length - k));
  for (let r = 0; r < n; r++) b[r * RECORD] %= 10;
  return b;
}

let srv, browser, page, dir, files;
const pageErrors = [];
const messages = [];

async function summary() {
  return page.evaluate(() => JSON.stringify({
    state: window.wasmTrainer?.state, step: window.wasmTrainer?.step, data: window.wasmTrainer?.data,
    status: document.querySelector('[data-testid=status]')?.textContent,
    error: document.querySelector('[data-testid=error]')?.hidden ? null : document.querySelector('[data-testid=error]')?.textContent.trim(),
  })).catch((e) => `(page unavailable: ${e.message})`);
}

async function waitFor(what, fn, arg, timeout = 60_000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}; the page shows ${await summary()}`);
  }
}

const errorText = () => page.evaluate(() => {
  const e = document.querySelector('[data-testid=error]');
  return e && !e.hidden ? e.textContent.trim() : null;
});

/** Nothing on the page says it ran out of memory (nor anything else went wrong). */
async function assertNoError(when) {
  const e = await errorText();
  assert.equal(e, null, `${when}: the page shows an error: ${e}`);
  assert.ok(!messages.some((m) => /memory|abort/i.test(m)), `${when}: console says ${messages.join(' | ')}`);
}

/** Trains until `steps` more steps are seen, then stops and waits for the stop. */
async function trainBriefly(steps) {
  const from = await page.evaluate(() => window.wasmTrainer.step);
  await waitFor(`${steps} steps`, (n) => window.wasmTrainer.state === 'running' && window.wasmTrainer.step >= n, from + steps);
  await page.getByTestId('train-stop').click();
  await waitFor('the stop', () => window.wasmTrainer.state === 'stopped');
}

describe('full-size CIFAR-10 in the pthreads build', () => {
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'wt-cifar-'));
    const names = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
    files = names.map((name, k) => {
      const p = path.join(dir, name);
      writeFileSync(p, cifarFile(10000, k + 1));
      return p;
    });
    const meta = path.join(dir, 'batches.meta.txt');
    writeFileSync(meta, 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
    files.push(meta);
    srv = await startServer({ port: 0 });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') messages.push(m.text()); });
    await page.goto(srv.url);
    await waitFor('the page to be ready', () => window.wasmTrainer?.data && document.querySelector('[data-testid=model-select]').options.length > 0);
  });

  after(async () => {
    await browser?.close();
    await srv?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('CIFAR-10 chosen in the picker trains cifar-convnet, stops, starts again and resumes from a checkpoint, never out of memory', async () => {
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'the page must be isolated (pthreads build)');
    await page.getByTestId('data-files').setInputFiles(files);
    await waitFor('the CIFAR-10 data', () => window.wasmTrainer.data?.trainCount === 50000 && window.wasmTrainer.state === 'ready', null, 120_000);
    assert.deepEqual(await page.evaluate(() => window.wasmTrainer.data), { name: 'CIFAR-10', trainCount: 50000, testCount: 10000, fromCache: false });
    await page.getByTestId('model-select').selectOption('cifar-convnet');
    await waitFor('the model to be checked', () => window.wasmTrainer.startBlocked === null);

    await page.getByTestId('train-start').click();
    await trainBriefly(8);
    await assertNoError('after the first run');
    await waitFor('the stop checkpoint', () => window.wasmTrainer.checkpoints[0]?.model === 'cifar-convnet' && window.wasmTrainer.checkpoints[0]?.step >= 8);
    const saved = await page.evaluate(() => window.wasmTrainer.checkpoints[0]);

    // Start again: a new trainer on the session's data.
    await page.getByTestId('train-start').click();
    await waitFor('the new run', () => window.wasmTrainer.state === 'running' && window.wasmTrainer.historyStep === 0 && window.wasmTrainer.step < 8);
    await trainBriefly(4);
    await assertNoError('after Start again');

    // Resume from the first run's checkpoint: again no second copy.
    await page.locator(`[data-testid=checkpoint-item]`).filter({ has: page.locator(`[data-testid=checkpoint-resume]`) })
      .nth(await page.evaluate((id) => window.wasmTrainer.checkpoints.findIndex((c) => c.id === id), saved.id))
      .getByTestId('checkpoint-resume').click();
    await waitFor('the resumed run', (step) => window.wasmTrainer.historyStep === step && window.wasmTrainer.step >= step, saved.step);
    await waitFor('it to train on', (step) => window.wasmTrainer.step > step, saved.step);
    await page.getByTestId('train-pause').click();
    await waitFor('the pause', () => window.wasmTrainer.state === 'paused');
    await assertNoError('after the resume');
    await page.getByTestId('train-stop').click();
    await waitFor('the stop', () => window.wasmTrainer.state === 'stopped');

    // New data while the session is live: checked without a copy. A label out of
    // range is refused in words and the session stays...
    const bad = cifarFile(10000, 9);
    bad[5 * RECORD] = 10;
    const badPath = path.join(dir, 'bad', 'data_batch_1.bin');
    rmSync(path.dirname(badPath), { recursive: true, force: true });
    mkdirSync(path.dirname(badPath));
    writeFileSync(badPath, bad);
    const stepBefore = await page.evaluate(() => window.wasmTrainer.step);
    await page.getByTestId('data-files').setInputFiles([badPath, ...files.slice(1)]);
    await waitFor('the refusal', () => /record 5 has label 10, outside CIFAR-10's 0\.\.9/.test(document.querySelector('[data-testid=error]')?.textContent ?? ''));
    assert.equal(await page.evaluate(() => window.wasmTrainer.step), stepBefore, 'the session stays');
    assert.equal(await page.evaluate(() => window.wasmTrainer.data.trainCount), 50000);
    await page.locator('#error-close').click();
    // ... and good data passes the check next to the session's (no out-of-memory),
    // replaces it, and trains.
    await page.getByTestId('data-files').setInputFiles(files);
    await waitFor('the new data', () => window.wasmTrainer.state === 'ready' && window.wasmTrainer.data?.trainCount === 50000 && window.wasmTrainer.step === 0, null, 120_000);
    await assertNoError('after new data');
    await page.getByTestId('train-start').click();
    await trainBriefly(3);
    await assertNoError('after training on the new data');
    assert.deepEqual(pageErrors, []);
  });
});
