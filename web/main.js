// The page: controls, charts, checkpoints list, results and drawing pad. It
// owns no wasm: everything heavy runs in worker.js, reached through Comlink.
// The worker reports through one callback (events in shared.js); the page
// coalesces them into at most one redraw per animation frame, so the main
// thread stays far below the 50 ms long-task bound while training runs.
import * as Comlink from 'comlink';
import uPlot from 'uplot';
import {
  DEFAULTS, EVENT, STATE, limitParam, formatBytes, formatDuration, formatLoss, formatPercent,
} from './shared.js';

const $ = (id) => document.getElementById(id);

// Writes only what changed: even an identical textContent or disabled write
// invalidates style and layout, and the progress redraw runs ten times a second.
function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}
function setDisabled(id, disabled) {
  const el = $(id);
  if (el.disabled !== disabled) el.disabled = disabled;
}
const nf = new Intl.NumberFormat('en-US');
const SETTINGS_KEY = 'wasm-trainer.settings.v1';

// ------------------------------------------------------------ page state ----

const ui = {
  state: STATE.LOADING,
  step: 0, epoch: 0, epochStep: 0, stepsPerEpoch: 0, epochsTarget: 0, batchSize: 0,
  samplesPerSecond: NaN, etaSeconds: NaN, finished: false, hasSession: false,
  data: null, // DATA_READY payload
  dataProgress: null,
  lastTestAccuracy: NaN,
  historyStep: null,
  checkpoints: [],
  results: null,
  gridMode: 'all',
  // The model of the current run (or the one Start trains): { name, input: [c, h, w],
  // classes, params }, from the worker. The grid, the matrix and the drawing pad take
  // their sizes from it.
  model: null,
};

// Chart series, grown as progress arrives (plain arrays: uPlot reads them as they are).
const lossSeries = { x: [], raw: [], ema: [], epochMean: [], emaState: 0, emaCount: 0 };
const epochSeries = { x: [], trainLoss: [], testLoss: [], testAccuracy: [] };
const EMA_BETA = 0.9; // ~10-step window; debiased like TensorBoard's smoothing

const limits = { trainLimit: limitParam(location.search, 'trainLimit'), testLimit: limitParam(location.search, 'testLimit') };

// ------------------------------------------------------- environment checks ----

// A 40-byte module whose one function returns a v128.const: it validates only
// where WebAssembly SIMD (which the wasm build is compiled with) is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b, // code: v128.const 0; end
]);

function hasWasmSimd() {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}
const simdOk = hasWasmSimd();

