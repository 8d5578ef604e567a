// The training and checkpoint settings: the form's fields, their checks, and
// their memory in localStorage (with the model picker's choice).
import { $ } from './dom.js';
import { DEFAULTS } from '../shared.js';

const SETTINGS_KEY = 'wasm-trainer.settings.v1';

export const FIELDS = {
  epochs: { id: 'epochs', int: true, min: 1, max: 10000, label: 'Epochs' },
  batchSize: { id: 'batch-size', int: true, min: 1, max: 65536, label: 'Batch size' },
  learningRate: { id: 'learning-rate', int: false, min: 1e-9, max: 10, label: 'Learning rate' },
  seed: { id: 'seed', int: true, min: 0, max: 2 ** 32 - 1, label: 'Seed' },
  autosaveSeconds: { id: 'autosave-seconds', int: true, min: 0, max: 86400, label: 'Autosave interval' },
  keepCheckpoints: { id: 'keep-checkpoints', int: true, min: 1, max: 100, label: 'Checkpoints to keep' },
};

// Kept values that are not form fields (the model picker's: model, modelSpec).
let extra = {};

/** Fills the form from localStorage (or the defaults); returns what was saved. */
export function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') ?? {};
  } catch { /* private mode or garbage: defaults */ }
  for (const [key, f] of Object.entries(FIELDS)) $(f.id).value = saved[key] ?? DEFAULTS[key];
  extra = Object.fromEntries(Object.entries(saved).filter(([k]) => !(k in FIELDS)));
  return saved;
}

export function saveSettings(more = {}) {
  Object.assign(extra, more);
  const out = { ...extra };
  for (const [key, f] of Object.entries(FIELDS)) out[key] = $(f.id).value;
  try { localStorage.setItem(SETTINGS_KEY, JSON.stringify(out)); } catch { /* not essential */ }
}

/** Reads and checks an input; throws an Error naming the field. */
export function readField(key) {
  const f = FIELDS[key];
  const raw = $(f.id).value.trim();
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v)) throw new Error(`${f.label} must be a number (got "${raw}")`);
  if (f.int && !Number.isInteger(v)) throw new Error(`${f.label} must be a whole number (got ${raw})`);
  if (v < f.min || v > f.max) throw new Error(`${f.label} must be between ${f.min} and ${f.max} (got ${raw})`);
  return v;
}

/** The hyperparameters a new run takes; throws naming the first bad field. */
export const runParams = () => ({
  epochs: readField('epochs'), batchSize: readField('batchSize'), learningRate: readField('learningRate'), seed: readField('seed'),
});

/** The worker's share of the settings (autosave, pruning, the epoch target). */
export function workerSettings() {
  const s = { autosaveSeconds: readField('autosaveSeconds'), keepCheckpoints: readField('keepCheckpoints') };
  try { s.epochs = readField('epochs'); } catch { /* only while valid */ }
  return s;
}

/** After a resume the form shows the run's own hyperparameters. */
export function showRunConfig({ batchSize, learningRate, seed }) {
  $('batch-size').value = batchSize;
  $('learning-rate').value = learningRate;
  $('seed').value = seed;
  saveSettings();
}
