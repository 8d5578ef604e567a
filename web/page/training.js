// The progress card (state, status line, epoch bar, metrics) and the training
// buttons: Start, Pause, Resume, Stop. Redraws are coalesced into at most one
// per animation frame, so the main thread stays far below the 50 ms long-task
// bound while training runs.
import { $, nf, setDisabled, setText } from './dom.js';
import { clearError, messageOf, showError } from './errors.js';
import { drawCharts, lastSmoothedLoss } from './charts.js';
import { FIELDS, readField, runParams, saveSettings, workerSettings } from './settings.js';
import { ui } from './state.js';
import { api } from './worker-client.js';
import { STATE, formatBytes, formatDuration, formatLoss, formatPercent } from '../shared.js';

// What the other parts tell this one (set by init).
const hooks = {
  startBlocked: () => false, // the model picker: a spec that is invalid or does not fit the data
  model: () => undefined, // the model Start trains (preset name or spec JSON)
  modelLocked: () => {}, // locks the pickers while a run is on
  beforeStart: () => {}, // hide the recovery offer, ask for persistent storage
  afterResume: () => {}, // the picker shows the session's model again
  simdOk: true,
};

let frameQueued = false;
export function scheduleRender() {
  if (frameQueued) return;
  frameQueued = true;
  // rAF pauses in hidden tabs, which is fine: nothing to see there.
  requestAnimationFrame(() => {
    frameQueued = false;
    renderProgress();
    drawCharts();
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

/** "lenet5 · MNIST": the model of the run (or the one Start trains) and the data. */
function runLabel() {
  const parts = [];
  if (ui.model) parts.push(ui.model.name);
  if (ui.data) parts.push(ui.data.name);
  return parts.join(' · ');
}

export function renderProgress() {
  setText('status', statusText());
  // The state this text was rendered for: tests wait for it (the step count alone
  // cannot tell "epoch 20/20 · step 200/200 · ETA 0:00" from "done · … step 200/200").
  const status = $('status');
  if (status.dataset.state !== ui.state) status.dataset.state = ui.state;
  setText('run-model', runLabel());
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
  setText('m-loss', formatLoss(lastSmoothedLoss()));
  setText('m-acc', formatPercent(ui.lastTestAccuracy));
  setText('m-rate', ui.state === STATE.RUNNING && Number.isFinite(ui.samplesPerSecond) ? nf.format(Math.round(ui.samplesPerSecond)) : '–');
  setText('m-eta', ui.state === STATE.RUNNING ? formatDuration(ui.etaSeconds) : '–');
  renderButtons();
}

export function renderButtons() {
  const s = ui.state;
  const hasData = !!ui.data;
  setDisabled('train-start', !hasData || !hooks.simdOk || s === STATE.RUNNING || s === STATE.LOADING || hooks.startBlocked());
  setDisabled('train-pause', s !== STATE.RUNNING);
  setDisabled('train-resume', !(s === STATE.PAUSED || (s === STATE.STOPPED && ui.hasSession)));
  setDisabled('train-stop', !(s === STATE.RUNNING || s === STATE.PAUSED));
  const locked = s === STATE.RUNNING || s === STATE.PAUSED;
  for (const id of ['batch-size', 'learning-rate', 'seed']) setDisabled(id, locked);
  setDisabled('data-files', s === STATE.RUNNING);
  setDisabled('dataset-select', s === STATE.RUNNING || s === STATE.LOADING);
  hooks.modelLocked(locked);
}

/** Sends the worker its settings; throws naming a bad field. */
export function pushSettings() {
  api.setSettings(workerSettings());
}

export function initTraining(h) {
  Object.assign(hooks, h);

  $('train-start').addEventListener('click', async () => {
    clearError();
    let params;
    try {
      params = runParams();
      pushSettings();
    } catch (e) {
      showError('Check the settings', messageOf(e));
      return;
    }
    saveSettings();
    hooks.beforeStart();
    ui.results = null;
    try {
      await api.start({ ...params, model: hooks.model() });
    } catch (e) {
      showError('Training could not start', messageOf(e));
    }
  });

  $('train-pause').addEventListener('click', () => api.pause().catch((e) => showError('Could not pause', messageOf(e))));
  $('train-resume').addEventListener('click', async () => {
    clearError();
    try {
      await api.resume({ epochs: readField('epochs') });
      hooks.afterResume();
    } catch (e) {
      showError('Could not resume', messageOf(e));
    }
  });
  $('train-stop').addEventListener('click', () => api.stop().catch((e) => showError('Could not stop', messageOf(e))));

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
}
