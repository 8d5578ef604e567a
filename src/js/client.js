// The main-thread side of a trainer that runs in a worker (types: WorkerTrainer in
// wasm-trainer.d.ts). index.js starts a Web Worker (worker.js), index.node.js a
// worker_threads Worker (worker.node.js); both hand their Comlink endpoint here.
// Every method is async; fit takes callbacks and an AbortSignal like Trainer.fit.
//
// Comlink by relative URL: the package bundles it (package.json bundleDependencies),
// so the path is the same in this repository and in node_modules.
import * as Comlink from '../../node_modules/comlink/dist/esm/comlink.mjs';

const EVENT_CALLBACK = { step: 'onStep', epoch: 'onEpoch', checkpoint: 'onCheckpoint', 'checkpoint-error': 'onCheckpointError' };

export class WorkerTrainer {
  #remote;
  #end;
  #busy;
  #info;
  #threads;
  #lastData = null;
  #disposed = false;

  /** Use createTrainer({worker: true}) or createWorkerTrainer(). */
  constructor(remote, info, { end, busy }) {
    this.#remote = remote;
    this.#info = info;
    this.#threads = info.threads;
    this.#end = end;
    this.#busy = busy;
  }

  /** Wraps a started worker endpoint and makes its trainer (worker-api.js init). */
  static async start(endpoint, config, { end, busy = (p) => p }) {
    const remote = Comlink.wrap(endpoint);
    try {
      const info = await busy(remote.init(config));
      return new WorkerTrainer(remote, info, { end, busy });
    } catch (e) {
      end();
      throw e;
    }
  }

  /** The model (as Trainer.model), from when the worker last reported it. */
  get model() { return this.#info.model; }

  /** The effective hyperparameters; a loaded checkpoint's win. */
  get config() { return this.#info.config; }

  /** Threads the worker's wasm uses (1: the single-thread build). */
  get threads() { return this.#threads; }

  #call(name, ...args) {
    if (this.#disposed) return Promise.reject(new Error(`${name}: this trainer was disposed`));
    return this.#busy(this.#remote[name](...args));
  }

  async setData(data) {
    await this.#call('setData', data);
    this.#lastData = data;
  }

  async fit(data, options = {}) {
    const { onStep, onEpoch, onCheckpoint, onCheckpointError, signal, ...rest } = options ?? {};
    const callbacks = { onStep, onEpoch, onCheckpoint, onCheckpointError };
    const send = data && data !== this.#lastData ? data : null;
    const onEvent = Comlink.proxy(({ type, ...event }) => {
      const cb = callbacks[EVENT_CALLBACK[type]];
      if (cb) cb(event);
      else if (type === 'checkpoint-error') console.warn(`wasm-trainer: ${event.message}`);
    });
    const stop = () => { this.#remote.stop(); };
    signal?.addEventListener('abort', stop, { once: true });
    // A hidden tab may be discarded without notice: save then (autosave only).
    const doc = rest.autosave && typeof document !== 'undefined' ? document : null;
    const onHidden = () => { if (doc.visibilityState === 'hidden') this.#remote.checkpointNow('hidden'); };
    const onPageHide = () => { this.#remote.checkpointNow('pagehide'); };
    doc?.addEventListener('visibilitychange', onHidden);
    if (doc) globalThis.addEventListener('pagehide', onPageHide);
    try {
      const result = await this.#call('fit', send, { ...rest, aborted: !!signal?.aborted }, onEvent);
      if (send) this.#lastData = data;
      return result;
    } finally {
      signal?.removeEventListener('abort', stop);
      doc?.removeEventListener('visibilitychange', onHidden);
      if (doc) globalThis.removeEventListener('pagehide', onPageHide);
    }
  }

  /** The whole training state as checkpoint bytes (safetensors). */
  save() { return this.#call('save'); }

  /** Validates and loads checkpoint bytes; on error the trainer is unchanged. */
  async load(bytes) {
    const info = await this.#call('load', bytes);
    this.#info = { ...this.#info, ...info };
  }

  predict(images) { return this.#call('predict', images); }

  evalLogits(images) { return this.#call('evalLogits', images); }

  evaluate(opts) { return this.#call('evaluate', opts); }

  progress() { return this.#call('progress'); }

  history() { return this.#call('history'); }

  /** Saves to the autosave store now (fit with `autosave`); resolves to the record or null. */
  checkpointNow(reason = 'manual') { return this.#call('checkpointNow', reason); }

  /** Stops the worker (a running fit ends with it). */
  async dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    try { this.#remote[Comlink.releaseProxy](); } catch { /* already gone */ }
    await this.#end();
  }
}
