// The results panel: a grid of test images with their predicted (and, when
// wrong, true) class, and the confusion matrix. Class names come from the data
// set (digits for MNIST, Fashion-MNIST's names, ...). Colour images ([3, h, w])
// are drawn in colour.
//
// The grid and the matrix are built once per shape and then updated in place.
// Building 48 canvases at the first epoch end, plus the layout of a grid that
// suddenly appeared, made a 63 ms task mid-training (measured here); updating
// existing cells costs ~1 ms.
//
// Later updates (every epoch end, and at a stop) write only what changed, a
// quarter of the grid per frame: a cell whose test image is already drawn is not
// drawn again (the first 48 test images never change between epochs), and the
// matrix's colours come from a palette read once per theme (reading the theme's
// CSS variables forced a style recalculation of the whole page in the frame
// callback). Redrawing the 48 canvases and restyling the 100 matrix cells at once
// made a 62 ms frame (render 37 ms, style and layout 28 ms) on a loaded machine.
import { $, cssVar, nf } from './dom.js';
import { sameShape, ui } from './state.js';
import { className, formatPercent } from '../shared.js';

const GRID_SIZE = 48;
let gridCells = null;
let gridInput = null; // the [c, h, w] the grid's canvases were built for
let cmCells = null;
let cmHeads = null; // the matrix's header cells, renamed when the class names change
let cmClasses = 0; // the class count the matrix was built for

const names = () => ui.data?.classNames ?? null;

/** Rebuilds what depends on the model's sizes (a first description, another run's model). */
export function buildForModel(model) {
  if (!sameShape(gridInput, model.input)) buildGrid(model.input);
  if (cmClasses !== model.classes) buildConfusion(model.classes);
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
    c.setAttribute('role', 'img');
    c.title = 'no prediction yet';
    const ctx = c.getContext('2d');
    const pred = document.createElement('b');
    pred.textContent = '–';
    const truth = document.createElement('span');
    truth.className = 'truth';
    cell.append(c, pred, truth);
    frag.append(cell);
    gridCells.push({ cell, canvas: c, ctx, pred, truth, image: ctx.createImageData(w, h), shown: -1 });
  }
  const empty = document.createElement('p');
  empty.className = 'empty grid-empty';
  empty.hidden = true;
  frag.append(empty);
  $('results-grid').replaceChildren(frag);
}

/** Draws cells [from, to) of the grid (all by default); the frame loop below
 *  draws it in halves, so no frame uploads all 48 canvases at once. */
export function renderGrid(from = 0, to = GRID_SIZE) {
  const r = ui.results;
  if (!r) return;
  if (!sameShape(gridInput, r.input)) buildGrid(r.input);
  // One image is c planes of h*w (C, H, W order): gray for one channel, RGB for three.
  const [c, h, w] = r.input;
  const plane = h * w, size = c * plane;
  const green = c >= 3 ? plane : 0, blue = c >= 3 ? 2 * plane : 0;
  const set = ui.gridMode === 'wrong' ? r.mistakes : r.sample;
  const n = Math.min(GRID_SIZE, set.label.length);
  if (from === 0) {
    const empty = $('results-grid').querySelector('.grid-empty');
    empty.hidden = n > 0;
    empty.textContent = ui.gridMode === 'wrong' ? 'No mistakes on these test images.' : 'No test images.';
    $('grid-caption').textContent = `predicted class${ui.gridMode === 'wrong' ? ' ≠ true class' : ''} · step ${nf.format(r.step)}`;
  }
  const cn = names();
  for (let k = from; k < to; k++) {
    const g = gridCells[k];
    if (k >= n) {
      g.cell.hidden = true;
      continue;
    }
    g.cell.hidden = false;
    const wrong = set.label[k] !== set.predicted[k];
    // The same test image (the grid is rebuilt for other data or another shape): drawn already.
    if (g.shown !== set.index[k]) {
      const d = g.image.data;
      for (let i = 0, o = k * size; i < plane; i++) {
        d[i * 4] = set.pixels[o + i];
        d[i * 4 + 1] = set.pixels[o + green + i];
        d[i * 4 + 2] = set.pixels[o + blue + i];
        d[i * 4 + 3] = 255;
      }
      g.ctx.putImageData(g.image, 0, 0);
      g.shown = set.index[k];
    }
    if (g.cell.classList.contains('placeholder')) g.cell.classList.remove('placeholder');
    if (g.cell.classList.contains('wrong') !== wrong) g.cell.classList.toggle('wrong', wrong);
    const predicted = className(cn, set.predicted[k]), truth = className(cn, set.label[k]);
    // Only what changed: each write invalidates style and layout.
    const shown = wrong ? `≠ ${truth}` : '';
    if (g.pred.textContent !== predicted) g.pred.textContent = predicted;
    if (g.truth.textContent !== shown) g.truth.textContent = shown;
    // The canvas's title is its accessible name (role img) and its tooltip.
    const text = `test image #${set.index[k]}: ${truth}, predicted ${predicted}`;
    if (g.canvas.title !== text) g.canvas.title = text;
  }
}