function setChip(id, ok, text, title) {
  const el = $(id);
  el.className = `chip ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
  if (title) el.title = title;
}

// ---------------------------------------------------------------- errors ----

let errorAction = null;

function showError(title, text, action = null) {
  $('error-title').textContent = title;
  $('error-text').textContent = text;
  errorAction = action;
  $('error-action').hidden = !action;
  if (action) $('error-action').textContent = action.label;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  errorAction = null;
}

$('error-close').addEventListener('click', clearError);
$('error-action').addEventListener('click', () => errorAction?.run());

/** Error messages from the worker arrive as Error objects with the trainer's text. */
const messageOf = (e) => String(e?.message ?? e).replace(/^Error: /, '');

// -------------------------------------------------------------- settings ----

const FIELDS = {
  epochs: { id: 'epochs', int: true, min: 1, max: 10000, label: 'Epochs' },
  batchSize: { id: 'batch-size', int: true, min: 1, max: 65536, label: 'Batch size' },
  learningRate: { id: 'learning-rate', int: false, min: 1e-9, max: 10, label: 'Learning rate' },
  seed: { id: 'seed', int: true, min: 0, max: 2 ** 32 - 1, label: 'Seed' },
  autosaveSeconds: { id: 'autosave-seconds', int: true, min: 0, max: 86400, label: 'Autosave interval' },
  keepCheckpoints: { id: 'keep-checkpoints', int: true, min: 1, max: 100, label: 'Checkpoints to keep' },
};

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}');
  } catch { /* private mode or garbage: defaults */ }
  for (const [key, f] of Object.entries(FIELDS)) $(f.id).value = saved[key] ?? DEFAULTS[key];
}

function saveSettings() {
  const out = {};
  for (const [key, f] of Object.entries(FIELDS)) out[key] = $(f.id).value;
  try { localStorage.setItem(SETTINGS_KEY, JSON.stringify(out)); } catch { /* not essential */ }
}

/** Reads and checks the inputs; throws an Error naming the field. */
function readField(key) {
  const f = FIELDS[key];
  const raw = $(f.id).value.trim();
  const v = Number(raw);
  if (raw === '' || !Number.isFinite(v)) throw new Error(`${f.label} must be a number (got "${raw}")`);
  if (f.int && !Number.isInteger(v)) throw new Error(`${f.label} must be a whole number (got ${raw})`);
  if (v < f.min || v > f.max) throw new Error(`${f.label} must be between ${f.min} and ${f.max} (got ${raw})`);
  return v;
}

// -------------------------------------------------------------- worker ----

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.addEventListener('error', (e) => {
  showError('The training worker failed to start', `${e.message || 'a script failed to load'}. Check that the build finished ("npm run build").`);
});
const api = Comlink.wrap(worker);

// ---------------------------------------------------------------- charts ----

const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue(name).trim();

function axis(extra = {}) {
  return {
    stroke: color('--muted'),
    grid: { stroke: color('--line'), width: 1 },
    ticks: { stroke: color('--line'), width: 1, size: 4 },
    font: '11px system-ui, sans-serif',
    ...extra,
  };
}

function makeChart(el, series, axes, scales) {
  const chart = new uPlot({
    width: Math.max(200, el.clientWidth),
    height: el.clientHeight || 240,
    legend: { show: false },
    cursor: { points: { size: 6 }, drag: { x: true, y: false } },
    scales: { x: { time: false }, ...scales },
    series: [{}, ...series],
    axes,
    padding: [8, 16, 0, 0],
  }, series.map(() => []).concat([[]]), el);
  new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height: el.clientHeight || 240 })).observe(el);
  return chart;
}

const lossChart = makeChart($('loss-chart'), [
  { label: 'loss', stroke: color('--chart-raw'), width: 1, points: { show: false } },
  { label: 'smoothed', stroke: color('--chart-ema'), width: 2, points: { show: false } },
  { label: 'epoch mean', stroke: color('--chart-epoch'), width: 0, paths: () => null, points: { show: true, size: 8, fill: color('--chart-epoch'), stroke: color('--card') } },
], [
  axis({ size: 32 }),
  axis({ size: 44, values: (u, vals) => vals.map((v) => +v.toFixed(3)) }),
], { y: { range: (u, min, max) => [0, Number.isFinite(max) ? max * 1.05 : 2.5] } });

const epochChart = makeChart($('epoch-chart'), [
  { label: 'train loss', stroke: color('--chart-epoch'), width: 2, points: { show: true, size: 6, fill: color('--chart-epoch') } },
  { label: 'test loss', stroke: color('--chart-test'), width: 2, points: { show: true, size: 6, fill: color('--chart-test') } },
  { label: 'test accuracy', stroke: color('--chart-acc'), width: 2, scale: '%', points: { show: true, size: 6, fill: color('--chart-acc') } },
], [
  axis({ size: 32, space: 64, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (u, vals) => vals.map((v) => (Number.isInteger(v) && v >= 1 ? `epoch ${v}` : '')) }),
  axis({ size: 44, values: (u, vals) => vals.map((v) => +v.toFixed(3)) }),
  axis({ side: 1, scale: '%', size: 48, grid: { show: false }, values: (u, vals) => vals.map((v) => `${+v.toFixed(1)}%`) }),
], {
  x: { time: false, range: (u, min, max) => [0.5, Math.max((max ?? 0) + 0.5, 2.5)] },
  y: { range: (u, min, max) => [0, Number.isFinite(max) ? max * 1.1 : 1] },
  '%': { range: (u, min, max) => [Number.isFinite(min) ? Math.max(0, Math.floor(min - 5)) : 0, 100] },
});

const finiteOrNull = (v) => (Number.isFinite(v) ? v : null);

function pushLoss(step, loss) {
  lossSeries.x.push(step);
  lossSeries.raw.push(finiteOrNull(loss));
  if (Number.isFinite(loss)) {
    lossSeries.emaState = EMA_BETA * lossSeries.emaState + (1 - EMA_BETA) * loss;
    lossSeries.emaCount++;
    lossSeries.ema.push(lossSeries.emaState / (1 - EMA_BETA ** lossSeries.emaCount));
  } else {
    lossSeries.ema.push(null);
  }
  lossSeries.epochMean.push(null);
}

function resetCharts() {
  Object.assign(lossSeries, { x: [], raw: [], ema: [], epochMean: [], emaState: 0, emaCount: 0 });
  Object.assign(epochSeries, { x: [], trainLoss: [], testLoss: [], testAccuracy: [] });
}

/** An ended epoch: its mean loss shows as a dot at its last step. */
function pushEpoch(epoch, step, trainLoss, testLoss, testAccuracy) {
  const i = lossSeries.x.lastIndexOf(step);
  if (i >= 0) lossSeries.epochMean[i] = finiteOrNull(trainLoss);
  epochSeries.x.push(epoch);
  epochSeries.trainLoss.push(finiteOrNull(trainLoss));
  epochSeries.testLoss.push(finiteOrNull(testLoss));
  epochSeries.testAccuracy.push(Number.isFinite(testAccuracy) ? testAccuracy * 100 : null);
  if (Number.isFinite(testAccuracy)) ui.lastTestAccuracy = testAccuracy;
}

/** After a resume the curves restart from the checkpoint's own history. */
function loadHistory(h) {
  resetCharts();
  for (let i = 0; i < h.stepLoss.length; i++) pushLoss(i + 1, h.stepLoss[i]);
  ui.lastTestAccuracy = NaN;
  for (let e = 0; e < h.epochLoss.length; e++) {
    // Batch size and data are fixed within a run, so epoch e ended at step e * stepsPerEpoch.
    pushEpoch(e + 1, (e + 1) * h.stepsPerEpoch, h.epochLoss[e], h.epochTestLoss[e], h.epochTestAccuracy[e]);
  }
}

// Each chart redraws only when its own data changed: the per-epoch chart once
// per epoch, not with every progress event.
let chartsDirty = false, epochChartDirty = false;
function drawCharts() {
  if (chartsDirty) lossChart.setData([lossSeries.x, lossSeries.raw, lossSeries.ema, lossSeries.epochMean]);
  if (epochChartDirty) epochChart.setData([epochSeries.x, epochSeries.trainLoss, epochSeries.testLoss, epochSeries.testAccuracy]);
  chartsDirty = false;
  epochChartDirty = false;
}

// ---------------------------------------------------------------- render ----

let frameQueued = false;
function scheduleRender() {
  if (frameQueued) return;
  frameQueued = true;
  // rAF pauses in hidden tabs, which is fine: nothing to see there.
  requestAnimationFrame(() => {
    frameQueued = false;
    renderProgress();
    drawCharts();
  });
}

// Results get frames of their own (grid, then matrix), apart from the progress redraw.
let resultsQueued = false;
function scheduleResults() {
  if (resultsQueued) return;
  resultsQueued = true;
  requestAnimationFrame(() => {
    renderGrid();
    requestAnimationFrame(() => {
      resultsQueued = false;
      renderConfusion();
    });
  });
}

function statusText() {
  const s = ui.state;
  if (s === STATE.LOADING) {
    const p = ui.dataProgress;
    return p && p.total ? `Loading the data… ${formatBytes(p.received)} of ${formatBytes(p.total)}` : 'Loading the data…';
  }
  if (s === STATE.READY && !ui.hasSession) {
    return `Ready: ${nf.format(ui.data?.trainCount ?? 0)} training images. Press Start.`;
  }
  const target = ui.epochsTarget, spe = ui.stepsPerEpoch;
  const done = ui.epoch >= target;
  const epochShown = done ? target : ui.epoch + 1;
  const batch = done ? spe : ui.epochStep;
  const total = target * spe;
  const parts = [`epoch ${epochShown}/${target}`, `batch ${batch}/${spe}`, `step ${ui.step}/${total}`];
  if (s === STATE.RUNNING) {
    parts.push(Number.isFinite(ui.samplesPerSecond) ? `${nf.format(Math.round(ui.samplesPerSecond))} samples/s` : '… samples/s');
    parts.push(`ETA ${formatDuration(ui.etaSeconds)}`);
    return parts.join(' · ');
  }
  if (s === STATE.PAUSED) return `paused · ${parts.join(' · ')}`;
  if (s === STATE.STOPPED) {
    if (done) return `done · ${parts.join(' · ')}${Number.isFinite(ui.lastTestAccuracy) ? ` · test accuracy ${formatPercent(ui.lastTestAccuracy)}` : ''}`;
    return `stopped · ${parts.join(' · ')}`;
  }
  return parts.join(' · ');
}

function renderProgress() {
  setText('status', statusText());
  const pill = $('state-pill');
  const label = ui.state === STATE.STOPPED && ui.finished ? 'done' : ui.state;
  if (pill.textContent !== label) {
    pill.textContent = label;
    pill.dataset.state = ui.state;
  }
  let frac = 0;
  if (ui.state === STATE.LOADING && ui.dataProgress?.total) frac = ui.dataProgress.received / ui.dataProgress.total;
  else if (ui.stepsPerEpoch) frac = ui.epoch >= ui.epochsTarget && ui.hasSession ? 1 : ui.epochStep / ui.stepsPerEpoch;
  const bar = $('epoch-bar'), transform = `scaleX(${frac.toFixed(3)})`;
  if (bar.style.transform !== transform) bar.style.transform = transform;
  const done = ui.hasSession && ui.epoch >= ui.epochsTarget;
  if (bar.classList.contains('done') !== done) bar.classList.toggle('done', done);
  const pct = String(Math.round(frac * 100));
  if ($('epoch-progress').getAttribute('aria-valuenow') !== pct) $('epoch-progress').setAttribute('aria-valuenow', pct);
  const ema = lossSeries.ema.length ? lossSeries.ema[lossSeries.ema.length - 1] : NaN;
  setText('m-loss', formatLoss(ema ?? NaN));
  setText('m-acc', formatPercent(ui.lastTestAccuracy));
  setText('m-rate', ui.state === STATE.RUNNING && Number.isFinite(ui.samplesPerSecond) ? nf.format(Math.round(ui.samplesPerSecond)) : '–');
  setText('m-eta', ui.state === STATE.RUNNING ? formatDuration(ui.etaSeconds) : '–');
  renderButtons();
}

function renderButtons() {
  const s = ui.state;
  const hasData = !!ui.data;
  setDisabled('train-start', !hasData || !simdOk || s === STATE.RUNNING || s === STATE.LOADING);
  setDisabled('train-pause', s !== STATE.RUNNING);
  setDisabled('train-resume', !(s === STATE.PAUSED || (s === STATE.STOPPED && ui.hasSession)));
  setDisabled('train-stop', !(s === STATE.RUNNING || s === STATE.PAUSED));
  const locked = s === STATE.RUNNING || s === STATE.PAUSED;
  for (const id of ['batch-size', 'learning-rate', 'seed']) setDisabled(id, locked);
  setDisabled('data-files', s === STATE.RUNNING);
}

function renderData() {
  const d = ui.data;
  const p = ui.dataProgress;
  if (d) {
    $('data-name').textContent = d.name;
    const lim = limits.trainLimit || limits.testLimit ? ' (first images only: trainLimit/testLimit in the URL)' : '';
    $('data-counts').textContent = `${nf.format(d.trainCount)} train · ${nf.format(d.testCount)} test`;
    $('data-bar').style.transform = 'scaleX(1)';
    $('data-bar').classList.add('done');
    $('data-text').textContent = d.builtin
      ? `${d.fromCache ? 'Loaded from this browser\'s cache' : 'Downloaded and cached for next time'}${lim}.`
      : `Loaded from your files${lim}.`;
  } else if (p) {
    $('data-bar').style.transform = `scaleX(${p.total ? (p.received / p.total).toFixed(4) : 0.05})`;
    $('data-text').textContent = p.total
      ? `${p.fromCache ? 'Reading cache' : 'Downloading'}: ${formatBytes(p.received)} of ${formatBytes(p.total)}`
      : 'Downloading…';
  }
}

// ----------------------------------------------------------- checkpoints ----

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

function renderCheckpoints() {
  const list = $('checkpoint-list');
  const frag = document.createDocumentFragment();
  for (const r of ui.checkpoints) {
    const li = document.createElement('li');
    li.className = 'ckpt';
    li.setAttribute('data-testid', 'checkpoint-item');
    li.dataset.id = r.id;
    li.dataset.step = r.step;
    li.dataset.epoch = r.epoch;
    const title = document.createElement('div');
    title.className = 'ckpt-title';
    title.textContent = `Step ${nf.format(r.step)}`;
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = REASONS[r.reason] ?? r.reason;
    title.append(tag);
    const actions = document.createElement('div');
    actions.className = 'ckpt-actions';
    for (const [testid, label, fn] of [
      ['checkpoint-download', 'Download', () => downloadCheckpoint(r)],
      ['checkpoint-resume', 'Resume', () => resumeFromRecord(r)],
      ['checkpoint-delete', 'Delete', () => deleteCheckpoint(r)],
    ]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `btn${testid === 'checkpoint-delete' ? ' btn-danger' : ''}`;
      b.setAttribute('data-testid', testid);
      b.textContent = label;
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
      ...(r.model ? [r.model] : []),
      `epoch ${epochPosition(r)}`,
      `loss ${formatLoss(r.loss)}`,
      `acc ${formatPercent(r.accuracy)}`,
      formatBytes(r.size),
    ].join(' · ');
    meta.title = `${r.model ? `model ${r.model}, ` : ''}${r.dataName}, ${nf.format(r.trainCount)} training images, batch ${r.batchSize}, learning rate ${r.learningRate}, seed ${r.seed}`;
    li.append(title, when, meta, actions);
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

async function downloadCurrent() {
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
    $('batch-size').value = s.batchSize;
    $('learning-rate').value = s.learningRate;
    $('seed').value = s.seed;
    saveSettings();
  });
}

// -------------------------------------------------------------- recovery ----

let recoveryDismissed = false;

function renderRecovery() {
  const newest = ui.checkpoints[0];
  const unfinished = newest && newest.epoch < newest.epochsTarget;
  const show = unfinished && !recoveryDismissed && !ui.hasSession;
  $('recovery').hidden = !show;
  if (show) {
    $('recovery-text').textContent = ` Saved ${ago(newest.createdAt)} at epoch ${epochPosition(newest)}, step ${nf.format(newest.step)} (loss ${formatLoss(newest.loss)}${Number.isFinite(newest.accuracy) ? `, test accuracy ${formatPercent(newest.accuracy)}` : ''}).`;
  }
}

function hideRecovery() {
  recoveryDismissed = true;
  $('recovery').hidden = true;
}

$('recovery-close').addEventListener('click', hideRecovery);
$('resume-latest').addEventListener('click', () => {
  const newest = ui.checkpoints[0];
  if (newest) resumeFromRecord(newest);
});

// --------------------------------------------------------------- storage ----

let persistAsked = false;
async function requestPersistence() {
  if (persistAsked || !navigator.storage?.persist) return;
  persistAsked = true;
  try {
    // Without it the browser may evict checkpoints under storage pressure.
    const granted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
    setChip('env-storage', true, granted ? 'persistent storage' : 'best-effort storage',
      granted ? 'The browser will not evict the checkpoints.' : 'The browser may evict checkpoints when the disk is nearly full; download the ones you need.');
  } catch { /* unsupported: nothing to show */ }
}

async function updateStorageEstimate() {
  if (!navigator.storage?.estimate) return;
  try {
    const { usage, quota } = await navigator.storage.estimate();
    $('storage-text').textContent = `This site uses ${formatBytes(usage)} of ${formatBytes(quota)} available in this browser.`;
  } catch { /* no estimate */ }
}

// ----------------------------------------------------------------- results ----

// The grid and the matrix are built once, at load, and then updated in place.
// Building 48 canvases at the first epoch end, plus the layout of a grid that
// suddenly appeared, made a 63 ms task mid-training (measured here); updating
// existing cells costs ~1 ms.
const GRID_SIZE = 48;
let gridCells = null;
let gridInput = null; // the [c, h, w] the grid's canvases were built for
let cmCells = null;
let cmClasses = 0; // the class count the matrix was built for

const sameShape = (a, b) => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);

/** The model's sizes changed (a first description, another run's model): rebuild
 *  what depends on them. */
function setModel(model) {
  if (!model) return;
  ui.model = model;
  if (!sameShape(gridInput, model.input)) buildGrid(model.input);
  if (cmClasses !== model.classes) {
    buildConfusion(model.classes);
    buildProbs(model.classes);
  }
}

function buildGrid(input) {
  const [, h, w] = input;
  gridInput = input;
  const frag = document.createDocumentFragment();
  gridCells = [];
  for (let k = 0; k < GRID_SIZE; k++) {
    const cell = document.createElement('div');
    cell.className = 'cell placeholder';
    cell.setAttribute('data-testid', 'result-cell');
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d');
    const label = document.createElement('span');
    const b = document.createElement('b');
    b.textContent = '–';
    const rest = document.createTextNode('');
    label.append(b, rest);
    cell.append(c, label);
    frag.append(cell);
    gridCells.push({ cell, ctx, b, rest, image: ctx.createImageData(w, h) });
  }
  const empty = document.createElement('p');
  empty.className = 'empty grid-empty';
  empty.hidden = true;
  frag.append(empty);
  $('results-grid').replaceChildren(frag);
}

function renderGrid() {
  const r = ui.results;
  if (!r) return;
  if (!sameShape(gridInput, r.input)) buildGrid(r.input);
  // One image is c planes of h*w (C, H, W order): gray for one channel, RGB for three.
  const [c, h, w] = r.input;
  const plane = h * w, size = c * plane;
  const green = c >= 3 ? plane : 0, blue = c >= 3 ? 2 * plane : 0;
  const set = ui.gridMode === 'wrong' ? r.mistakes : r.sample;
  const n = Math.min(GRID_SIZE, set.label.length);
  const empty = $('results-grid').querySelector('.grid-empty');
  empty.hidden = n > 0;
  empty.textContent = ui.gridMode === 'wrong' ? 'No mistakes on these test images.' : 'No test images.';
  for (let k = 0; k < GRID_SIZE; k++) {
    const g = gridCells[k];
    if (k >= n) {
      g.cell.hidden = true;
      continue;
    }
    g.cell.hidden = false;
    const wrong = set.label[k] !== set.predicted[k];
    const d = g.image.data;
    for (let i = 0, o = k * size; i < plane; i++) {
      d[i * 4] = set.pixels[o + i];
      d[i * 4 + 1] = set.pixels[o + green + i];
      d[i * 4 + 2] = set.pixels[o + blue + i];
      d[i * 4 + 3] = 255;
    }
    g.ctx.putImageData(g.image, 0, 0);
    g.cell.classList.remove('placeholder');
    g.cell.classList.toggle('wrong', wrong);
    g.b.textContent = set.predicted[k];
    g.rest.textContent = wrong ? ` ≠ ${set.label[k]}` : '';
    g.cell.title = `test image #${set.index[k]}: label ${set.label[k]}, predicted ${set.predicted[k]}`;
  }
  $('grid-caption').textContent = `predicted label${ui.gridMode === 'wrong' ? ' ≠ true label' : ''} · step ${nf.format(r.step)}`;
}

