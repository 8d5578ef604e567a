// The page: start-up and event routing. It owns no wasm: everything heavy runs
// in worker.js, reached through Comlink (page/worker-client.js). The worker
// reports through one callback (events in shared.js), routed here to the
// page's parts:
//
//   page/training.js      progress card (status, bar, metrics) and Start/Pause/Resume/Stop
//   page/charts.js        loss per step and per epoch (uPlot)
//   page/data-picker.js   the dataset picker and the data's loading state
//   page/model-picker.js  the model picker, the custom spec editor, the layer table
//   page/checkpoints.js   checkpoint list, upload/drop to resume, the recovery offer
//   page/results.js       test images with their predictions, the confusion matrix
//   page/drawing.js       the drawing pad (page/draw-input.js: the drawing as input)
//   page/settings.js      the settings form and its memory
//   page/errors.js        the error banner
//   page/environment.js   SIMD, isolation and storage chips
import { loadHistory, plottedSteps, pushEpoch, pushLosses, resetCharts } from './page/charts.js';
import {
  downloadCurrent, hideRecovery, initCheckpoints, renderCheckpoints, setCheckpoints,
} from './page/checkpoints.js';
import { initDataPicker, loadDataFiles, renderData } from './page/data-picker.js';
import { initDrawing, setupPad } from './page/drawing.js';
import {
  requestPersistence, showEnvironment, simdOk, updateStorageEstimate,
} from './page/environment.js';
import { showError } from './page/errors.js';
import {
  chosenSource, dataChanged, initModelPicker, savedSource, setModelLocked, showSessionModel, startBlocked,
} from './page/model-picker.js';
import { buildForModel, clearResults, initResults, scheduleResults } from './page/results.js';
import { loadSettings } from './page/settings.js';
import { sameShape, limits, ui } from './page/state.js';
import { initTraining, pushSettings, renderButtons, scheduleRender } from './page/training.js';
import { api, Comlink } from './page/worker-client.js';
import { EVENT, STATE } from './shared.js';

// ----------------------------------------------------------------- events ----

/** The model shown changed (a first description, another run's model, the
 *  picker's choice before a run): rebuild what depends on its sizes. */
function setModel(model) {
  if (!model) return;
  ui.model = model;
  buildForModel(model);
  setupPad();
}

function applyProgress(e) {
  for (const k of ['step', 'epoch', 'epochStep', 'stepsPerEpoch', 'epochsTarget', 'batchSize']) {
    if (e[k] != null) ui[k] = e[k];
  }
  if (e.model && (e.model.name !== ui.model?.name || !sameShape(e.model.input, ui.model?.input) || e.model.classes !== ui.model?.classes)) setModel(e.model);
}

function onEvent(e) {
  switch (e.type) {
    case EVENT.DATA_PROGRESS:
      ui.dataProgress = e;
      renderData();
      scheduleRender();
      break;
    case EVENT.DATA_READY: {
      const other = !!ui.data; // a switch of data (not the first load): the session ended
      ui.data = e;
      renderData();
      dataChanged();
      if (other) clearResults();
      setupPad();
      scheduleRender();
      break;
    }
    case EVENT.STATE:
      applyProgress(e);
      ui.state = e.state;
      ui.finished = !!e.finished;
      if (e.state === STATE.RUNNING) hideRecovery();
      if (e.state === STATE.READY) ui.hasSession = false;
      scheduleRender();
      break;
    case EVENT.PROGRESS:
      pushLosses(e.step - e.losses.length + 1, e.losses);
      applyProgress(e);
      ui.samplesPerSecond = e.samplesPerSecond;
      ui.etaSeconds = e.etaSeconds;
      scheduleRender();
      break;
    case EVENT.EPOCH:
      pushEpoch(e.epoch, e.step, e.epochLoss, e.testLoss, e.testAccuracy);
      if (Number.isFinite(e.testAccuracy)) ui.lastTestAccuracy = e.testAccuracy;
      scheduleRender();
      break;
    case EVENT.HISTORY:
      applyProgress(e);
      ui.historyStep = e.step;
      ui.hasSession = true;
      ui.lastTestAccuracy = loadHistory(e);
      scheduleRender();
      break;
    case EVENT.CHECKPOINT_SAVED:
      setCheckpoints(e.checkpoints);
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

// Save when the page may go away: hidden tabs can be discarded without notice.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') {
    api.checkpointNow('hidden');
  } else {
    // Another tab may have saved or deleted checkpoints meanwhile.
    api.listCheckpoints().then(setCheckpoints, () => {});
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
  get plottedSteps() { return plottedSteps(); },
  /** The step the current session started from (0 for Start, the checkpoint's step after a resume). */
  get historyStep() { return ui.historyStep; },
  get checkpoints() { return ui.checkpoints.map((r) => ({ id: r.id, step: r.step, epoch: r.epoch, reason: r.reason, model: r.model, dataName: r.dataName })); },
  get data() { return ui.data && { name: ui.data.name, trainCount: ui.data.trainCount, testCount: ui.data.testCount, fromCache: ui.data.fromCache }; },
  get results() { return ui.results && { accuracy: ui.results.accuracy, count: ui.results.count, step: ui.results.step }; },
  get model() { return ui.model && { ...ui.model }; },
  /** Why Start is disabled by the model picker (null when it is not). */
  get startBlocked() { return startBlocked(); },
});

// ------------------------------------------------------------------ start ----

showEnvironment();
const saved = loadSettings();
initResults();
initDrawing();
initCheckpoints({ onResumed: showSessionModel, onDataDropped: loadDataFiles });
initTraining({
  simdOk,
  startBlocked: () => !!startBlocked(),
  model: chosenSource,
  modelLocked: setModelLocked,
  beforeStart: () => { hideRecovery(); requestPersistence(); },
  afterResume: () => api.status().then(showSessionModel),
});
renderButtons();
renderCheckpoints();
if (!simdOk) {
  showError('This browser cannot run wasm-trainer',
    'It does not support WebAssembly SIMD, which the trainer is compiled with. Use a current Chrome, Edge or Firefox, or Safari 16.4 or newer.');
}
const init = await api.init(Comlink.proxy(onEvent), { ...limits, loadBuiltin: simdOk, model: savedSource(saved) });
setModel(init.model);
initModelPicker({ presets: init.presets, model: init.modelDescription, modelError: init.modelError }, saved, { onChange: renderButtons });
initDataPicker({
  datasets: init.datasets,
  onChanged: () => { resetCharts(); scheduleRender(); },
});
if (init.modelError && simdOk && !init.presets.length) showError('The model could not be loaded', init.modelError);
try { pushSettings(); } catch { /* shown when the field is used */ }
setCheckpoints(init.checkpoints);
updateStorageEstimate();
scheduleRender();
