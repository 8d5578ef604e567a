// The module Web Worker that owns the wasm (through the JS API) and the
// checkpoints. The page reaches it through Comlink: every function of `api`
// below is callable from main.js, and the worker reports back through one
// onEvent callback (event types in shared.js).
//
//   worker/data.js        the data sets: built-in (build/data/), the user's IDX or CIFAR-10 files
//   worker/session.js     the trainer, the training loop, results, resuming a checkpoint
//   worker/autosave.js    checkpoints into IndexedDB: the package's store and autosave
//                         (src/js/autosave.js) with the page's record fields and events
//   worker/events.js      emit() to the page
//
// Imports use relative URLs, not the page's import map: Chromium does not
// apply import maps inside module workers.
import * as Comlink from '../node_modules/comlink/dist/esm/comlink.mjs';
import { listPresets, loadModule } from '../src/js/wasm-trainer.js';
import { store } from './worker/autosave.js';
import * as data from './worker/data.js';
import { connect, emit } from './worker/events.js';
import * as session from './worker/session.js';
import { BUILTIN_DATA_ID, EVENT, STATE } from './shared.js';

const api = {
  /** Registers the event callback and starts loading MNIST. `model` (a preset
   *  name or a spec) is what Start trains; default: the JS API's ("seed").
   *  Returns the stored checkpoints, the presets, the data sets the picker
   *  offers, and that model ({name, input, classes, params} and its description
   *  with the layer table), or null with `modelError` when it is refused or the
   *  wasm cannot load. */
  async init(onEvent, { trainLimit = 0, testLimit = 0, loadBuiltin = true, model } = {}) {
    connect(onEvent);
    Object.assign(data.pageLimits, { trainLimit, testLimit });
    // The variant training will use, first: describing models and listing data sets
    // then use it, and load no second module.
    const moduleReady = loadModule({ threads: session.THREADS });
    if (loadBuiltin) loadInitialData();
    let modelError = null, described = null, presets = [];
    const ready = moduleReady.then(async () => {
      const r = await session.chooseModel(model);
      if (r.ok) described = r.model;
      else modelError = r.error;
      presets = await listPresets().catch(() => []);
    }, (e) => { modelError = e.message; });
    const datasets = data.listDatasets().catch(() => []);
    const checkpoints = await store.list().catch(() => []);
    await ready;
    return {
      checkpoints, presets, datasets: (await datasets).map(({ files, options, ...d }) => d),
      model: described && session.progressSnapshot().model, modelDescription: described, modelError,
    };
  },

  /** Switches to a built-in data set (e.g. back to MNIST after one's own files). */
  async useDataset(id) {
    checkIdle();
    const { data: candidate, fromCache } = await data.readBuiltin(id);
    return replaceData(candidate, fromCache);
  },

  /** Uses the user's files: four IDX files (raw or .gz), or CIFAR-10's binary
   *  batches, loose or in its .tar.gz. Throws (the data and the session kept) when
   *  they are refused. */
  async loadFiles(files) {
    checkIdle();
    return replaceData(await data.readFiles(files), false);
  },

  /** Validates a model (preset name or spec JSON) without using it:
   *  { ok, model: description } or { ok: false, error }. */
  checkModel: (model) => session.checkModel(model),

  /** Makes a model what Start trains (and what the page shows before a run). */
  chooseModel: (model) => session.chooseModel(model),

  /** A fresh run with these hyperparameters; `model` (a preset name or a spec)
   *  overrides the chosen one. */
  start: (params) => session.start(params),
  pause: () => session.pause(),
  /** Continues a paused or stopped session, up to `epochs` (the page's current value). */
  resume: (opts) => session.resume(opts),
  stop: () => session.stop(),

  setSettings({ autosaveSeconds, keepCheckpoints, epochs }) {
    if (Number.isFinite(autosaveSeconds) && autosaveSeconds >= 0) session.autosave.everySeconds = autosaveSeconds;
    if (Number.isInteger(keepCheckpoints) && keepCheckpoints >= 1) session.autosave.keep = keepCheckpoints;
    session.setEpochsTarget(epochs);
  },

  /** A checkpoint now (the page calls this when it is hidden or closed). */
  checkpointNow: (reason = 'manual') => session.autosave.checkpoint(reason),

  listCheckpoints: () => store.list(),

  async getCheckpointBytes(id) {
    const { bytes } = await store.get(id);
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** The live state as checkpoint bytes (for "download instead" when storage is full). */
  currentCheckpointBytes() {
    const s = session.currentSession();
    if (!s) throw new Error('nothing trained yet');
    const bytes = s.trainer.saveCheckpoint();
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  async deleteCheckpoint(id) {
    await store.delete(id);
    return store.list();
  },

  /** Resumes from a stored checkpoint (its own data limits and epoch target). */
  async resumeFromCheckpoint(id, { epochs } = {}) {
    const { record, bytes } = await store.get(id);
    await session.adopt(bytes, { epochs: epochs ?? record.epochsTarget, limits: { trainLimit: record.trainLimit, testLimit: record.testLimit } });
    return session.afterAdopt();
  },

  /** Resumes from uploaded bytes; throws (state unchanged) when they are refused. */
  async resumeFromBytes(bytes, { epochs } = {}) {
    await session.adopt(bytes, { epochs });
    return session.afterAdopt();
  },

  /** One image (the model's c*h*w floats 0..1) -> label and probabilities, or null before any training. */
  predict(pixels) {
    const s = session.currentSession();
    if (!s) return null;
    const r = s.trainer.predict(pixels);
    return { label: r.labels[0], probabilities: r.probabilities };
  },

  /** The state, progress, hyperparameters and the session's model (its
   *  description, with the canonical spec). */
  status() {
    const s = session.currentSession();
    return { state: session.currentState(), ...session.progressSnapshot(), modelDescription: s ? session.modelDescription(s.trainer.model) : null };
  },
};

function checkIdle() {
  if (session.currentState() === STATE.RUNNING) throw new Error('pause or stop training before changing the data');
}

/** New data replaces the data in use once the session has checked it; the session,
 *  trained on the old data, then ends. */
async function replaceData(candidate, fromCache) {
  await session.checkData(candidate);
  data.use(candidate);
  await session.dropSession();
  emit(data.dataReadyEvent(fromCache));
  session.setState(STATE.READY);
  const d = data.currentData();
  return { name: d.name, trainCount: d.trainCount, testCount: d.testCount };
}

/** The first load (MNIST): READY once it is there. */
function loadInitialData() {
  data.loadBuiltin(BUILTIN_DATA_ID).then(({ fromCache }) => {
    emit(data.dataReadyEvent(fromCache));
    if (session.currentState() === STATE.LOADING) session.setState(STATE.READY);
  }, (e) => {
    emit({ type: EVENT.ERROR, message: `The training data could not be loaded: ${e.message}` });
  });
}

Comlink.expose(api);