function buildConfusion(classes) {
  cmClasses = classes;
  const table = document.createElement('table');
  table.className = 'cm';
  const head = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.className = 'axis';
  corner.textContent = 'true╲pred';
  head.append(corner);
  for (let p = 0; p < classes; p++) {
    const th = document.createElement('th');
    th.textContent = p;
    head.append(th);
  }
  const body = table.createTBody();
  cmCells = [];
  for (let t = 0; t < classes; t++) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.textContent = t;
    row.append(th);
    for (let p = 0; p < classes; p++) cmCells.push(row.insertCell());
  }
  $('confusion').replaceChildren(table);
}

function renderConfusion() {
  const r = ui.results;
  if (!r) return;
  const m = r.confusion, K = r.classes;
  if (cmClasses !== K) buildConfusion(K);
  const accent = color('--accent'), danger = color('--danger');
  for (let t = 0; t < K; t++) {
    let rowTotal = 0;
    for (let p = 0; p < K; p++) rowTotal += m[t * K + p];
    for (let p = 0; p < K; p++) {
      const n = m[t * K + p];
      const td = cmCells[t * K + p];
      const share = rowTotal ? n / rowTotal : 0;
      // Diagonal in the accent colour, errors in red; strength = share of that true class.
      const base = t === p ? accent : danger;
      const alpha = t === p ? share : Math.min(1, share * 4);
      const text = n ? String(n) : '';
      if (td.textContent !== text) td.textContent = text;
      td.style.background = n ? `color-mix(in srgb, ${base} ${Math.round(alpha * 100)}%, transparent)` : 'var(--soft)';
      td.style.color = t === p && share > 0.6 ? '#fff' : '';
      td.title = `true ${t}, predicted ${p}: ${n} of ${rowTotal}`;
    }
  }
  $('cm-acc').textContent = `${formatPercent(r.accuracy, 2)} of ${nf.format(r.count)} test images · step ${nf.format(r.step)}`;
}