/** Column heads: the names when all are short (digits), else the class numbers
 *  (the row heads give number and name). */
function columnLabel(cn, p) {
  const short = !cn || cn.every((s) => s.length <= 3);
  return short ? className(cn, p) : String(p);
}

function buildConfusion(classes) {
  cmClasses = classes;
  const table = document.createElement('table');
  table.className = 'cm';
  const caption = document.createElement('caption');
  caption.className = 'sr-only';
  caption.textContent = 'Confusion matrix: rows are the true classes, columns the predicted ones; each cell counts test images.';
  table.append(caption);
  const head = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.className = 'axis';
  corner.scope = 'col';
  corner.textContent = 'true╲pred';
  head.append(corner);
  cmHeads = { cols: [], rows: [], names: undefined };
  for (let p = 0; p < classes; p++) {
    const th = document.createElement('th');
    th.scope = 'col';
    head.append(th);
    cmHeads.cols.push(th);
  }
  const body = table.createTBody();
  cmCells = [];
  for (let t = 0; t < classes; t++) {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    row.append(th);
    cmHeads.rows.push(th);
    for (let p = 0; p < classes; p++) cmCells.push({ td: row.insertCell(), label: '', bg: '', ink: '', title: '' });
  }
  $('confusion').replaceChildren(table);
  nameConfusion();
}

/** Head labels from the current class names (once per change of names). */
function nameConfusion() {
  const cn = names();
  if (cmHeads.names === cn) return;
  cmHeads.names = cn;
  const long = cn && !cn.every((s) => s.length <= 3);
  cmHeads.cols.forEach((th, p) => {
    th.textContent = columnLabel(cn, p);
    th.title = long ? `predicted ${className(cn, p)}` : '';
  });
  cmHeads.rows.forEach((th, t) => {
    th.textContent = long ? `${t} ${className(cn, t)}` : className(cn, t);
  });
  $('confusion').classList.toggle('named', !!long);
}

// ------------------------------------------------------ matrix colours ----

