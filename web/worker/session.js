// The training session: one trainer (JS API) on the current data, the training
// loop that runs it in short slices, the test-set results for the page, and
// adopting a checkpoint as the session, its autosave, and checking new data before
// it ends the session. Also the model a new run trains (the page's model picker
// sets it).
//
// Why slices: a training step takes ~10 ms of wasm. The loop runs a few short
// trainSteps() calls (~60 ms), then yields to the event loop so Pause, Stop,
// predict and save requests get through between slices.
import {
  checkData as checkDataApi, createTrainer, describeModel, inspectCheckpoint, modelOfCheckpoint, threadsSupported,
} from '../../src/js/wasm-trainer.js';
import { sessionAutosave } from './autosave.js';
import { currentData, ensureData, giveData, pageLimits, testSet } from './data.js';
import { emit, yieldToEventLoop } from './events.js';
import { DEFAULTS, EVENT, STATE, TRAINING } from '../shared.js';

// The pthreads build when the page is cross-origin isolated (the server sends
// COOP/COEP), else the single-thread build. Results are identical either way.
export const THREADS = threadsSupported() ? Math.max(1, Math.min(4, self.navigator?.hardwareConcurrency || 1)) : 1;

let session = null; // { trainer, limits, epochsTarget, data (the data.js data it trains on) }
let state = STATE.LOADING;
/** Checkpoints of the session into IndexedDB (worker/autosave.js). */
export const autosave = sessionAutosave(() => session);
// The model a new run trains (a preset name or a spec's JSON), else the JS API's
// default (src/defaults.json: "seed"), and its description: what the page shows
// before any run. A resume takes the checkpoint's model instead.
let modelOption;
let chosenModel = null;

let loop = null; // the running training loop's promise
let stopRequested = false;
let paused = false;
let wakeLoop = null; // resolves the paused loop's wait

export const currentState = () => state;
export const currentSession = () => session;

export function setState(s, extra = {}) {
  state = s;
  emit({ type: EVENT.STATE, state: s, ...extra, ...progressSnapshot() });
}

/** What the page shows of a model: name (preset or "custom"), input [c, h, w], classes. */
function modelSummary(m) {
  return m && { name: m.name, input: Array.from(m.input), classes: m.classes, params: m.params };
}

/** A description for the page (structured-clone friendly, no parsed spec). */
export function modelDescription(m) {
  if (!m) return null;
  const { spec, ...rest } = m;
  return { ...rest, input: Array.from(m.input), layers: m.layers.map((l) => ({ ...l, shape: Array.from(l.shape) })) };
}

export function progressSnapshot() {
  if (!session) return { step: 0, epoch: 0, epochStep: 0, stepsPerEpoch: 0, epochsTarget: 0, model: modelSummary(chosenModel) };
  const p = session.trainer.progress();
  const c = session.trainer.config;
  return {
    step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
    trainCount: p.trainCount, testCount: p.testCount, epochsTarget: session.epochsTarget,
    batchSize: c.batchSize, learningRate: c.learningRate, seed: c.seed, model: modelSummary(session.trainer.model),
  };
}

// -------------------------------------------------------------- models ----

/**
 * Validates a model (preset name, or a spec's JSON) without changing anything:
 * { ok: true, model: description } or { ok: false, error } (the core's message,
 * naming the layer and the field).
 */