$('grid-all').addEventListener('click', () => setGridMode('all'));
$('grid-wrong').addEventListener('click', () => setGridMode('wrong'));
function setGridMode(mode) {
  ui.gridMode = mode;
  $('grid-all').classList.toggle('active', mode === 'all');
  $('grid-wrong').classList.toggle('active', mode === 'wrong');
  renderGrid();
}

// ---------------------------------------------------------------- drawing ----

const pad = $('draw-canvas');
const padCtx = pad.getContext('2d', { willReadFrequently: true });
const preview = $('draw-preview').getContext('2d');
const probsList = $('draw-probs');
function buildProbs(classes) {
  const items = [];
  for (let d = 0; d < classes; d++) {
    const li = document.createElement('li');
    li.innerHTML = `<span>${d}</span><div class="p" style="width:0%"></div>`;
    items.push(li);
  }
  probsList.replaceChildren(...items);
}

function clearPad() {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  preview.fillStyle = '#000';
  preview.fillRect(0, 0, preview.canvas.width, preview.canvas.height);
  $('draw-label').textContent = '?';
  $('draw-conf').textContent = 'draw 0–9';
  for (const li of probsList.children) {
    li.classList.remove('top');
    li.lastElementChild.style.width = '0%';
  }
}
clearPad();

/**
 * MNIST-style preprocessing of the drawing: crop to the ink, scale the longer
 * side to 20 px (aspect kept), and place it in 28x28 so its center of mass is
 * at the center, as in LeCun's preparation of the data set. Other input sizes
 * scale the same proportions (20/28 of the side); every channel gets the gray.
 */