function parseColor(text) {
  const m = text.match(/^#([0-9a-f]{6})$/i);
  if (m) return [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16));
  const r = text.match(/rgba?\(([^)]+)\)/);
  if (r) return r[1].split(/[ ,/]+/).slice(0, 3).map(Number);
  return [128, 128, 128];
}
const luminance = (rgb) => {
  const [r, g, b] = rgb.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const contrast = (a, b) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

/** A cell's background (base over the card at `alpha`) and its text colour:
 *  the page's text where it reads at 4.5:1 (WCAG AA), else white or black,
 *  whichever contrasts more (one of them always reaches 4.58:1). */
function cellColors(base, card, text, alpha) {
  const rgb = base.map((v, i) => Math.round(v * alpha + card[i] * (1 - alpha)));
  const white = [255, 255, 255], black = [0, 0, 0];
  const ink = contrast(rgb, text) >= 4.5 ? text : (contrast(rgb, white) >= contrast(rgb, black) ? white : black);
  return [`rgb(${rgb.join(',')})`, `rgb(${ink.join(',')})`];
}

// The theme's colours, read once per theme (reading CSS variables forces a style
// recalculation); the colour-scheme listener below drops them.
let palette = null;
const themeColours = () => (palette ??= {
  accent: parseColor(cssVar('--accent')), danger: parseColor(cssVar('--danger')),
  card: parseColor(cssVar('--card')), text: parseColor(cssVar('--text')),
});

export function renderConfusion() {
  const r = ui.results;
  if (!r) return;
  const m = r.confusion, K = r.classes;
  if (cmClasses !== K) buildConfusion(K);
  nameConfusion();
  const { accent, danger, card, text } = themeColours();
  const cn = names();
  for (let t = 0; t < K; t++) {
    let rowTotal = 0;
    for (let p = 0; p < K; p++) rowTotal += m[t * K + p];
    for (let p = 0; p < K; p++) {
      const n = m[t * K + p];
      const c = cmCells[t * K + p];
      const share = rowTotal ? n / rowTotal : 0;
      // Diagonal in the accent colour, errors in red; strength = share of that true class.
      const alpha = t === p ? share : Math.min(1, share * 4);
      const label = n ? String(n) : '';
      const [bg, ink] = n ? cellColors(t === p ? accent : danger, card, text, alpha) : ['var(--soft)', ''];
      const title = `true ${className(cn, t)}, predicted ${className(cn, p)}: ${n} of ${rowTotal}`;
      // Only what changed: each write invalidates the cell's style.
      if (c.label !== label) c.td.textContent = c.label = label;
      if (c.bg !== bg) c.td.style.background = c.bg = bg;
      if (c.ink !== ink) c.td.style.color = c.ink = ink;
      if (c.title !== title) c.td.title = c.title = title;
    }
  }
  $('cm-acc').textContent = `${formatPercent(r.accuracy, 2)} of ${nf.format(r.count)} test images · step ${nf.format(r.step)}`;
}

let resultsQueued = false;
/** Results get frames of their own (the grid in quarters, then the matrix), apart
 *  from the progress redraw: 48 canvases and their labels in one frame made a task
 *  of over 50 ms (measured here). */
export function scheduleResults() {
  if (resultsQueued) return;
  resultsQueued = true;
  const parts = 4, per = GRID_SIZE / parts;
  const step = (k) => requestAnimationFrame(() => {
    if (k < parts) {
      renderGrid(k * per, (k + 1) * per);
      step(k + 1);
    } else {
      resultsQueued = false;
      renderConfusion();
    }
  });
  step(0);
}

/** Other data: the results shown (of the last session, on the old data) go,
 *  and the heads take the new class names. */
export function clearResults() {
  ui.results = null;
  if (gridInput) buildGrid(gridInput);
  if (cmClasses) buildConfusion(cmClasses);
  $('grid-caption').textContent = 'predictions appear after the first epoch';
  $('cm-acc').textContent = 'after the first epoch';
}

export function initResults() {
  const setGridMode = (mode) => {
    ui.gridMode = mode;
    for (const [id, m] of [['grid-all', 'all'], ['grid-wrong', 'wrong']]) {
      $(id).classList.toggle('active', mode === m);
      $(id).setAttribute('aria-pressed', String(mode === m));
    }
    renderGrid();
  };
  // The matrix's colours are computed from the theme's: recompute when it changes.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    palette = null;
    if (ui.results) scheduleResults();
  });
  $('grid-all').addEventListener('click', () => setGridMode('all'));
  $('grid-wrong').addEventListener('click', () => setGridMode('wrong'));
}
