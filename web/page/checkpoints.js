// The checkpoint list (Download, Resume, Delete; each names its model and
// data), uploading or dropping a file to resume from it (dropped data files go
// to the data picker), the "training was interrupted" offer, and downloading
// the live state when storage is full.
import { $, nf } from './dom.js';
import { clearError, messageOf, showError } from './errors.js';
import { requestPersistence, updateStorageEstimate } from './environment.js';
import { readField, showRunConfig } from './settings.js';
import { ui } from './state.js';
import { api, Comlink } from './worker-client.js';
import { formatBytes, formatLoss, formatPercent } from '../shared.js';

// Set by init: the page follows a resumed session (the model picker shows its
// model); data files dropped on the page go to the data picker.
let onResumed = () => {};
let onDataDropped = () => {};

function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

const REASONS = { epoch: 'epoch end', timer: 'autosave', pause: 'paused', hidden: 'tab hidden', pagehide: 'tab closed', stop: 'stopped', done: 'finished', manual: 'saved' };

function epochPosition(r) {
  const frac = r.stepsPerEpoch ? r.epoch + r.epochStep / r.stepsPerEpoch : r.epoch;
  return `${+frac.toFixed(2)}/${r.epochsTarget}`;
}

/** Records saved before models existed are the seed's CNN. */
const modelOf = (r) => r.model ?? 'seed';

export function setCheckpoints(list) {
  ui.checkpoints = list;
  renderCheckpoints();
  renderRecovery();
}