function padToInput([C, H, W]) {
  const { width: PW, height: PH } = pad;
  const src = padCtx.getImageData(0, 0, PW, PH).data;
  let x0 = PW, y0 = PH, x1 = -1, y1 = -1;
  for (let y = 0; y < PH; y++) {
    for (let x = 0; x < PW; x++) {
      if (src[(y * PW + x) * 4] > 20) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = (20 * Math.min(H, W)) / 28 / Math.max(bw, bh); // 20 / max(bw, bh) for 28x28
  const w = Math.max(1, Math.round(bw * scale)), h = Math.max(1, Math.round(bh * scale));
  const small = new OffscreenCanvas(W, H);
  const sctx = small.getContext('2d', { willReadFrequently: true });
  sctx.imageSmoothingEnabled = true;
  sctx.imageSmoothingQuality = 'high';
  sctx.fillStyle = '#000';
  sctx.fillRect(0, 0, W, H);
  sctx.drawImage(pad, x0, y0, bw, bh, (W - w) / 2, (H - h) / 2, w, h);
  let px = sctx.getImageData(0, 0, W, H).data;
  const plane = H * W;
  let mass = 0, mx = 0, my = 0;
  for (let i = 0; i < plane; i++) {
    const v = px[i * 4];
    mass += v;
    mx += v * (i % W);
    my += v * Math.floor(i / W);
  }
  const dx = Math.round((W - 1) / 2 - mx / mass), dy = Math.round((H - 1) / 2 - my / mass);
  if (dx || dy) {
    const shifted = new OffscreenCanvas(W, H);
    const c2 = shifted.getContext('2d', { willReadFrequently: true });
    c2.fillStyle = '#000';
    c2.fillRect(0, 0, W, H);
    c2.drawImage(small, dx, dy);
    px = c2.getImageData(0, 0, W, H).data;
  }
  const out = new Float32Array(C * plane);
  if (preview.canvas.width !== W || preview.canvas.height !== H) {
    preview.canvas.width = W;
    preview.canvas.height = H;
  }
  const img = preview.createImageData(W, H);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < C; c++) out[c * plane + i] = px[i * 4] / 255;
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = px[i * 4];
    img.data[i * 4 + 3] = 255;
  }
  preview.putImageData(img, 0, 0);
  return out;
}

