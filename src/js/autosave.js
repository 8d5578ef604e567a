// Checkpoints in IndexedDB, and the autosave policy that fills it (types: autosave.d.ts).
//
// openCheckpointStore(): two object stores, `meta` (small records to list: step,
// epoch, loss, ...) and `bytes` (the safetensors file, same key), so listing five
// checkpoints does not clone megabytes. The product page's worker keeps its checkpoints
// with this same code (web/worker/autosave.js; database "wasm-trainer", version 1), so
// checkpoints saved by either are seen by both.
//
// Crash safety: a save adds a NEW record (autoincrement key) to both stores in one
// transaction, and only a later, separate transaction prunes old records. IndexedDB
// transactions are atomic, so a tab killed mid-save loses at most the new checkpoint,
// never the previous good one; nothing is overwritten in place.
//
// Autosave: runs where the trainer runs (a page, its worker, or the package's worker
// through fit's `autosave` option). It takes the checkpoint's bytes synchronously when
// asked, so a checkpoint is exactly the step it is labelled with while the IndexedDB
// write finishes as training goes on; writes run one at a time, and a save still
// waiting for its turn takes the newer state instead of queueing another.
//
// idb is imported by relative URL, not the bare specifier: Chromium does not apply a
// page's import map inside module workers. The path resolves in both homes of this
// file: in this repository to the project's node_modules/idb (which web/server.js
// serves to the page's worker), and in an installed package to its own bundled copy
// (package.json bundleDependencies: node_modules/wasm-trainer/node_modules/idb).
import { openDB } from '../../node_modules/idb/build/index.js';

/** The product page's database. */
export const DEFAULT_DB_NAME = 'wasm-trainer';
const DB_VERSION = 1;

/** True for the errors a full disk or exhausted quota produce. */
export function isQuotaError(e) {
  return e?.name === 'QuotaExceededError' || e?.inner?.name === 'QuotaExceededError' ||
    /quota/i.test(String(e?.message ?? ''));
}

/** Opens (creating if needed) a checkpoint database; see autosave.d.ts CheckpointStore. */
export function openCheckpointStore(name = DEFAULT_DB_NAME) {
  if (typeof indexedDB === 'undefined') throw new Error('openCheckpointStore: IndexedDB is not available here (it is in pages and workers, not in Node)');
  // Opened on first use (a failed open is tried again at the next use).
  let opening = null;
  const open = () => (opening ??= openDB(name, DB_VERSION, {
    upgrade(db) {
      db.createObjectStore('meta', { keyPath: 'id', autoIncrement: true });
      db.createObjectStore('bytes');
    },
  }).catch((e) => {
    opening = null;
    throw e;
  }));
  return {
    name,
    /** Adds a checkpoint; returns its record (with id). Throws QuotaExceededError when storage is full. */
    async add(meta, bytes) {
      const db = await open();
      const tx = db.transaction(['meta', 'bytes'], 'readwrite');
      const record = { ...meta, size: bytes.byteLength };
      // Awaiting an IDB request (and nothing else) keeps the transaction active.
      const id = await tx.objectStore('meta').add(record);
      tx.objectStore('bytes').add(bytes, id);
      await tx.done;
      return { ...record, id };
    },
    /** Deletes all but the newest `keep` (at least 1) checkpoints; returns the deleted ids. */
    async prune(keep) {
      const db = await open();
      const tx = db.transaction(['meta', 'bytes'], 'readwrite');
      const ids = await tx.objectStore('meta').getAllKeys();
      const doomed = ids.sort((a, b) => a - b).slice(0, Math.max(0, ids.length - Math.max(1, keep)));
      for (const id of doomed) {
        tx.objectStore('meta').delete(id);
        tx.objectStore('bytes').delete(id);
      }
      await tx.done;
      return doomed;
    },
    /** Records, newest first. */
    async list() {
      const db = await open();
      const all = await db.getAll('meta');
      return all.sort((a, b) => b.id - a.id);
    },
    /** A record and its bytes; throws when it is gone. */
    async get(id) {
      const db = await open();
      const tx = db.transaction(['meta', 'bytes'], 'readonly');
      const [record, bytes] = await Promise.all([tx.objectStore('meta').get(id), tx.objectStore('bytes').get(id)]);
      await tx.done;
      if (!record || !bytes) throw new Error(`checkpoint #${id} is no longer stored (deleted in another tab?)`);
      return { record, bytes: new Uint8Array(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength) };
    },
    /** The newest checkpoint, or null. */
    async latest() {
      const [newest] = await this.list();
      return newest ? this.get(newest.id) : null;
    },
    async delete(id) {
      const db = await open();
      const tx = db.transaction(['meta', 'bytes'], 'readwrite');
      tx.objectStore('meta').delete(id);
      tx.objectStore('bytes').delete(id);
      await tx.done;
    },
    async close() {
      const db = opening;
      opening = null;
      (await db?.catch(() => null))?.close();
    },
  };
}

/** Which reason a merged save keeps: the weightiest ("tab hidden" over "epoch end"). */
export const REASON_WEIGHT = Object.freeze({ pagehide: 6, hidden: 5, pause: 4, stop: 3, done: 3, epoch: 2, timer: 1, manual: 1 });

