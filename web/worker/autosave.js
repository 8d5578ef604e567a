// Checkpoints of the running session into IndexedDB: at epoch ends, every N
// seconds, on pause and stop, and when the page is hidden or closed. Saves are
// queued one at a time; a save still waiting takes the newer state instead of
// queueing another (see enqueueSave).
import * as store from './checkpoint-store.js';
import { currentData } from './data.js';
import { emit } from './events.js';
import { DEFAULTS, EVENT } from '../shared.js';

export const settings = { autosaveSeconds: DEFAULTS.autosaveSeconds, keepCheckpoints: DEFAULTS.keepCheckpoints };

// The last state saved (or being saved): no second checkpoint of the same step.
let lastSave = { time: 0, step: -1, trainer: null };
let saveChain = Promise.resolve(); // the last queued save (see enqueueSave)

/** The trainer's state at `step` counts as saved (a fresh start, a loaded checkpoint). */
export function markSaved(trainer, step) {
  lastSave = { time: performance.now(), step, trainer };
}

/** Whether the autosave interval has passed since the last save. */
export function autosaveDue() {
  return settings.autosaveSeconds > 0 && performance.now() - lastSave.time >= settings.autosaveSeconds * 1000;
}

/** Resolves when every queued save is written. */
export const savesDone = () => saveChain;

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

/** Saves the session's current state as a new checkpoint (unless nothing changed
 *  since the last one). session: { trainer, limits, epochsTarget }. */
export function checkpoint(session, reason, { force = false } = {}) {
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
  const data = currentData();
  const meta = {
    createdAt: Date.now(), reason,
    step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
    epochsTarget: session.epochsTarget, loss, accuracy,
    batchSize: c.batchSize, learningRate: c.learningRate, seed: c.seed,
    model: trainer.model.name, modelInput: Array.from(trainer.model.input), modelParams: trainer.model.params,
    dataName: data.name, dataId: data.id, trainCount: p.trainCount, testCount: p.testCount,
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