let predictBusy = false, predictAgain = false;
async function predictDrawing() {
  if (predictBusy) { predictAgain = true; return; }
  if (!ui.model) return;
  const pixels = padToInput(ui.model.input);
  if (!pixels) return;
  predictBusy = true;
  try {
    const r = await api.predict(Comlink.transfer(pixels, [pixels.buffer]));
    if (!r) {
      $('draw-label').textContent = '?';
      $('draw-conf').textContent = 'train the model first';
    } else {
      $('draw-label').textContent = r.label;
      $('draw-conf').textContent = `${formatPercent(r.probabilities[r.label])} sure`;
      [...probsList.children].forEach((li, d) => {
        li.classList.toggle('top', d === r.label);
        li.lastElementChild.style.width = `${(r.probabilities[d] * 100).toFixed(1)}%`;
      });
    }
  } catch (e) {
    $('draw-conf').textContent = messageOf(e);
  } finally {
    predictBusy = false;
    if (predictAgain) { predictAgain = false; predictDrawing(); }
  }
}

{
  let drawing = false, last = null, lastPredict = 0;
  const point = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
  };
  const line = (a, b) => {
    padCtx.strokeStyle = '#fff';
    padCtx.lineWidth = 20;
    padCtx.lineCap = 'round';
    padCtx.lineJoin = 'round';
    padCtx.beginPath();
    padCtx.moveTo(a[0], a[1]);
    padCtx.lineTo(b[0], b[1]);
    padCtx.stroke();
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    last = point(e);
    line(last, last);
  });
  pad.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const p = point(e);
    line(last, p);
    last = p;
    // Live, but at most ~12 predictions a second.
    if (performance.now() - lastPredict > 80) {
      lastPredict = performance.now();
      predictDrawing();
    }
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    predictDrawing();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('draw-clear').addEventListener('click', clearPad);
}

