// What the package's worker exposes through Comlink (worker.js in pages, worker.node.js
// under Node's worker_threads); the main-thread side is client.js. One trainer per
// worker. Calls made while fit runs are answered between its slices (~60 ms).
import { createTrainer, modelOfCheckpoint } from './wasm-trainer.js';
import { fitTrainer } from './fit.js';
import { Autosave } from './autosave.js';

/**
 * @param {object} deps
 * @param {typeof import('comlink')} deps.Comlink  the Comlink module of this worker
 * @param {() => number} deps.autoThreads  threads when the config leaves them out
 */
export function createWorkerApi({ Comlink, autoThreads }) {
  let trainer = null;
  let running = null; // { controller } while fit runs
  let autosave = null;
  let autosaveKey = '';

  const need = () => {
    if (!trainer) throw new Error('the worker has no trainer (disposed?)');
    return trainer;
  };
  const info = () => ({ model: trainer.model, config: trainer.config, progress: trainer.progress() });
  const transferBytes = (bytes) => Comlink.transfer(bytes, [bytes.buffer]);

  return {
    /** Makes the trainer: config as createTrainer's, plus `checkpoint` (bytes) to
     *  start from, whose model is used when config.model is left out. */
    async init(config = {}) {
      const { checkpoint, ...rest } = config;
      if (rest.threads === undefined) rest.threads = autoThreads();
      if (checkpoint && rest.model === undefined) rest.model = (await modelOfCheckpoint(checkpoint)).canonical;
      trainer?.dispose();
      trainer = await createTrainer(rest);
      if (checkpoint) trainer.loadCheckpoint(checkpoint);
      return { ...info(), threads: rest.threads };
    },

    info: () => (need(), info()),
    progress: () => need().progress(),
    history: () => need().history(),
    setData(data) { need().setData(data); },

    /** fit with events through one callback: {type: 'step'|'epoch'|'checkpoint'|'checkpoint-error', ...}. */
    async fit(data, options = {}, onEvent) {
      const t = need();
      if (running) throw new Error('fit is already running in this worker: stop it (AbortSignal) or await it first');
      const { aborted, autosave: autosaveOption, ...rest } = options;
      const controller = new AbortController();
      if (aborted) controller.abort();
      running = { controller };
      const send = (type) => (onEvent ? (e) => { onEvent({ type, ...e }); } : undefined);
      try {
        if (autosaveOption) {
          const o = autosaveOption === true ? {} : autosaveOption;
          const key = JSON.stringify([o.dbName ?? '', o.meta ?? null]);
          if (!autosave || key !== autosaveKey) {
            autosave = new Autosave(() => trainer, { dbName: o.dbName, meta: o.meta });
            autosave.markSaved();
            autosaveKey = key;
          }
          autosave.everySeconds = o.everySeconds ?? 30;
          autosave.keep = o.keep ?? 5;
          autosave.onSaved = send('checkpoint');
          autosave.onError = send('checkpoint-error');
        }
        return await fitTrainer(t, data, {
          ...rest, signal: controller.signal, autosave: autosaveOption ? autosave : undefined,
          onStep: send('step'), onEpoch: send('epoch'),
        });
      } finally {
        running = null;
        if (autosave) autosave.onSaved = autosave.onError = undefined;
        onEvent?.[Comlink.releaseProxy]?.();
      }
    },

    /** Stops a running fit after its current slice; fit then resolves with aborted: true. */
    stop() { running?.controller.abort(); },

    /** Saves a checkpoint to the autosave store now (reason e.g. 'hidden'), if fit has autosave on. */
    checkpointNow(reason = 'manual') { return autosave ? autosave.checkpoint(reason) : null; },

    save: () => transferBytes(need().saveCheckpoint()),

    load(bytes) {
      const t = need();
      if (running) throw new Error('load: a fit is running: stop it first');
      t.loadCheckpoint(bytes);
      autosave?.markSaved();
      return info();
    },

    async evaluate(opts) { return need().evaluateAsync(opts); },

    predict(images) {
      const r = need().predict(images);
      return Comlink.transfer(r, [r.labels.buffer, r.probabilities.buffer]);
    },

    evalLogits(images) {
      const logits = need().evalLogits(images);
      return Comlink.transfer(logits, [logits.buffer]);
    },

    dispose() {
      running?.controller.abort();
      trainer?.dispose();
      trainer = null;
    },
  };
}
