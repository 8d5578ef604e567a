// What the page (main.js, page/) and its worker (worker.js, worker/) agree on:
// defaults, event types, the data sets and small formatting helpers. No DOM, no
// wasm: both sides import it.

export const DEFAULTS = Object.freeze({
  epochs: 2,
  batchSize: 64,
  learningRate: 1e-3,
  seed: 0,
  autosaveSeconds: 30, // a checkpoint at least this often while training
  keepCheckpoints: 5, // newest K kept in IndexedDB
});

export const TRAINING = Object.freeze({
  // Steps per trainSteps() call. V8 optimizes wasm only between calls
  // (TOOLCHAIN: "V8 tiering"), so calls stay short: 4 batches of 64 took
  // ~60 ms on this project's 2-core machine.
  stepsPerCall: 4,
  // The worker trains this long before it yields to its event loop, so Pause,
  // Stop, predict and save requests wait at most about this long.
  sliceMs: 60,
  // Progress events to the page at most this often (~10 Hz): each one is a
  // structured clone plus a redraw on the main thread.
  progressIntervalMs: 100,
  // Test images predicted per wasm call when building the results panel.
  predictChunk: 500,
});

// Event types the worker sends to the page's onEvent callback.
export const EVENT = Object.freeze({
  DATA_PROGRESS: 'data-progress', // { received, total, fromCache }
  DATA_READY: 'data-ready', // { name, trainCount, testCount, fromCache }
  STATE: 'state', // { state: STATE.*, ... }
  PROGRESS: 'progress', // { step, epoch, epochStep, stepsPerEpoch, losses, samplesPerSecond, ... }
  EPOCH: 'epoch', // { epoch, epochLoss, testLoss, testAccuracy, step }
  HISTORY: 'history', // the whole history after a resume: the charts restart from it
  CHECKPOINT_SAVED: 'checkpoint-saved', // { record }
  CHECKPOINT_ERROR: 'checkpoint-error', // { kind: 'quota'|'other', message }
  RESULTS: 'results', // predictions on the test set for the results panel
  ERROR: 'error', // { message }
});

// Training states, shown by the buttons.
export const STATE = Object.freeze({
  LOADING: 'loading', // data not there yet
  READY: 'ready', // data loaded, nothing trained in this session
  RUNNING: 'running',
  PAUSED: 'paused',
  STOPPED: 'stopped', // stopped by the user or finished all epochs
});

// Built by scripts/prepare-data.js into build/data/ (gzip IDX, MNIST's format).
export const DATA_FILES = Object.freeze({
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
});

// scripts/prepare-data.js lists the data sets it prepared in build/data/ here:
// { datasets: [{ id, name, files: { trainImages, ... } (relative to build/data/) }] }.
// Without it (an older build) MNIST's files at the top of build/data/ are used.
export const DATA_MANIFEST = 'datasets.json';

// The data set loaded first. The built-in sets, their display names, class names and
// data options come from the JS API's listDatasets (src/defaults.json).
export const BUILTIN_DATA_ID = 'mnist';

/** Class k's name: the data set's, else the number. */
export function className(names, k) {
  return names?.[k] ?? String(k);
}

export const shapeText = (s) => (s ? s.join('×') : '?');

/** Non-negative integer URL parameter, or 0 (= no limit). */
export function limitParam(search, name) {
  const v = new URLSearchParams(search).get(name);
  if (v == null || v === '') return 0;
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

export function formatLoss(x) {
  return Number.isFinite(x) ? x.toFixed(4) : '–';
}

export function formatPercent(x, digits = 1) {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '–';
}
