// The page's model and data pickers, class names, colour images, and its
// accessibility (axe-core on the main states, a keyboard-only path), in
// Debian's Chromium. A browser context of its own (fresh IndexedDB and
// localStorage); the tests run in order and build on each other, like a person
// using the page: lenet5, then a custom spec, then resuming each, then other data.
//
// ?trainLimit=640&testLimit=200: 10 steps per epoch at batch 64.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createTar } from 'nanotar';
import { chromium } from 'playwright-core';
import { startServer } from '../../web/server.js';
import { assertAccessibleInBothThemes } from './axe.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'tests/browser/screenshots');
const QUERY = '?trainLimit=640&testLimit=200';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
// Class names of the generated CIFAR-10 set (its batches.meta.txt): the colours it draws.
const COLOURS = ['red', 'green', 'yellow', 'blue', 'orange', 'purple', 'cyan', 'magenta', 'lime', 'pink'];

// Fail loudly (not skip) when the data the page offers was not prepared.
for (const f of ['build/data/datasets.json', 'build/data/fashion-mnist/train-images-idx3-ubyte.gz']) {
  if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run "npm run build" (scripts/prepare-data.js; Fashion-MNIST needs Debian's dataset-fashion-mnist)`);
}

// A spec with an error in layer 0's arguments, and a valid one (conv 1->4: 40
// parameters; linear 4*14*14 -> 10: 7,850; 7,890 in all).
const BAD_SPEC = JSON.stringify({ input: [1, 28, 28], layers: [
  { type: 'Conv2d', out_channels: 4 }, { type: 'ReLU' }, { type: 'Flatten' }, { type: 'Linear', out_features: 10 }] }, null, 2);
const GOOD_SPEC = JSON.stringify({ input: [1, 28, 28], layers: [
  { type: 'Conv2d', out_channels: 4, kernel_size: 3, padding: 1, name: 'features' }, { type: 'ReLU' },
  { type: 'MaxPool2d', kernel_size: 2 }, { type: 'Flatten' }, { type: 'Linear', out_features: 10, name: 'head' }] }, null, 2);

let srv, browser, context, page;
const pageErrors = [];

async function summary() {
  return page.evaluate(() => JSON.stringify({
    state: window.wasmTrainer?.state, step: window.wasmTrainer?.step,
    status: document.querySelector('[data-testid=status]')?.textContent,
    model: document.querySelector('[data-testid=run-model]')?.textContent,
    startBlocked: window.wasmTrainer?.startBlocked,
    error: document.querySelector('[data-testid=error]')?.hidden ? null : document.querySelector('[data-testid=error]')?.textContent.trim(),
  })).catch((e) => `(page unavailable: ${e.message})`);
}

/** Waits for a condition in the page (never a fixed sleep); fails with what the page shows. */
async function waitFor(what, fn, arg, timeout = 30_000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}; the page shows ${await summary()}`);
  }
}

/** The state, with the status line rendered for it (see web.test.js). */
const waitForState = (state, timeout) => waitFor(`state "${state}" (rendered)`, (s) => {
  const w = window.wasmTrainer;
  const status = document.querySelector('[data-testid=status]');
  if (w?.state !== s || status?.dataset.state !== s) return false;
  const m = status.textContent.match(/\bstep (\d+)\//);
  return !m || Number(m[1]) === w.step;
}, state, timeout);

/** Waits until the element's text matches. */
const waitForText = (testid, re) => waitFor(`${testid} to match ${re}`, ([id, source, flags]) =>
  new RegExp(source, flags).test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? ''), [testid, re.source, re.flags]);

const text = (testid) => page.getByTestId(testid).textContent();

async function setField(testid, value) {
  await page.getByTestId(testid).fill(String(value));
  await page.getByTestId(testid).dispatchEvent('change');
}

async function shot(name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** The picker's model is checked (Start is not blocked by it). */
const waitForModelChecked = () => waitFor('the chosen model to be checked', () => window.wasmTrainer.startBlocked === null);

/** Results drawn for the current step: the grid's first cell and the matrix. */
async function waitForResults() {
  await waitFor('results for the current step', () => {
    const w = window.wasmTrainer;
    return w.results?.step === w.step
      && !document.querySelector('[data-testid=result-cell]').classList.contains('placeholder')
      && /test images · step/.test(document.getElementById('cm-acc').textContent);
  });
}

// IDX files (big-endian header: magic, dimensions), as the data sets ship them.
function idx(dims, body) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE((0x08 << 8) | dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(body)]);
}

/** n colour images [3, 32, 32] (CHW): class k is a saturated colour with noise. */
function colourSet(n, seed) {
  const palette = [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]];
  const plane = 32 * 32;
  const images = new Uint8Array(n * 3 * plane), labels = new Uint8Array(n);
  let s = seed;
  const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return (s >>> 16) / 65536; };
  for (let i = 0; i < n; i++) {
    const k = (i * 7 + seed) % 10;
    labels[i] = k;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) images[(i * 3 + c) * plane + p] = Math.max(0, Math.min(255, palette[k][c] + (rnd() - 0.5) * 60));
    }
  }
  return { images: idx([n, 3, 32, 32], images), labels: idx([n], labels) };
}

/** The same kind of set as CIFAR-10's binary batch: records of a label byte and
 *  the R, G and B planes. */
function cifarBatch(n, seed) {
  const { images, labels } = colourSet(n, seed);
  const pixels = images.subarray(4 + 4 * 4), plane = 3 * 32 * 32;
  const out = Buffer.alloc(n * (1 + plane));
  for (let i = 0; i < n; i++) {
    out[i * (1 + plane)] = labels[8 + i];
    pixels.copy(out, i * (1 + plane) + 1, i * plane, (i + 1) * plane);
  }
  return out;
}

/** Drops files on the page as a person would (dragenter, dragover, drop). */
async function dropFiles(files) {
  await page.evaluate(async (list) => {
    const dt = new DataTransfer();
    for (const { name, b64 } of list) dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
    for (const type of ['dragenter', 'dragover', 'drop']) {
      document.getElementById('dropzone').dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, files.map(({ name, buffer }) => ({ name, b64: Buffer.from(buffer).toString('base64') })));
}

describe('models, data and accessibility', () => {
  before(async () => {
    srv = await startServer({ port: 0 });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, colorScheme: 'light' });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(srv.url + QUERY);
    await page.waitForFunction(() => window.wasmTrainer?.data && document.querySelector('[data-testid=model-select]').options.length > 0,
      null, { timeout: 30_000 });
  });

  after(async () => {
    await browser?.close();
    await srv?.close();
  });

  test('the picker offers the presets and Custom; the layer table shows the chosen model; the ready page passes axe', async () => {
    const options = await page.getByTestId('model-select').locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, ['seed', 'mlp', 'lenet5', 'bn-cnn', 'cifar-convnet', 'custom']);
    assert.equal(await page.getByTestId('model-select').inputValue(), 'seed');
    await waitForModelChecked();
    const table = page.getByTestId('layer-table');
    // The seed's 8 layers after the input row, then the totals.
    assert.equal(await table.locator('tbody tr').count(), 9);
    assert.match(await table.locator('tbody tr').nth(1).textContent(), /^0Conv2d conv18×28×2880/);
    assert.match(await table.locator('tfoot').textContent(), /Total · 10 classes\s*9,098\s*599K/);
    assert.equal(await text('run-model'), 'seed · MNIST');
    assert.equal(await page.getByTestId('train-start').isEnabled(), true);
    const datasets = await page.getByTestId('dataset-select').locator('option').evaluateAll((os) => os.map((o) => [o.value, o.disabled]));
    assert.deepEqual(datasets[0], ['mnist', false]);
    assert.deepEqual(datasets.at(-1), ['files', false]);

    await assertAccessibleInBothThemes(page, 'ready');
  });

  test('choosing lenet5 trains it: the status and a checkpoint row name it; training and results pass axe', async () => {
    await page.getByTestId('model-select').selectOption('lenet5');
    await waitForModelChecked();
    await waitForText('layer-table', /Total · 10 classes\s*61,706/);
    assert.equal(await page.getByTestId('layer-table').locator('tbody tr').count(), 13);
    await setField('epochs', 1000);
    await page.getByTestId('train-start').click();
    await waitFor('lenet5 to be training', () => window.wasmTrainer.state === 'running' && window.wasmTrainer.step >= 3);
    assert.equal(await text('run-model'), 'lenet5 · MNIST');
    assert.deepEqual(await page.evaluate(() => window.wasmTrainer.model.name), 'lenet5');
    assert.equal(await page.getByTestId('model-select').isDisabled(), true, 'the picker is locked while a run is on');
    await assertAccessibleInBothThemes(page, 'training');
    await shot('10-lenet5-training');

    await page.getByTestId('train-stop').click();
    await waitForState('stopped');
    const step = await page.evaluate(() => window.wasmTrainer.step);
    await waitFor('the final checkpoint', (s) => window.wasmTrainer.checkpoints[0]?.step === s, step);
    const first = page.getByTestId('checkpoint-item').first();
    assert.equal(await first.getAttribute('data-model'), 'lenet5');
    assert.equal(await first.getByTestId('checkpoint-model').textContent(), 'lenet5 on MNIST');
    await waitForResults();
    // MNIST's class names are its digits.
    assert.match(await page.getByTestId('result-cell').first().locator('b').textContent(), /^\d$/);
    await assertAccessibleInBothThemes(page, 'results');
  });

  test('a custom spec is checked as it is typed: its error names the layer and field and disables Start; a valid one enables it', async () => {
    await page.getByTestId('model-select').selectOption('custom');
    const spec = page.getByTestId('model-spec');
    await spec.waitFor({ state: 'visible' });
    // The editor starts from the model chosen before (lenet5), as readable JSON.
    assert.match(await spec.inputValue(), /\{"type": "Conv2d", .*"out_channels": 6, /);

    await spec.fill(BAD_SPEC);
    await waitForText('model-error', /layer 0 \(Conv2d\).*"kernel_size" is missing/);
    assert.equal(await page.getByTestId('train-start').isDisabled(), true);
    assert.equal(await spec.getAttribute('aria-invalid'), 'true');
    await assertAccessibleInBothThemes(page, 'a spec error shown');

    // Typed into, key by key: a syntax error says where.
    await spec.fill('');
    await spec.pressSequentially('{"input": [1, 28, 28], ');
    await waitForText('model-error', /not valid JSON at line 1, column/);
    assert.equal(await page.getByTestId('train-start').isDisabled(), true);

    await spec.fill(GOOD_SPEC);
    await waitForModelChecked();
    assert.equal(await page.getByTestId('model-error').isVisible(), false);
    assert.equal(await page.getByTestId('train-start').isEnabled(), true);
    await waitForText('layer-table', /Total · 10 classes\s*7,890/);
    const rows = await page.getByTestId('layer-table').locator('tbody tr').allTextContents();
    assert.equal(rows.length, 6);
    assert.match(rows[1], /Conv2d features4×28×2840/);
    assert.match(rows[5], /Linear head107,850/);
    await shot('11-custom-spec');

    await setField('epochs', 1);
    await page.getByTestId('train-start').click();
    // The lenet5 run was stopped already: wait for this run's end.
    await waitFor('the custom run to finish', () => window.wasmTrainer.model?.name === 'custom' && window.wasmTrainer.epoch === 1);
    await waitForState('stopped');
    assert.equal(await text('run-model'), 'custom · MNIST');
    await waitFor('a checkpoint of the custom model', () => window.wasmTrainer.checkpoints[0]?.model === 'custom');
    assert.equal(await page.getByTestId('checkpoint-item').first().getByTestId('checkpoint-model').textContent(), 'custom on MNIST');
  });

  test('resuming a checkpoint switches the page to its model', async () => {
    await page.locator('[data-testid=checkpoint-item][data-model=lenet5]').first().getByTestId('checkpoint-resume').click();
    await waitFor('the lenet5 run to resume', () => window.wasmTrainer.state === 'running' && window.wasmTrainer.model?.name === 'lenet5');
    await waitFor('the picker to show lenet5', () => document.querySelector('[data-testid=model-select]').value === 'lenet5');
    assert.equal(await page.getByTestId('model-spec').isVisible(), false);
    await waitForText('layer-table', /61,706/);
    assert.equal(await text('run-model'), 'lenet5 · MNIST');
    await page.getByTestId('train-pause').click();
    await waitForState('paused');

    // The custom run finished its one epoch: resumed, it shows as done, with its spec.
    await page.locator('[data-testid=checkpoint-item][data-model=custom]').first().getByTestId('checkpoint-resume').click();
    await waitFor('the custom run to be adopted', () => window.wasmTrainer.model?.name === 'custom' && window.wasmTrainer.state === 'stopped');
    await waitFor('the picker to show the custom spec', () => document.querySelector('[data-testid=model-select]').value === 'custom');
    assert.match(await page.getByTestId('model-spec').inputValue(), /"type": "Conv2d", "name": "features", .*"out_channels": 4/);
    await waitForModelChecked();
    await waitForText('layer-table', /7,890/);

    // A refused file: the error banner passes axe too.
    await page.getByTestId('checkpoint-upload').setInputFiles({ name: 'notes.safetensors', mimeType: 'text/plain', buffer: Buffer.from('not a checkpoint') });
    await page.getByTestId('error').waitFor({ state: 'visible' });
    await assertAccessibleInBothThemes(page, 'an error banner shown');
    await page.locator('#error-close').click();
  });

  test('a model that does not fit the data says so and lists the presets that fit', async () => {
    await page.getByTestId('model-select').selectOption('cifar-convnet');
    await waitForText('model-fit', /^cifar-convnet takes 3×32×32 images, but MNIST has 1×28×28 images\. Presets that fit MNIST: seed, mlp, lenet5, bn-cnn\.$/);
    assert.equal(await page.getByTestId('train-start').isDisabled(), true);
  });

  test('colour images of one\'s own train cifar-convnet and show in colour; no drawing pad', async () => {
    const train = colourSet(128, 1), test = colourSet(40, 2);
    await page.getByTestId('data-files').setInputFiles([
      { name: 'colour-train-images.idx', mimeType: 'application/octet-stream', buffer: train.images },
      { name: 'colour-train-labels.idx', mimeType: 'application/octet-stream', buffer: train.labels },
      { name: 'colour-test-images.idx', mimeType: 'application/octet-stream', buffer: test.images },
      { name: 'colour-test-labels.idx', mimeType: 'application/octet-stream', buffer: test.labels },
    ]);
    await waitFor('the colour data', () => window.wasmTrainer.data?.trainCount === 128 && window.wasmTrainer.state === 'ready');
    assert.equal(await page.getByTestId('dataset-select').inputValue(), 'files');
    await waitForModelChecked();
    assert.equal(await page.getByTestId('model-fit').isVisible(), false);
    await setField('epochs', 2);
    await page.getByTestId('train-start').click();
    await waitForState('stopped');
    assert.equal(await text('run-model'), `cifar-convnet · ${(await page.evaluate(() => window.wasmTrainer.data.name))}`);
    await waitForResults();
    const colourful = await page.getByTestId('result-cell').first().locator('canvas').evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.max(Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2])) > 40) n++;
      return [c.width, c.height, n];
    });
    assert.equal(colourful[0], 32);
    assert.ok(colourful[2] > 500, `a colour image should have coloured pixels: ${colourful}`);
    assert.equal(await page.getByTestId('draw-canvas').isVisible(), false, 'the drawing pad is only for 1×28×28 models');
    assert.equal(await page.locator('[data-testid=confusion] td').count(), 100);
    await shot('12-colour');
  });

  test('data with a label out of range for the model is refused with the core\'s message; the data, the session and its results stay', async () => {
    const shown = () => page.evaluate(() => {
      const w = window.wasmTrainer;
      return { data: w.data, state: w.state, step: w.step, results: w.results, model: document.querySelector('[data-testid=run-model]').textContent };
    });
    const before = await shown();
    assert.equal(before.state, 'stopped');
    assert.equal(before.results?.step, before.step, 'precondition: the last run\'s results are shown');
    // cifar-convnet has 10 classes (0..9); one test label says 12.
    const train = colourSet(64, 3), test = colourSet(32, 4);
    test.labels[8 + 5] = 12; // after the IDX header (magic, count)
    await page.getByTestId('data-files').setInputFiles([
      { name: 'odd-train-images.idx', mimeType: 'application/octet-stream', buffer: train.images },
      { name: 'odd-train-labels.idx', mimeType: 'application/octet-stream', buffer: train.labels },
      { name: 'odd-test-images.idx', mimeType: 'application/octet-stream', buffer: test.images },
      { name: 'odd-test-labels.idx', mimeType: 'application/octet-stream', buffer: test.labels },
    ]);
    await waitForText('error', /These files cannot be used.*test labels: label 12 at index 5 is outside 0\.\.9 \(this model has 10 classes\)/s);
    assert.deepEqual(await shown(), before, 'the data in use, the session and its results are kept');
    assert.equal(await page.getByTestId('dataset-select').inputValue(), 'files');
    assert.equal(await page.getByTestId('result-cell').first().evaluate((c) => c.classList.contains('placeholder')), false);
    assert.equal(await page.locator('[data-testid=confusion] td').count(), 100);
    await page.locator('#error-close').click();
  });

  test('CIFAR-10 as distributed (a generated .tar.gz) dropped on the page trains cifar-convnet, with its class names', async () => {
    await page.getByTestId('model-select').selectOption('seed');
    const option = page.getByTestId('dataset-select').locator('option[value="cifar-10"]');
    assert.match(await option.textContent(), /CIFAR-10: choose its files/);
    // Malformed input is refused in words and changes nothing.
    const before = await page.evaluate(() => window.wasmTrainer.data.name);
    await dropFiles([{ name: 'data_batch_1.bin', buffer: cifarBatch(3, 1).subarray(0, 5000) }, { name: 'test_batch.bin', buffer: cifarBatch(2, 2) }]);
    await waitForText('error', /data_batch_1\.bin: 5000 bytes is not a whole number of CIFAR-10 records/);
    const empty = gzipSync(createTar([{ name: 'cifar-10-batches-bin/readme.html', data: 'hello' }]));
    await dropFiles([{ name: 'cifar-10-binary.tar.gz', buffer: empty }]);
    await waitForText('error', /cifar-10-binary\.tar\.gz: not CIFAR-10's binary version: data_batch_1\.bin \.\.\. data_batch_5\.bin and test_batch\.bin missing/);
    assert.equal(await page.evaluate(() => window.wasmTrainer.data.name), before, 'the data in use is kept');
    await page.locator('#error-close').click();

    const tar = gzipSync(createTar([
      { name: 'cifar-10-batches-bin/batches.meta.txt', data: `${COLOURS.join('\n')}\n\n` },
      { name: 'cifar-10-batches-bin/data_batch_1.bin', data: cifarBatch(100, 1) },
      { name: 'cifar-10-batches-bin/data_batch_2.bin', data: cifarBatch(60, 3) },
      { name: 'cifar-10-batches-bin/test_batch.bin', data: cifarBatch(40, 2) },
    ]));
    await dropFiles([{ name: 'cifar-10-binary.tar.gz', buffer: tar }]);
    await waitFor('the CIFAR-10 data', () => window.wasmTrainer.data?.name === 'CIFAR-10' && window.wasmTrainer.state === 'ready');
    assert.deepEqual(await page.evaluate(() => window.wasmTrainer.data), { name: 'CIFAR-10', trainCount: 160, testCount: 40, fromCache: false });
    assert.equal(await page.getByTestId('dataset-select').inputValue(), 'cifar-10');
    assert.equal(await option.textContent(), 'CIFAR-10 (your files)');
    // The chosen model (seed) does not fit: the message lists the one that does.
    await waitForText('model-fit', /^seed takes 1×28×28 images, but CIFAR-10 has 3×32×32 images\. Presets that fit CIFAR-10: cifar-convnet\.$/);
    assert.equal(await page.getByTestId('train-start').isDisabled(), true);
    await page.getByTestId('model-select').selectOption('cifar-convnet');
    await waitForModelChecked();
    await setField('epochs', 1);
    await page.getByTestId('train-start').click();
    await waitFor('cifar-convnet to train on CIFAR-10', () => window.wasmTrainer.model?.name === 'cifar-convnet' && window.wasmTrainer.epoch === 1);
    await waitForState('stopped');
    assert.equal(await text('run-model'), 'cifar-convnet · CIFAR-10');
    await waitForResults();
    const shown = await page.locator('[data-testid=result-cell]:not([hidden]) b').allTextContents();
    assert.ok(shown.length === 40 && shown.every((c) => COLOURS.includes(c)), `grid labels from batches.meta.txt: ${shown}`);
    assert.deepEqual(await page.locator('[data-testid=confusion] tbody th').allTextContents(), COLOURS.map((n, i) => `${i} ${n}`));
    await waitFor('a checkpoint of cifar-convnet', () => window.wasmTrainer.checkpoints[0]?.model === 'cifar-convnet');
    assert.equal(await page.getByTestId('checkpoint-item').first().getByTestId('checkpoint-model').textContent(), 'cifar-convnet on CIFAR-10');
    await shot('13-cifar');
  });

  test('Fashion-MNIST, built in, trains bn-cnn: its class names show in the grid, the matrix and the live prediction', async () => {
    await page.getByTestId('dataset-select').selectOption('fashion-mnist');
    await waitFor('Fashion-MNIST', () => window.wasmTrainer.data?.name === 'Fashion-MNIST' && window.wasmTrainer.state === 'ready');
    // cifar-convnet (chosen for CIFAR-10) does not fit: bn-cnn does.
    await waitForText('model-fit', /Presets that fit Fashion-MNIST: seed, mlp, lenet5, bn-cnn\./);
    await page.getByTestId('model-select').selectOption('bn-cnn');
    await waitForModelChecked();
    await page.getByTestId('train-start').click();
    await waitForState('stopped');
    await waitForResults();
    const shown = await page.getByTestId('result-cell').locator('b').allTextContents();
    assert.ok(shown.length === 48 && shown.every((c) => FASHION.includes(c)), `grid labels: ${shown.slice(0, 5)}`);
    assert.deepEqual(await page.locator('[data-testid=confusion] tbody th').allTextContents(), FASHION.map((n, i) => `${i} ${n}`));
    assert.equal(await page.getByTestId('checkpoint-item').first().getByTestId('checkpoint-model').textContent(), 'bn-cnn on Fashion-MNIST');

    await page.getByTestId('draw-canvas').scrollIntoViewIfNeeded();
    const box = await page.getByTestId('draw-canvas').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
    await page.mouse.down();
    for (let i = 1; i <= 8; i++) await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * (0.2 + 0.07 * i));
    await page.mouse.up();
    await waitFor('a named prediction', (names) => names.includes(document.querySelector('[data-testid=draw-label]').textContent), FASHION);
    assert.match(await page.locator('#draw-conf').textContent(), /% sure/);
    await shot('14-fashion-names');

    // Back to MNIST through the picker (from the cache): digits again.
    await page.getByTestId('dataset-select').selectOption('mnist');
    await waitFor('MNIST again', () => window.wasmTrainer.data?.name === 'MNIST' && window.wasmTrainer.state === 'ready');
    assert.equal(await page.locator('#draw-probs li span').first().textContent(), '0');
    // The page remembers the model: leave the next test the default one.
    await page.getByTestId('model-select').selectOption('seed');
    await waitForModelChecked();
  });

  test('keyboard only: pick a model, start, stop (with a visible focus)', async () => {
    // Listening early: Playwright intercepts file choosers only once it has set up
    // for a listener, which is asynchronous (a listener added just before the key
    // press can miss the chooser).
    const chooser = new Promise((resolve) => page.once('filechooser', resolve));
    await page.reload();
    await page.waitForFunction(() => window.wasmTrainer?.data && window.wasmTrainer.startBlocked === null, null, { timeout: 30_000 });
    await page.locator('body').focus();
    /** Presses Tab until the element matching `selector` has the focus, which
     *  must show (on it, or on the label that stands for an invisible file input). */
    const tabTo = async (selector) => {
      // (Through every control of the page and around: the checkpoint list grows.)
      for (let i = 0; i < 240; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate((sel) => document.activeElement?.matches(sel), selector)) {
          const outline = await page.evaluate(() => {
            const el = document.activeElement;
            const shown = el.type === 'file' ? el.closest('label') : el;
            return getComputedStyle(shown).outlineStyle;
          });
          assert.notEqual(outline, 'none', `${selector} has the focus but shows no outline`);
          return;
        }
      }
      assert.fail(`Tab never reached ${selector}; the focus is on ${await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120))}`);
    };
    const byTestId = (id) => `[data-testid="${id}"]`;
    await tabTo(byTestId('model-select'));
    assert.equal(await page.getByTestId('model-select').inputValue(), 'seed');
    await page.keyboard.press('ArrowDown');
    await waitFor('mlp to be chosen and checked', () => document.querySelector('[data-testid=model-select]').value === 'mlp' && window.wasmTrainer.startBlocked === null);
    await tabTo(byTestId('epochs'));
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('1000');
    await tabTo(byTestId('train-start'));
    await page.keyboard.press('Enter');
    await waitFor('mlp to be training', () => window.wasmTrainer.state === 'running' && window.wasmTrainer.model?.name === 'mlp');
    // The buttons follow the state in the same render as the status line: wait for it
    // (Stop is disabled until then, and Tab would pass over it).
    await waitForState('running');
    await waitFor('Stop to be enabled', () => !document.querySelector('[data-testid=train-stop]').disabled);
    await tabTo(byTestId('train-stop'));
    await page.keyboard.press('Space');
    await waitForState('stopped');
    assert.equal(await text('run-model'), 'mlp · MNIST');
    await waitFor('a checkpoint of mlp', () => window.wasmTrainer.checkpoints[0]?.model === 'mlp');

    // The other controls: a file chooser opens from the keyboard (its label shows
    // the focus), the image filter toggles with Space, a checkpoint resumes with Enter.
    await tabTo(byTestId('checkpoint-upload'));
    await page.keyboard.press('Enter');
    let timer;
    const opened = await Promise.race([chooser, new Promise((resolve) => { timer = setTimeout(resolve, 30_000, null); })]);
    clearTimeout(timer);
    assert.ok(opened, 'Enter on the focused Upload control opened no file chooser within 30 s');
    assert.equal(await opened.element().getAttribute('data-testid'), 'checkpoint-upload');
    await tabTo(byTestId('checkpoint-resume'));
    await page.keyboard.press('Enter');
    await waitFor('the mlp checkpoint to resume', () => window.wasmTrainer.state === 'running' && window.wasmTrainer.model?.name === 'mlp');
    await waitForState('running');
    await waitFor('Pause to be enabled', () => !document.querySelector('[data-testid=train-pause]').disabled);
    await tabTo(byTestId('train-pause'));
    await page.keyboard.press('Enter');
    await waitForState('paused');
    await tabTo('#grid-wrong');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#grid-wrong').getAttribute('aria-pressed'), 'true');
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
