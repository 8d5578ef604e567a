// The module Web Worker that owns the wasm (through the JS API) and the
// checkpoints. The page reaches it through Comlink: every function of `api`
// below is callable from main.js, and the worker reports back through one
// onEvent callback (event types in shared.js).
//
// Why a worker: a training step takes ~10 ms of wasm; on the main thread the
// page would stutter. Here training runs in slices of a few short
// trainSteps() calls (~60 ms), then the worker yields to its event loop so
// Pause/Stop/predict/save requests get through between slices.
//
// Imports use relative URLs, not the page's import map: Chromium does not
// apply import maps inside module workers.
import * as Comlink from '../node_modules/comlink/dist/esm/comlink.mjs';
import {
  createTrainer, describeModel, inspectCheckpoint, loadModule, modelOfCheckpoint, threadsSupported,
} from '../src/js/wasm-trainer.js';

// The pthreads build when the page is cross-origin isolated (the server sends
// COOP/COEP), else the single-thread build. Results are identical either way.
const THREADS = threadsSupported() ? Math.max(1, Math.min(4, self.navigator?.hardwareConcurrency || 1)) : 1;
import * as store from './checkpoint-store.js';
import { BUILTIN_DATA_NAME, DATA_FILES, DEFAULTS, EVENT, STATE, TRAINING } from './shared.js';

const DATA_CACHE = 'wasm-trainer-data-v1';

// ---------------------------------------------------------------- state ----

let emit = () => {};
let data = null; // { name, builtin, trainImages, trainLabels, testImages, testLabels, trainCount, testCount }
let pageLimits = { trainLimit: 0, testLimit: 0 }; // from the page URL (trainLimit/testLimit)
let session = null; // { trainer, limits, epochsTarget, runStartedAt }
// The model a new run trains: init's `model` option (a preset name or a spec),
// else the JS API's default (src/defaults.json: "seed"). A resume takes the
// checkpoint's model instead.
let modelOption;
let defaultModel = null; // its description, for the page before any run
let state = STATE.LOADING;
let settings = { autosaveSeconds: DEFAULTS.autosaveSeconds, keepCheckpoints: DEFAULTS.keepCheckpoints };

let loop = null; // the running training loop's promise
let stopRequested = false;
let paused = false;
let wakeLoop = null; // resolves the paused loop's wait

let lastSave = { time: 0, step: -1, trainer: null };
let saveChain = Promise.resolve(); // the last queued save (see enqueueSave)
let lastDataLoad = null;

function setState(s, extra = {}) {
  state = s;
  emit({ type: EVENT.STATE, state: s, ...extra, ...progressSnapshot() });
}

/** What the page shows of a model: name (preset or "custom"), input [c, h, w], classes. */
function modelSummary(m) {
  return m && { name: m.name, input: Array.from(m.input), classes: m.classes, params: m.params };
}

function progressSnapshot() {
  if (!session) return { step: 0, epoch: 0, epochStep: 0, stepsPerEpoch: 0, epochsTarget: 0, model: modelSummary(defaultModel) };
  const p = session.trainer.progress();
  const c = session.trainer.config;
  return {
    step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
    trainCount: p.trainCount, testCount: p.testCount, epochsTarget: session.epochsTarget,
    batchSize: c.batchSize, learningRate: c.learningRate, seed: c.seed, model: modelSummary(session.trainer.model),
  };
}

// A task boundary without setTimeout's 4 ms clamp for nested timers: a
// MessageChannel message is an ordinary task, so Comlink messages queued
// meanwhile run first.
const yieldChannel = new MessageChannel();
const yieldWaiters = [];
yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
function yieldToEventLoop() {
  return new Promise((resolve) => {
    yieldWaiters.push(resolve);
    yieldChannel.port2.postMessage(null);
  });
}

// ----------------------------------------------------------------- data ----