export async function checkModel(model) {
  try {
    return { ok: true, model: modelDescription(await describeModel(model)) };
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

/** Makes `model` what Start trains (when valid); without a session the page
 *  shows it. Returns as checkModel does. */
export async function chooseModel(model) {
  let d;
  try {
    d = await describeModel(model);
  } catch (e) {
    return { ok: false, error: e.message };
  }
  modelOption = model;
  chosenModel = d;
  if (!session) emit({ type: EVENT.STATE, state, ...progressSnapshot() });
  return { ok: true, model: modelDescription(d) };
}

// ------------------------------------------------------------- results ----

/** Test-set predictions for the results panel: confusion matrix and a few images. */
export async function computeResults() {
  if (!session) return;
  const { trainer } = session;
  const n = trainer.progress().testCount;
  if (!n) return;
  const trainerAtStart = trainer;
  // Sizes from the model: one image is c*h*w pixels, the matrix classes x classes.
  const { input, classes } = trainer.model;
  const size = input.reduce((a, b) => a * b, 1);
  const predicted = new Uint8Array(n);
  const { labels, images } = testSet(n, size);
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

// ---------------------------------------------------------------- loop ----

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
      autosave.checkpoint('epoch');
      await computeResults();
    } else if (performance.now() - lastEmit >= TRAINING.progressIntervalMs) {
      report();
    }
    autosave.tick();
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
    await autosave.checkpoint(done ? 'done' : 'stop');
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

export function checkEpochs(epochs) {
  const e = Number(epochs);
  if (!Number.isInteger(e) || e < 1 || e > 10000) throw new Error(`epochs must be an integer from 1 to 10000, got ${epochs}`);
  return e;
}

// ------------------------------------------------------------ controls ----

/**
 * Checks data read by data.js before it replaces the data in use (and so ends the
 * session), as a trainer would take it at Start (whole records and files, labels
 * within the chosen model's classes, as many class names as classes, the
 * normalization's channels), and throws the JS API's message when it is refused;
 * nothing changes then. The JS API's checkData reads the labels and headers only:
 * no second copy of the data is made next to the session's (full CIFAR-10 twice
 * does not fit the pthreads build's memory). Whether the chosen model's input fits
 * the data is the model picker's message, not a reason to refuse it.
 */
export async function checkData(candidate) {
  const model = chosenModel ?? await describeModel(modelOption).catch(() => null);
  if (!model) return; // no valid model chosen: Start says what is wrong
  await checkDataApi(candidate.files, { classes: model.classes, ...pageLimits, data: candidate.options });
}

/**
 * The current data held apart from the session's trainer, when that trainer holds
 * it with at least the images `limits` ask for (a trainer on it then costs no second
 * copy: Start again, another model, a resumed checkpoint), with the exact counts to
 * share; else null (no session, or more images than it holds: a copy of the files).
 */
function holdData(limits) {
  const d = currentData();
  if (!session || session.data !== d) return null;
  const want = (limit, all) => (limit > 0 ? Math.min(limit, all) : all);
  const trainLimit = want(limits.trainLimit, d.trainCount), testLimit = want(limits.testLimit, d.testCount);
  const held = session.trainer.holdData();
  if (trainLimit > held.trainCount || testLimit > held.testCount) {
    held.dispose();
    return null;
  }
  return { held, view: { trainLimit, testLimit, data: d.options } };
}

/**
 * Replaces the session's trainer by make()'s without ever holding two trainers:
 * a workspace of cifar-convnet on 4 threads is ~100 MiB, which next to full CIFAR-10
 * and another such trainer does not fit the pthreads build's 320 MiB. The caller
 * has checked what it can without a trainer (HeldData's checks), so make() is
 * expected to succeed; should it throw anyway, the old trainer comes back from its
 * checkpoint (bit-identical) on the same held data, and the error is thrown.
 */
async function swapTrainer(held, make) {
  await haltLoop();
  const old = session;
  const backup = { bytes: old.trainer.saveCheckpoint(), model: old.trainer.model.canonical, data: old.trainer.data, progress: old.trainer.progress() };
  session = null; // meanwhile there is nothing to save or show
  old.trainer.dispose();
  try {
    return await make();
  } catch (e) {
    const t = await createTrainer({ model: backup.model, threads: THREADS });
    t.shareData(held, { trainLimit: backup.progress.trainCount, testLimit: backup.progress.testCount, data: backup.data });
    t.loadCheckpoint(backup.bytes);
    session = { ...old, trainer: t };
    throw e;
  }
}

/**
 * A trainer of `config` on the loaded data (the `limits` view of it), made ready by
 * `ready(t)` (a checkpoint loaded, say), that takes the session's place. With a
 * session, its data is shared: `check(held, view)` first says without a trainer
 * whether the new one would work (a refusal leaves the session as it was), then the
 * old trainer makes room (swapTrainer). Without one, the new trainer gets its own
 * copy, and the old loop is stopped once the new trainer is ready.
 */
async function replaceTrainer(config, limits, check, ready = () => {}) {
  const make = async (feed) => {
    const t = await createTrainer(config); // throws with a message on bad values or a refused model
    try {
      feed(t);
      ready(t);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  };
  const hold = holdData(limits);
  if (!hold) {
    const t = await make((tr) => giveData(tr, limits));
    await haltLoop(); // validated: stop the old loop (it would keep training the old trainer)
    session?.trainer.dispose();
    return t;
  }
  try {
    check(hold.held, hold.view);
    return await swapTrainer(hold.held, () => make((tr) => tr.shareData(hold.held, hold.view)));
  } finally {
    hold.held.dispose();
  }
}

/** The data changed: the session (trained on the old data) ends; nothing is saved. */
export async function dropSession() {
  await haltLoop();
  session?.trainer.dispose();
  session = null;
}

/** A fresh run with these hyperparameters; `model` (a preset name or a spec)
 *  overrides the chosen one. */
export async function start({ epochs, batchSize, learningRate, seed, model }) {
  await ensureData();
  const target = checkEpochs(epochs);
  const config = { model: model ?? modelOption, batchSize, learningRate, seed, threads: THREADS };
  // The session's data is checked against the new model first.
  const trainer = await replaceTrainer(config, pageLimits, (held, view) => held.check(config.model, view));
  session = { trainer, limits: { ...pageLimits }, epochsTarget: target, data: currentData() };
  autosave.markSaved();
  emitHistory();
  startLoop();
  return progressSnapshot();
}

export async function pause() {
  if (state !== STATE.RUNNING) return progressSnapshot();
  paused = true;
  setState(STATE.PAUSED);
  // Paused is a natural point to keep: a closed tab resumes exactly here.
  await autosave.checkpoint('pause');
  computeResults();
  return progressSnapshot();
}

/** Continues a paused or stopped session, up to `epochs` (the page's current value). */
export async function resume({ epochs } = {}) {
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
}

export async function stop() {
  if (!loop) return progressSnapshot();
  await haltLoop(); // startLoop's continuation saves and reports STOPPED
  await autosave.flushed();
  computeResults();
  return progressSnapshot();
}

export function setEpochsTarget(epochs) {
  if (session && epochs != null) {
    try { session.epochsTarget = checkEpochs(epochs); } catch { /* the page validates and shows it */ }
  }
}

/**
 * Adopts checkpoint bytes as the current session. Everything is validated on a
 * fresh trainer first; on any error the current session is left exactly as it
 * was and the error is thrown with the trainer's own message.
 */
export async function adopt(bytes, { epochs, limits }) {
  await ensureData();
  const data = currentData();
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
  const config = { model: model.canonical, seed: Number(md.seed) || 0, batchSize: Number(md.batch_size) || DEFAULTS.batchSize, threads: THREADS };
  // The checkpoint is checked on the session's data first.
  const candidate = await replaceTrainer(config, use, (held, view) => held.checkCheckpoint(bytes, view),
    (t) => t.loadCheckpoint(bytes));
  const p = candidate.progress();
  session = { trainer: candidate, limits: use, epochsTarget: Math.max(checkEpochs(epochs ?? p.epoch + 1), 1), data };
  // The loaded state counts as saved: no duplicate checkpoint of it.
  autosave.markSaved();
  return p;
}

/** After a resume: the charts restart from the checkpoint's history, then training goes on. */
export function afterAdopt() {
  emitHistory();
  if (session.trainer.progress().epoch < session.epochsTarget) startLoop();
  else setState(STATE.STOPPED, { finished: true });
  computeResults();
  return progressSnapshot();
}