// ----------------------------------------------------------------- events ----

function onEvent(e) {
  switch (e.type) {
    case EVENT.DATA_PROGRESS:
      ui.dataProgress = e;
      renderData();
      scheduleRender();
      break;
    case EVENT.DATA_READY:
      ui.data = e;
      renderData();
      scheduleRender();
      break;
    case EVENT.STATE:
      applyProgress(e);
      ui.state = e.state;
      ui.finished = !!e.finished;
      if (e.state === STATE.RUNNING) hideRecovery();
      if (e.state === STATE.READY) ui.hasSession = false;
      scheduleRender();
      break;
    case EVENT.PROGRESS: {
      const first = e.step - e.losses.length + 1;
      // Losses arrive exactly once, in order; skip any already plotted (after a history reload).
      const have = lossSeries.x.length ? lossSeries.x[lossSeries.x.length - 1] : 0;
      for (let i = 0; i < e.losses.length; i++) if (first + i > have) pushLoss(first + i, e.losses[i]);
      applyProgress(e);
      ui.samplesPerSecond = e.samplesPerSecond;
      ui.etaSeconds = e.etaSeconds;
      chartsDirty = true;
      scheduleRender();
      break;
    }
    case EVENT.EPOCH:
      pushEpoch(e.epoch, e.step, e.epochLoss, e.testLoss, e.testAccuracy);
      chartsDirty = true;
      epochChartDirty = true;
      scheduleRender();
      break;
    case EVENT.HISTORY:
      applyProgress(e);
      ui.historyStep = e.step;
      ui.hasSession = true;
      loadHistory(e);
      chartsDirty = true;
      epochChartDirty = true;
      scheduleRender();
      break;
    case EVENT.CHECKPOINT_SAVED:
      ui.checkpoints = e.checkpoints;
      renderCheckpoints();
      renderRecovery();
      break;
    case EVENT.CHECKPOINT_ERROR:
      if (e.kind === 'quota') showError('Storage is full', e.message, { label: 'Download checkpoint', run: downloadCurrent });
      else showError('Checkpoint not saved', e.message, { label: 'Download checkpoint', run: downloadCurrent });
      break;
    case EVENT.RESULTS:
      ui.results = e;
      scheduleResults();
      break;
    case EVENT.ERROR:
      showError('Error', e.message);
      break;
    default:
      break;
  }
}

function applyProgress(e) {
  for (const k of ['step', 'epoch', 'epochStep', 'stepsPerEpoch', 'epochsTarget', 'batchSize']) {
    if (e[k] != null) ui[k] = e[k];
  }
  if (e.model && (e.model.name !== ui.model?.name || !sameShape(e.model.input, ui.model?.input) || e.model.classes !== ui.model?.classes)) setModel(e.model);
}

// ---------------------------------------------------------------- buttons ----