export function renderCheckpoints() {
  const list = $('checkpoint-list');
  const frag = document.createDocumentFragment();
  for (const r of ui.checkpoints) {
    const li = document.createElement('li');
    li.className = 'ckpt';
    li.setAttribute('data-testid', 'checkpoint-item');
    li.dataset.id = r.id;
    li.dataset.step = r.step;
    li.dataset.epoch = r.epoch;
    li.dataset.model = modelOf(r);
    const title = document.createElement('div');
    title.className = 'ckpt-title';
    title.textContent = `Step ${nf.format(r.step)}`;
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = REASONS[r.reason] ?? r.reason;
    title.append(tag);
    const what = document.createElement('div');
    what.className = 'ckpt-model';
    what.setAttribute('data-testid', 'checkpoint-model');
    what.textContent = `${modelOf(r)} on ${r.dataName ?? 'MNIST'}`;
    what.title = `model ${modelOf(r)}${r.modelParams ? ` (${nf.format(r.modelParams)} parameters)` : ''}, data ${r.dataName}, ${nf.format(r.trainCount)} training images`;
    const actions = document.createElement('div');
    actions.className = 'ckpt-actions';
    const label = `step ${nf.format(r.step)} (${modelOf(r)})`;
    for (const [testid, text, fn] of [
      ['checkpoint-download', 'Download', () => downloadCheckpoint(r)],
      ['checkpoint-resume', 'Resume', () => resumeFromRecord(r)],
      ['checkpoint-delete', 'Delete', () => deleteCheckpoint(r)],
    ]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `btn${testid === 'checkpoint-delete' ? ' btn-danger' : ''}`;
      b.setAttribute('data-testid', testid);
      b.setAttribute('aria-label', `${text} checkpoint ${label}`);
      b.textContent = text;
      b.addEventListener('click', fn);
      actions.append(b);
    }
    const when = document.createElement('time');
    when.className = 'ckpt-time';
    when.dateTime = new Date(r.createdAt).toISOString();
    when.textContent = new Date(r.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    when.title = ago(r.createdAt);
    const meta = document.createElement('div');
    meta.className = 'ckpt-meta';
    meta.textContent = [
      `epoch ${epochPosition(r)}`,
      `loss ${formatLoss(r.loss)}`,
      `acc ${formatPercent(r.accuracy)}`,
      formatBytes(r.size),
    ].join(' · ');
    meta.title = `batch ${r.batchSize}, learning rate ${r.learningRate}, seed ${r.seed}`;
    li.append(title, when, what, meta, actions);
    frag.append(li);
  }
  list.replaceChildren(frag);
  $('checkpoint-empty').hidden = ui.checkpoints.length > 0;
}

function checkpointFileName(r) {
  return `wasm-trainer-step${r.step}-epoch${r.epoch}.safetensors`;
}

function saveBytes(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

async function downloadCheckpoint(r) {
  try {
    saveBytes(await api.getCheckpointBytes(r.id), checkpointFileName(r));
  } catch (e) {
    showError('The checkpoint could not be read', messageOf(e));
  }
}

/** The live state as a file (offered when the browser's storage is full). */
export async function downloadCurrent() {
  try {
    saveBytes(await api.currentCheckpointBytes(), `wasm-trainer-step${ui.step}-epoch${ui.epoch}.safetensors`);
  } catch (e) {
    showError('Nothing to download', messageOf(e));
  }
}

async function deleteCheckpoint(r) {
  try {
    ui.checkpoints = await api.deleteCheckpoint(r.id);
    renderCheckpoints();
    renderRecovery();
    updateStorageEstimate();
  } catch (e) {
    showError('The checkpoint could not be deleted', messageOf(e));
  }
}

async function resumeFromRecord(r) {
  clearError();
  hideRecovery();
  try {
    $('epochs').value = Math.max(r.epochsTarget, r.epoch + (r.epochStep > 0 ? 1 : 0)) || r.epochsTarget;
    await api.resumeFromCheckpoint(r.id, { epochs: readField('epochs') });
    afterResume();
  } catch (e) {
    showError('This checkpoint could not be resumed', messageOf(e));
  }
}

async function resumeFromFile(file) {
  clearError();
  if (!file) return;
  let bytes;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    showError('The file could not be read', messageOf(e));
    return;
  }
  try {
    await api.resumeFromBytes(Comlink.transfer(bytes, [bytes.buffer]), { epochs: readField('epochs') });
    hideRecovery();
    afterResume();
  } catch (e) {
    // The worker validated on a separate trainer: the current state is untouched.
    showError(`The checkpoint "${file.name}" was refused`, messageOf(e));
  }
}

function afterResume() {
  requestPersistence();
  api.status().then((s) => {
    showRunConfig(s);
    onResumed(s);
  });
}

// -------------------------------------------------------------- recovery ----

let recoveryDismissed = false;

export function renderRecovery() {
  const newest = ui.checkpoints[0];
  const unfinished = newest && newest.epoch < newest.epochsTarget;
  const show = unfinished && !recoveryDismissed && !ui.hasSession;
  $('recovery').hidden = !show;
  if (show) {
    $('recovery-text').textContent = ` Saved ${ago(newest.createdAt)} at epoch ${epochPosition(newest)}, step ${nf.format(newest.step)} of ${modelOf(newest)} on ${newest.dataName ?? 'MNIST'} (loss ${formatLoss(newest.loss)}${Number.isFinite(newest.accuracy) ? `, test accuracy ${formatPercent(newest.accuracy)}` : ''}).`;
  }
}

export function hideRecovery() {
  recoveryDismissed = true;
  $('recovery').hidden = true;
}

// ------------------------------------------------------------------ init ----

export function initCheckpoints({ onResumed: resumed, onDataDropped: dropped }) {
  onResumed = resumed;
  onDataDropped = dropped;
  $('recovery-close').addEventListener('click', hideRecovery);
  $('resume-latest').addEventListener('click', () => {
    const newest = ui.checkpoints[0];
    if (newest) resumeFromRecord(newest);
  });

  $('checkpoint-upload').addEventListener('change', async (e) => {
    const file = e.target.files?.[0];
    e.target.value = ''; // the same file again must fire change again
    await resumeFromFile(file);
  });

  // Drag and drop a checkpoint anywhere on the page; the checkpoints card lights up.
  const zone = $('dropzone');
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth++;
    zone.classList.add('dragging');
  });
  window.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  window.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault(); // allow dropping (instead of the browser opening the file)
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    // A checkpoint resumes; anything else is data (IDX files, CIFAR-10's batches or archive).
    const files = [...e.dataTransfer.files];
    const ckpt = files.find((f) => /\.safetensors$/i.test(f.name));
    if (ckpt || files.length === 1 && !/\.(gz|tgz|tar|bin|idx)$|ubyte/i.test(files[0].name)) resumeFromFile(ckpt ?? files[0]);
    else onDataDropped(files);
  });
}