function idxHeader(bytes, what) {
  if (bytes.length < 8) throw new Error(`${what}: the file is too short to be an IDX file (${bytes.length} bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0), count = v.getUint32(4);
  if (magic === 0x803) return { kind: 'images', count };
  if (magic === 0x801) return { kind: 'labels', count };
  throw new Error(`${what}: not an IDX image or label file (magic number 0x${magic.toString(16)}, expected 0x803 or 0x801)`);
}

/** Where an IDX file's data starts: after the magic and one u32 per dimension. */
const idxDataOffset = (bytes) => 4 + 4 * bytes[3];

async function gunzip(stream) {
  return new Uint8Array(await new Response(stream.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
}

/** Downloads (or takes from the Cache API) the four .gz files and inflates them. */
async function fetchBuiltin() {
  const cache = self.caches ? await self.caches.open(DATA_CACHE).catch(() => null) : null;
  const keys = Object.keys(DATA_FILES);
  const totals = new Map(), received = new Map();
  let fromCache = true;
  let lastEmit = 0;
  const report = (force) => {
    const now = performance.now();
    if (!force && now - lastEmit < TRAINING.progressIntervalMs) return;
    lastEmit = now;
    const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0);
    emit({ type: EVENT.DATA_PROGRESS, received: sum(received), total: totals.size === keys.length ? sum(totals) : 0, fromCache });
  };
  const cachePuts = [];
  const out = await Promise.all(keys.map(async (key) => {
    const url = new URL(`../build/data/${DATA_FILES[key]}`, import.meta.url).href;
    let res = cache ? await cache.match(url) : undefined;
    if (!res) {
      fromCache = false;
      try {
        res = await fetch(url);
      } catch (e) {
        throw new Error(`could not download ${DATA_FILES[key]}: ${e.message}`);
      }
      if (!res.ok) {
        throw new Error(`could not download ${DATA_FILES[key]} (HTTP ${res.status}). The data is made at build time: run "npm run build" (scripts/prepare-data.js).`);
      }
      // Cached compressed (11 MB instead of 55): a reload inflates again but downloads nothing.
      if (cache) cachePuts.push(cache.put(url, res.clone()).catch(() => {}));
    }
    totals.set(key, Number(res.headers.get('Content-Length')) || 0);
    received.set(key, 0);
    const counter = new TransformStream({
      transform(chunk, controller) {
        received.set(key, received.get(key) + chunk.byteLength);
        report(false);
        controller.enqueue(chunk);
      },
    });
    return [key, await gunzip(res.body.pipeThrough(counter))];
  }));
  report(true);
  await Promise.all(cachePuts);
  return { bytes: Object.fromEntries(out), fromCache };
}

function makeData(name, builtin, bytes) {
  const h = {
    trainImages: idxHeader(bytes.trainImages, 'train images'),
    trainLabels: idxHeader(bytes.trainLabels, 'train labels'),
    testImages: idxHeader(bytes.testImages, 'test images'),
    testLabels: idxHeader(bytes.testLabels, 'test labels'),
  };
  for (const [k, kind] of [['trainImages', 'images'], ['trainLabels', 'labels'], ['testImages', 'images'], ['testLabels', 'labels']]) {
    if (h[k].kind !== kind) throw new Error(`expected ${k} to be an IDX ${kind} file`);
  }
  if (h.trainImages.count !== h.trainLabels.count) throw new Error(`the training set has ${h.trainImages.count} images but ${h.trainLabels.count} labels`);
  if (h.testImages.count !== h.testLabels.count) throw new Error(`the test set has ${h.testImages.count} images but ${h.testLabels.count} labels`);
  return { name, builtin, ...bytes, trainCount: h.trainImages.count, testCount: h.testImages.count };
}

/** The data as the trainer sees it, with limits. */
function datasetFor(limits) {
  return { trainImages: data.trainImages, trainLabels: data.trainLabels, testImages: data.testImages, testLabels: data.testLabels,
    trainLimit: limits.trainLimit, testLimit: limits.testLimit };
}

function dataReady(fromCache) {
  const limit = (n, l) => (l > 0 ? Math.min(n, l) : n);
  emit({ type: EVENT.DATA_READY, name: data.name, builtin: data.builtin, fromCache,
    trainCount: limit(data.trainCount, pageLimits.trainLimit), testCount: limit(data.testCount, pageLimits.testLimit),
    fullTrainCount: data.trainCount, fullTestCount: data.testCount });
  if (state === STATE.LOADING) setState(STATE.READY);
}

// ------------------------------------------------------------ training ----

function recentLoss(trainer) {
  const h = trainer.history();
  const tail = [...h.stepLoss.slice(-20)].filter(Number.isFinite);
  const loss = tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN;
  let accuracy = NaN;
  for (let i = h.epochTestAccuracy.length - 1; i >= 0; i--) {
    if (Number.isFinite(h.epochTestAccuracy[i])) { accuracy = h.epochTestAccuracy[i]; break; }
  }
  return { loss, accuracy };
}

/** Saves the current state as a new checkpoint (unless nothing changed since the last one). */
function checkpoint(reason, { force = false } = {}) {
  if (!session) return Promise.resolve(null);
  const { trainer } = session;
  const p = trainer.progress();
  if (p.step === 0) return Promise.resolve(null);
  // Already saved (or being saved) at this step: wait for that write instead,
  // so "stopped" or "paused" is reported only once the checkpoint is stored.
  if (!force && lastSave.trainer === trainer && lastSave.step === p.step) {
    if (queuedSave?.meta.step === p.step && (REASON_WEIGHT[reason] ?? 0) > (REASON_WEIGHT[queuedSave.meta.reason] ?? 0)) {
      queuedSave.meta = { ...queuedSave.meta, reason };
    }
    return saveChain.then(() => null);
  }
  // The bytes are taken now, synchronously, so the checkpoint is exactly this
  // step even though the IndexedDB write finishes while training goes on.
  const bytes = trainer.saveCheckpoint();
  const c = trainer.config;
  const { loss, accuracy } = recentLoss(trainer);
  const meta = {
    createdAt: Date.now(), reason,
    step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
    epochsTarget: session.epochsTarget, loss, accuracy,
    batchSize: c.batchSize, learningRate: c.learningRate, seed: c.seed, model: trainer.model.name,
    dataName: data.name, trainCount: p.trainCount, testCount: p.testCount,
    trainLimit: session.limits.trainLimit, testLimit: session.limits.testLimit,
  };
  lastSave = { time: performance.now(), step: p.step, trainer };
  return enqueueSave(meta, bytes, trainer);
}

// Saves run one at a time (pruning must see them in order). When saves come
// faster than IndexedDB writes them (tiny epochs under CPU load), a save still
// waiting in the queue takes the newer state instead of queueing another:
// each write is still a new record, only stale intermediate ones are skipped.
// The merged record keeps the weightiest reason ("tab hidden" over "epoch end").
const REASON_WEIGHT = { pagehide: 6, hidden: 5, pause: 4, stop: 3, done: 3, epoch: 2, timer: 1 };
let queuedSave = null;
function enqueueSave(meta, bytes, trainer) {
  if (queuedSave) {
    const older = queuedSave.meta.reason;
    const reason = (REASON_WEIGHT[older] ?? 0) > (REASON_WEIGHT[meta.reason] ?? 0) ? older : meta.reason;
    Object.assign(queuedSave, { meta: { ...meta, reason }, bytes, trainer });
    return queuedSave.promise;
  }
  const job = { meta, bytes, trainer };
  queuedSave = job;
  job.promise = saveChain.then(() => {
    queuedSave = null;
    return writeCheckpoint(job);
  });
  saveChain = job.promise;
  return job.promise;
}

async function writeCheckpoint({ meta, bytes, trainer }) {
  try {
    const record = await store.addCheckpoint(meta, bytes);
    await store.pruneCheckpoints(settings.keepCheckpoints);
    emit({ type: EVENT.CHECKPOINT_SAVED, record, checkpoints: await store.listCheckpoints() });
    return record;
  } catch (e) {
    // Forget the dedupe mark: the next chance should try again.
    if (lastSave.trainer === trainer && lastSave.step === meta.step) lastSave.step = -1;
    const quota = store.isQuotaError(e);
    emit({ type: EVENT.CHECKPOINT_ERROR, kind: quota ? 'quota' : 'other',
      message: quota
        ? 'The browser\'s storage for this site is full, so the checkpoint could not be saved. Download it instead, or delete old checkpoints.'
        : `The checkpoint could not be saved in the browser: ${e.message}` });
    return null;
  }
}

/** Test-set predictions for the results panel: confusion matrix and a few images. */
async function computeResults() {
  if (!session) return;
  const { trainer } = session;
  const n = trainer.progress().testCount;
  if (!n) return;
  const trainerAtStart = trainer;
  // Sizes from the model: one image is c*h*w pixels, the matrix classes x classes.
  const { input, classes } = trainer.model;
  const size = input.reduce((a, b) => a * b, 1);
  const predicted = new Uint8Array(n);
  const labels = data.testLabels.subarray(idxDataOffset(data.testLabels), idxDataOffset(data.testLabels) + n);
  const images = data.testImages.subarray(idxDataOffset(data.testImages), idxDataOffset(data.testImages) + n * size);
  for (let b = 0; b < n; b += TRAINING.predictChunk) {
    const m = Math.min(TRAINING.predictChunk, n - b);
    predicted.set(trainer.predict(images.subarray(b * size, (b + m) * size)).labels, b);
    if (b + m < n) {
      await yieldToEventLoop();
      if (session?.trainer !== trainerAtStart) return; // replaced meanwhile: stale
    }
  }
  const confusion = new Uint32Array(classes * classes);
  let correct = 0;
  const wrong = [];
  for (let i = 0; i < n; i++) {
    if (labels[i] < classes) confusion[labels[i] * classes + predicted[i]]++;
    if (labels[i] === predicted[i]) correct++;
    else if (wrong.length < 48) wrong.push(i);
  }
  const first = Array.from({ length: Math.min(48, n) }, (_, i) => i);
  const pick = (idx) => ({
    index: Uint32Array.from(idx),
    pixels: Uint8Array.from(idx.flatMap((i) => Array.from(images.subarray(i * size, (i + 1) * size)))),
    label: Uint8Array.from(idx.map((i) => labels[i])),
    predicted: Uint8Array.from(idx.map((i) => predicted[i])),
  });
  emit({ type: EVENT.RESULTS, count: n, correct, accuracy: correct / n, confusion, input: Array.from(input), classes,
    step: trainer.progress().step, sample: pick(first), mistakes: pick(wrong) });
}

function emitHistory() {
  const h = session.trainer.history();
  emit({ type: EVENT.HISTORY, ...h, ...progressSnapshot() });
}

/** The training loop: slices of short trainSteps() calls, yielding in between. */
async function runLoop() {
  const batchSamples = () => session.trainer.config.batchSize;
  let pending = []; // losses not yet sent
  let lastEmit = performance.now();
  let rateSamples = 0, rateStart = performance.now(), samplesPerSecond = NaN;
  let epochEnded = null;

  const report = () => {
    const now = performance.now();
    if (rateSamples > 0 && now > rateStart) {
      const current = (rateSamples * 1000) / (now - rateStart);
      // Smoothed over ~5 reports so the number is readable, yet follows changes.
      samplesPerSecond = Number.isFinite(samplesPerSecond) ? 0.7 * samplesPerSecond + 0.3 * current : current;
    }
    rateSamples = 0;
    rateStart = now;
    const snap = progressSnapshot();
    const remainingSteps = Math.max(0, (snap.epochsTarget - snap.epoch) * snap.stepsPerEpoch - snap.epochStep);
    const etaSeconds = samplesPerSecond > 0 ? (remainingSteps * snap.batchSize) / samplesPerSecond : NaN;
    emit({ type: EVENT.PROGRESS, ...snap, losses: Float32Array.from(pending), samplesPerSecond, etaSeconds });
    pending = [];
    lastEmit = now;
  };

  while (!stopRequested) {
    if (paused) {
      report();
      await new Promise((resolve) => { wakeLoop = resolve; });
      wakeLoop = null;
      rateStart = performance.now();
      rateSamples = 0;
      continue;
    }
    const { trainer } = session;
    if (trainer.progress().epoch >= session.epochsTarget) break;

    const sliceEnd = performance.now() + TRAINING.sliceMs;
    try {
      do {
        const r = trainer.trainSteps(TRAINING.stepsPerCall);
        for (const l of r.losses) pending.push(l);
        rateSamples += r.losses.length * batchSamples();
        if (r.epochEnded) { epochEnded = r; break; }
      } while (performance.now() < sliceEnd);
    } catch (e) {
      report();
      paused = true;
      setState(STATE.PAUSED);
      emit({ type: EVENT.ERROR, message: `Training stopped: ${e.message}. The weights are as they were before that step; lower the learning rate and resume from a checkpoint.` });
      continue;
    }

    if (epochEnded) {
      const r = epochEnded;
      epochEnded = null;
      report();
      // recordEpoch stores the test result in the history (and so in checkpoints).
      const ev = await trainer.evaluateAsync({ recordEpoch: true });
      emit({ type: EVENT.EPOCH, epoch: r.epoch, step: r.step, epochLoss: r.epochLoss, testLoss: ev.loss, testAccuracy: ev.accuracy, testCount: ev.count });
      checkpoint('epoch');
      await computeResults();
    } else if (performance.now() - lastEmit >= TRAINING.progressIntervalMs) {
      report();
    }
    if (settings.autosaveSeconds > 0 && performance.now() - lastSave.time >= settings.autosaveSeconds * 1000) checkpoint('timer');
    await yieldToEventLoop();
  }
  report();
}

function startLoop() {
  stopRequested = false;
  paused = false;
  setState(STATE.RUNNING);
  const current = session;
  loop = runLoop().then(async () => {
    loop = null;
    if (session !== current) return; // replaced by a resume/start: that one reports
    const done = session.trainer.progress().epoch >= session.epochsTarget;
    await checkpoint(done ? 'done' : 'stop');
    setState(STATE.STOPPED, { finished: done });
  }, (e) => {
    loop = null;
    emit({ type: EVENT.ERROR, message: `Training failed: ${e.message}` });
    setState(STATE.STOPPED);
  });
}

async function haltLoop() {
  if (!loop) return;
  stopRequested = true;
  paused = false;
  wakeLoop?.();
  const l = loop;
  await l;
}

async function ensureData() {
  if (data) return;
  if (lastDataLoad) await lastDataLoad;
  if (!data) throw new Error('the training data is not loaded yet');
}

function checkEpochs(epochs) {
  const e = Number(epochs);
  if (!Number.isInteger(e) || e < 1 || e > 10000) throw new Error(`epochs must be an integer from 1 to 10000, got ${epochs}`);
  return e;
}

/**
 * Adopts checkpoint bytes as the current session. Everything is validated on a
 * fresh trainer first; on any error the current session is left exactly as it
 * was and the error is thrown with the trainer's own message.
 */
async function adopt(bytes, { epochs, limits }) {
  await ensureData();
  // inspectCheckpoint parses the header (format, tensor table) without a
  // trainer: a file that is not a checkpoint at all is refused here.
  const info = await inspectCheckpoint(bytes);
  const md = info.metadata;
  if (md.format !== 'wasm-trainer-checkpoint') {
    throw new Error(`not a wasm-trainer checkpoint (metadata format is "${md.format ?? ''}")`);
  }
  // A checkpoint remembers how many training images it used (train_count):
  // pick the same prefix of the loaded data, so a run made with ?trainLimit=640
  // resumes on those 640 images. The trainer's fingerprint check then verifies
  // that they are the same images.
  const trainCount = Number(md.train_count);
  const use = { trainLimit: limits?.trainLimit ?? pageLimits.trainLimit, testLimit: limits?.testLimit ?? pageLimits.testLimit };
  if (Number.isInteger(trainCount) && trainCount > 0) {
    if (trainCount > data.trainCount) {
      throw new Error(`it was trained on ${trainCount} images but the loaded data set (${data.name}) has only ${data.trainCount}: load the same data to resume`);
    }
    use.trainLimit = trainCount === data.trainCount ? 0 : trainCount;
  }
  // The checkpoint's own model (format version 1 files: the seed's CNN).
  const model = await modelOfCheckpoint(bytes);
  const candidate = await createTrainer({ model: model.canonical, seed: Number(md.seed) || 0, batchSize: Number(md.batch_size) || DEFAULTS.batchSize, threads: THREADS });
  try {
    candidate.setData(datasetFor(use));
    candidate.loadCheckpoint(bytes);
  } catch (e) {
    candidate.dispose();
    throw e;
  }
  // Validated: swap it in. Stop the old loop first (it would keep training the old trainer).
  await haltLoop();
  const old = session;
  const p = candidate.progress();
  session = { trainer: candidate, limits: use, epochsTarget: Math.max(checkEpochs(epochs ?? p.epoch + 1), 1) };
  old?.trainer.dispose();
  // The loaded state counts as saved: no duplicate checkpoint of it.
  lastSave = { time: performance.now(), step: p.step, trainer: candidate };
  return p;
}

/** After a resume: the charts restart from the checkpoint's history, then training goes on. */
function afterAdopt() {
  emitHistory();
  if (session.trainer.progress().epoch < session.epochsTarget) startLoop();
  else setState(STATE.STOPPED, { finished: true });
  computeResults();
  return progressSnapshot();
}

// ------------------------------------------------------------------ api ----

const api = {
  /** Registers the event callback and starts loading MNIST. `model` (a preset
   *  name or a spec) is what Start trains; default: the JS API's ("seed"). Returns
   *  the stored checkpoints and that model ({name, input, classes, params}, or
   *  null with `modelError` when it is refused or the wasm cannot load). */
  async init(onEvent, { trainLimit = 0, testLimit = 0, loadBuiltin = true, model } = {}) {
    // Fire and forget: a closed page must not leave rejected promises behind.
    emit = (e) => { Promise.resolve(onEvent(e)).catch(() => {}); };
    pageLimits = { trainLimit, testLimit };
    modelOption = model;
    if (loadBuiltin) api.loadBuiltinData().catch(() => {});
    // The variant training will use, so describing the model loads no second module.
    let modelError = null;
    const described = loadModule({ threads: THREADS }).then(() => describeModel(modelOption)).then((d) => {
      defaultModel = d;
    }, (e) => { modelError = e.message; });
    const checkpoints = await store.listCheckpoints().catch(() => []);
    await described;
    return { checkpoints, model: modelSummary(defaultModel), modelError };
  },

  async loadBuiltinData() {
    lastDataLoad = (async () => {
      try {
        const { bytes, fromCache } = await fetchBuiltin();
        data = makeData(BUILTIN_DATA_NAME, true, bytes);
        dataReady(fromCache);
      } catch (e) {
        emit({ type: EVENT.ERROR, message: `The MNIST data could not be loaded: ${e.message}` });
        throw e;
      }
    })();
    return lastDataLoad;
  },

  /** Uses four IDX files chosen by the user (raw or .gz), e.g. Fashion-MNIST. */
  async loadFiles(files) {
    if (state === STATE.RUNNING) throw new Error('pause or stop training before changing the data');
    if (files.length !== 4) throw new Error(`choose exactly four IDX files (train images, train labels, test images, test labels); got ${files.length}`);
    const parsed = await Promise.all(files.map(async (f) => {
      let bytes = new Uint8Array(await f.arrayBuffer());
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = await gunzip(new Blob([bytes]).stream());
      return { name: f.name, bytes, ...idxHeader(bytes, f.name) };
    }));
    const images = parsed.filter((p) => p.kind === 'images').sort((a, b) => b.count - a.count);
    const labels = parsed.filter((p) => p.kind === 'labels').sort((a, b) => b.count - a.count);
    if (images.length !== 2 || labels.length !== 2) {
      throw new Error(`expected two image files and two label files, got ${images.length} image and ${labels.length} label files`);
    }
    // The larger set is the training set (MNIST and Fashion-MNIST: 60,000 vs 10,000).
    const name = files.map((f) => f.name).find((n) => /fashion/i.test(n)) ? 'Fashion-MNIST' : `your files (${images[0].name}, …)`;
    data = makeData(name, false, { trainImages: images[0].bytes, trainLabels: labels[0].bytes, testImages: images[1].bytes, testLabels: labels[1].bytes });
    await haltLoop();
    session?.trainer.dispose();
    session = null;
    dataReady(false);
    setState(STATE.READY);
    return { name: data.name, trainCount: data.trainCount, testCount: data.testCount };
  },

  /** A fresh run with these hyperparameters; `model` (a preset name or a spec)
   *  overrides init's. */
  async start({ epochs, batchSize, learningRate, seed, model }) {
    await ensureData();
    const target = checkEpochs(epochs);
    // Throws with a message on bad values or a refused model.
    const trainer = await createTrainer({ model: model ?? modelOption, batchSize, learningRate, seed, threads: THREADS });
    try {
      trainer.setData(datasetFor(pageLimits));
    } catch (e) {
      trainer.dispose();
      throw e;
    }
    await haltLoop();
    session?.trainer.dispose();
    session = { trainer, limits: { ...pageLimits }, epochsTarget: target };
    lastSave = { time: performance.now(), step: 0, trainer };
    emitHistory();
    startLoop();
    return progressSnapshot();
  },

  async pause() {
    if (state !== STATE.RUNNING) return progressSnapshot();
    paused = true;
    setState(STATE.PAUSED);
    // Paused is a natural point to keep: a closed tab resumes exactly here.
    await checkpoint('pause');
    computeResults();
    return progressSnapshot();
  },

  /** Continues a paused or stopped session, up to `epochs` (the page's current value). */
  async resume({ epochs } = {}) {
    if (!session) throw new Error('nothing to resume: start training or pick a checkpoint');
    if (epochs != null) session.epochsTarget = checkEpochs(epochs);
    if (state === STATE.PAUSED && loop) {
      paused = false;
      setState(STATE.RUNNING);
      wakeLoop?.();
    } else if (!loop) {
      startLoop();
    }
    return progressSnapshot();
  },

  async stop() {
    if (!loop) return progressSnapshot();
    await haltLoop(); // startLoop's continuation saves and reports STOPPED
    await saveChain;
    computeResults();
    return progressSnapshot();
  },

  setSettings({ autosaveSeconds, keepCheckpoints, epochs }) {
    if (Number.isFinite(autosaveSeconds) && autosaveSeconds >= 0) settings.autosaveSeconds = autosaveSeconds;
    if (Number.isInteger(keepCheckpoints) && keepCheckpoints >= 1) settings.keepCheckpoints = keepCheckpoints;
    if (session && epochs != null) {
      try { session.epochsTarget = checkEpochs(epochs); } catch { /* the page validates and shows it */ }
    }
  },

  /** A checkpoint now (the page calls this when it is hidden or closed). */
  async checkpointNow(reason = 'manual') {
    return checkpoint(reason);
  },

  listCheckpoints: () => store.listCheckpoints(),

  async getCheckpointBytes(id) {
    const { bytes } = await store.getCheckpoint(id);
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** The live state as checkpoint bytes (for "download instead" when storage is full). */
  currentCheckpointBytes() {
    if (!session) throw new Error('nothing trained yet');
    const bytes = session.trainer.saveCheckpoint();
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  async deleteCheckpoint(id) {
    await store.deleteCheckpoint(id);
    return store.listCheckpoints();
  },

  /** Resumes from a stored checkpoint (its own data limits and epoch target). */
  async resumeFromCheckpoint(id, { epochs } = {}) {
    const { record, bytes } = await store.getCheckpoint(id);
    await adopt(bytes, { epochs: epochs ?? record.epochsTarget, limits: { trainLimit: record.trainLimit, testLimit: record.testLimit } });
    return afterAdopt();
  },

  /** Resumes from uploaded bytes; throws (state unchanged) when they are refused. */
  async resumeFromBytes(bytes, { epochs } = {}) {
    await adopt(bytes, { epochs });
    return afterAdopt();
  },

  /** One image (the model's c*h*w floats 0..1) -> label and probabilities, or null before any training. */
  predict(pixels) {
    if (!session) return null;
    const r = session.trainer.predict(pixels);
    return { label: r.labels[0], probabilities: r.probabilities };
  },

  status() {
    return { state, ...progressSnapshot() };
  },
};

Comlink.expose(api);