/** The mean of the last 20 step losses and the last test accuracy in a history. */
function recentLoss(history) {
  const tail = [...history.stepLoss.slice(-20)].filter(Number.isFinite);
  const loss = tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN;
  let accuracy = NaN;
  for (let i = history.epochTestAccuracy.length - 1; i >= 0; i--) {
    if (Number.isFinite(history.epochTestAccuracy[i])) { accuracy = history.epochTestAccuracy[i]; break; }
  }
  return { loss, accuracy };
}

/**
 * Saves a trainer's checkpoints to a store: on request (checkpoint(reason)), and every
 * `everySeconds` when tick() is called (fit calls it between slices and saves at each
 * epoch end and at the end). `trainer` is a Trainer of wasm-trainer.js in this realm,
 * or a function returning the current one (null: nothing to save).
 */
export class Autosave {
  #trainer;
  #store;
  #meta;
  #lastSave = { time: 0, step: -1, trainer: null };
  #chain = Promise.resolve();
  #queued = null;

  constructor(trainer, { store, dbName, everySeconds = 30, keep = 5, meta, onSaved, onError } = {}) {
    if (!trainer) throw new TypeError('Autosave: a trainer (or a function returning one) is required');
    this.#trainer = typeof trainer === 'function' ? trainer : () => trainer;
    this.#store = store ?? openCheckpointStore(dbName);
    this.#meta = typeof meta === 'function' ? meta : () => meta ?? {};
    this.everySeconds = everySeconds;
    this.keep = keep;
    this.onSaved = onSaved;
    this.onError = onError;
  }

  get store() { return this.#store; }

  /** Whether `everySeconds` (> 0) passed since the last save. */
  get due() {
    return this.everySeconds > 0 && performance.now() - this.#lastSave.time >= this.everySeconds * 1000;
  }

  /** Saves if it is due (reason 'timer'). */
  tick() {
    return this.due ? this.checkpoint('timer') : null;
  }

  /** Marks the current state as saved (e.g. just loaded from a checkpoint): the
   *  interval starts now and the same step is not saved again. */
  markSaved() {
    const trainer = this.#trainer();
    this.#lastSave = { time: performance.now(), step: trainer ? trainer.progress().step : -1, trainer };
  }

  /**
   * Saves the current state as a new record unless this step is already saved (then
   * it waits for that write; `force` saves anyway). Resolves to the record, or null
   * when nothing was written (no trainer, step 0, already saved, or an error, which
   * goes to onError).
   */
  checkpoint(reason = 'manual', { force = false } = {}) {
    const trainer = this.#trainer();
    if (!trainer) return Promise.resolve(null);
    const p = trainer.progress();
    if (p.step === 0) return Promise.resolve(null);
    if (!force && this.#lastSave.trainer === trainer && this.#lastSave.step === p.step) {
      const q = this.#queued;
      if (q?.meta.step === p.step && (REASON_WEIGHT[reason] ?? 0) > (REASON_WEIGHT[q.meta.reason] ?? 0)) {
        q.meta = { ...q.meta, reason };
      }
      return this.#chain.then(() => null);
    }
    // The bytes now, synchronously: the checkpoint is exactly this step.
    const bytes = trainer.saveCheckpoint();
    const c = trainer.config;
    const meta = {
      createdAt: Date.now(), reason,
      step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
      ...recentLoss(trainer.history()),
      batchSize: c.batchSize, learningRate: c.learningRate, seed: c.seed, model: trainer.model.name,
      trainCount: p.trainCount, testCount: p.testCount,
      ...this.#meta(),
    };
    this.#lastSave = { time: performance.now(), step: p.step, trainer };
    return this.#enqueue(meta, bytes, trainer);
  }

  /** Resolves when every queued write has finished. */
  flushed() { return this.#chain.then(() => undefined); }

  #enqueue(meta, bytes, trainer) {
    if (this.#queued) {
      const older = this.#queued.meta.reason;
      const reason = (REASON_WEIGHT[older] ?? 0) > (REASON_WEIGHT[meta.reason] ?? 0) ? older : meta.reason;
      Object.assign(this.#queued, { meta: { ...meta, reason }, bytes, trainer });
      return this.#queued.promise;
    }
    const job = { meta, bytes, trainer };
    this.#queued = job;
    job.promise = this.#chain.then(() => {
      this.#queued = null;
      return this.#write(job);
    });
    this.#chain = job.promise;
    return job.promise;
  }

  async #write({ meta, bytes, trainer }) {
    let record;
    try {
      record = await this.#store.add(meta, bytes);
      await this.#store.prune(this.keep);
    } catch (e) {
      // Forget the dedupe mark: the next chance should try again.
      if (this.#lastSave.trainer === trainer && this.#lastSave.step === meta.step) this.#lastSave.step = -1;
      const quota = isQuotaError(e);
      const error = {
        kind: quota ? 'quota' : 'other',
        message: quota
          ? 'The browser\'s storage for this site is full, so the checkpoint could not be saved. Download it instead, or delete old checkpoints.'
          : `The checkpoint could not be saved in the browser: ${e?.message ?? e}`,
      };
      if (this.onError) this.onError(error);
      else console.warn(`wasm-trainer: ${error.message}`);
      return null;
    }
    // Awaited: what onSaved sends (e.g. the new list) goes out before this write
    // counts as done (checkpoint()'s promise, flushed()).
    try {
      await this.onSaved?.(record);
    } catch (e) {
      console.warn(`wasm-trainer: onSaved failed: ${e?.message ?? e}`);
    }
    return record;
  }
}
