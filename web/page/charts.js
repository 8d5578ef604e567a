// The two uPlot charts: loss per step (raw, smoothed, epoch means) and per
// epoch (train loss, test loss, test accuracy). Series grow as progress
// arrives; each chart redraws only when its own data changed.
import uPlot from 'uplot';
import { $, cssVar as color } from './dom.js';

// Plain arrays: uPlot reads them as they are.
const lossSeries = { x: [], raw: [], ema: [], epochMean: [], emaState: 0, emaCount: 0 };
const epochSeries = { x: [], trainLoss: [], testLoss: [], testAccuracy: [] };
const EMA_BETA = 0.9; // ~10-step window; debiased like TensorBoard's smoothing

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

let lossDirty = false, epochDirty = false;

/** Losses of steps first, first+1, ... (skipping steps already plotted: after a
 *  history reload a progress event may repeat some). */
export function pushLosses(first, losses) {
  const have = lossSeries.x.length ? lossSeries.x[lossSeries.x.length - 1] : 0;
  for (let i = 0; i < losses.length; i++) if (first + i > have) pushLoss(first + i, losses[i]);
  lossDirty = true;
}

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

export function resetCharts() {
  Object.assign(lossSeries, { x: [], raw: [], ema: [], epochMean: [], emaState: 0, emaCount: 0 });
  Object.assign(epochSeries, { x: [], trainLoss: [], testLoss: [], testAccuracy: [] });
  lossDirty = epochDirty = true;
}

/** An ended epoch: its mean loss shows as a dot at its last step. */
export function pushEpoch(epoch, step, trainLoss, testLoss, testAccuracy) {
  const i = lossSeries.x.lastIndexOf(step);
  if (i >= 0) lossSeries.epochMean[i] = finiteOrNull(trainLoss);
  epochSeries.x.push(epoch);
  epochSeries.trainLoss.push(finiteOrNull(trainLoss));
  epochSeries.testLoss.push(finiteOrNull(testLoss));
  epochSeries.testAccuracy.push(Number.isFinite(testAccuracy) ? testAccuracy * 100 : null);
  lossDirty = epochDirty = true;
}

/** After a resume the curves restart from the checkpoint's own history.
 *  Returns the last test accuracy in it (NaN when none). */
export function loadHistory(h) {
  resetCharts();
  for (let i = 0; i < h.stepLoss.length; i++) pushLoss(i + 1, h.stepLoss[i]);
  let accuracy = NaN;
  for (let e = 0; e < h.epochLoss.length; e++) {
    // Batch size and data are fixed within a run, so epoch e ended at step e * stepsPerEpoch.
    pushEpoch(e + 1, (e + 1) * h.stepsPerEpoch, h.epochLoss[e], h.epochTestLoss[e], h.epochTestAccuracy[e]);
    if (Number.isFinite(h.epochTestAccuracy[e])) accuracy = h.epochTestAccuracy[e];
  }
  return accuracy;
}

/** The smoothed loss of the last step (NaN before any). */
export const lastSmoothedLoss = () => (lossSeries.ema.length ? lossSeries.ema[lossSeries.ema.length - 1] ?? NaN : NaN);

export const plottedSteps = () => lossSeries.x.length;

export function drawCharts() {
  if (lossDirty) lossChart.setData([lossSeries.x, lossSeries.raw, lossSeries.ema, lossSeries.epochMean]);
  if (epochDirty) epochChart.setData([epochSeries.x, epochSeries.trainLoss, epochSeries.testLoss, epochSeries.testAccuracy]);
  lossDirty = false;
  epochDirty = false;
}