$('train-start').addEventListener('click', async () => {
  clearError();
  let params;
  try {
    params = { epochs: readField('epochs'), batchSize: readField('batchSize'), learningRate: readField('learningRate'), seed: readField('seed') };
    pushSettings();
  } catch (e) {
    showError('Check the settings', messageOf(e));
    return;
  }
  saveSettings();
  hideRecovery();
  requestPersistence();
  ui.results = null;
  try {
    await api.start(params);
  } catch (e) {
    showError('Training could not start', messageOf(e));
  }
});

$('train-pause').addEventListener('click', () => api.pause().catch((e) => showError('Could not pause', messageOf(e))));
$('train-resume').addEventListener('click', async () => {
  clearError();
  try {
    await api.resume({ epochs: readField('epochs') });
  } catch (e) {
    showError('Could not resume', messageOf(e));
  }
});
$('train-stop').addEventListener('click', () => api.stop().catch((e) => showError('Could not stop', messageOf(e))));

function pushSettings() {
  const s = { autosaveSeconds: readField('autosaveSeconds'), keepCheckpoints: readField('keepCheckpoints') };
  try { s.epochs = readField('epochs'); } catch { /* only while valid */ }
  api.setSettings(s);
}

for (const f of Object.values(FIELDS)) {
  $(f.id).addEventListener('change', () => {
    saveSettings();
    try {
      pushSettings();
      if (ui.state === STATE.RUNNING || ui.state === STATE.PAUSED) {
        ui.epochsTarget = readField('epochs');
        scheduleRender();
      }
    } catch (e) {
      showError('Check the settings', messageOf(e));
    }
  });
}

$('checkpoint-upload').addEventListener('change', async (e) => {
  const file = e.target.files?.[0];
  e.target.value = ''; // the same file again must fire change again
  await resumeFromFile(file);
});

$('data-files').addEventListener('change', async (e) => {
  const files = [...(e.target.files ?? [])];
  e.target.value = '';
  if (!files.length) return;
  clearError();
  try {
    await api.loadFiles(files);
    resetCharts();
    chartsDirty = true;
    epochChartDirty = true;
    scheduleRender();
  } catch (err) {
    showError('These files cannot be used', messageOf(err));
  }
});

// Drag and drop a checkpoint anywhere on the page; the checkpoints card lights up.
{
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
    resumeFromFile(e.dataTransfer.files[0]);
  });
}

// Save when the page may go away: hidden tabs can be discarded without notice.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') {
    api.checkpointNow('hidden');
  } else {
    // Another tab may have saved or deleted checkpoints meanwhile.
    api.listCheckpoints().then((list) => {
      ui.checkpoints = list;
      renderCheckpoints();
      renderRecovery();
    }, () => {});
  }
});
window.addEventListener('pagehide', () => api.checkpointNow('pagehide'));

// --------------------------------------------------------------- test hooks ----

// Read-only hooks for automated tests and the curious (the UI stays the contract).
window.wasmTrainer = Object.freeze({
  get state() { return ui.state; },
  get step() { return ui.step; },
  get epoch() { return ui.epoch; },
  get epochsTarget() { return ui.epochsTarget; },
  get plottedSteps() { return lossSeries.x.length; },
  /** The step the current session started from (0 for Start, the checkpoint's step after a resume). */
  get historyStep() { return ui.historyStep; },
  get checkpoints() { return ui.checkpoints.map((r) => ({ id: r.id, step: r.step, epoch: r.epoch, reason: r.reason })); },
  get data() { return ui.data && { name: ui.data.name, trainCount: ui.data.trainCount, testCount: ui.data.testCount, fromCache: ui.data.fromCache }; },
  get results() { return ui.results && { accuracy: ui.results.accuracy, count: ui.results.count, step: ui.results.step }; },
  get model() { return ui.model && { ...ui.model }; },
});

// ------------------------------------------------------------------ start ----

setChip('env-simd', simdOk, simdOk ? 'wasm SIMD' : 'no wasm SIMD');
setChip('env-isolated', self.crossOriginIsolated, self.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated',
  'Cross-origin isolation (COOP/COEP) allows SharedArrayBuffer, so training uses the multi-threaded (pthreads) build.');
setChip('env-storage', !!window.indexedDB, window.indexedDB ? 'IndexedDB' : 'no IndexedDB');

loadSettings();
renderButtons();
renderCheckpoints();
if (!simdOk) {
  showError('This browser cannot run wasm-trainer',
    'It does not support WebAssembly SIMD, which the trainer is compiled with. Use a current Chrome, Edge or Firefox, or Safari 16.4 or newer.');
}
const init = await api.init(Comlink.proxy(onEvent), { ...limits, loadBuiltin: simdOk });
setModel(init.model);
if (init.modelError && simdOk) showError('The model could not be loaded', init.modelError);
ui.checkpoints = init.checkpoints;
renderCheckpoints();
renderRecovery();
updateStorageEstimate();
scheduleRender();
