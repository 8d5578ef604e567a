// The page's state, shared by its modules. Only events from the worker
// (main.js onEvent) and the user's actions change it.
import { STATE, limitParam } from '../shared.js';

export const ui = {
  state: STATE.LOADING,
  step: 0, epoch: 0, epochStep: 0, stepsPerEpoch: 0, epochsTarget: 0, batchSize: 0,
  samplesPerSecond: NaN, etaSeconds: NaN, finished: false, hasSession: false,
  data: null, // DATA_READY payload: { id, name, shape, classNames, trainCount, ... }
  dataProgress: null,
  lastTestAccuracy: NaN,
  historyStep: null,
  checkpoints: [],
  results: null,
  gridMode: 'all',
  // The model of the current run, or (before one) the one Start trains:
  // { name, input: [c, h, w], classes, params }, from the worker. The grid, the
  // matrix and the drawing pad take their sizes from it.
  model: null,
};

export const limits = {
  trainLimit: limitParam(location.search, 'trainLimit'),
  testLimit: limitParam(location.search, 'testLimit'),
};

export const sameShape = (a, b) => !!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]);
