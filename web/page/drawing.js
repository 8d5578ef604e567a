// The drawing pad: draw with the mouse or a finger, see what the network
// predicts, live. Shown only for models that take one 28x28 channel (MNIST's
// shape); the conversion to the network's input is draw-input.js.
import { $ } from './dom.js';
import { messageOf } from './errors.js';
import { drawingToInput, padFits } from './draw-input.js';
import { ui } from './state.js';
import { api, Comlink } from './worker-client.js';
import { className, formatPercent } from '../shared.js';

const pad = $('draw-canvas');
const padCtx = pad.getContext('2d', { willReadFrequently: true });
const preview = $('draw-preview').getContext('2d');
const probsList = $('draw-probs');
let shownNames = undefined, shownClasses = 0;

const isDigits = (cn) => !cn || cn.every((s, i) => s === String(i));

/** The pad for the current model and class names: shown only for [1, 28, 28]. */
export function setupPad() {
  const fits = padFits(ui.model?.input);
  $('draw-card').hidden = !fits;
  $('results-row').classList.toggle('single', !fits);
  const classes = ui.model?.classes ?? 0, cn = ui.data?.classNames ?? null;
  if (classes === shownClasses && cn === shownNames) return;
  shownClasses = classes;
  shownNames = cn;
  const items = [];
  for (let d = 0; d < classes; d++) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = className(cn, d);
    const bar = document.createElement('div');
    bar.className = 'p';
    bar.style.width = '0%';
    li.append(name, bar);
    items.push(li);
  }
  probsList.replaceChildren(...items);
  probsList.classList.toggle('named', !isDigits(cn));
  $('draw-h').textContent = isDigits(cn) ? 'Draw a digit' : 'Draw an image';
  clearPad();
}

function idleHint() {
  const cn = ui.data?.classNames;
  return isDigits(cn) ? 'draw 0–9' : 'draw one of the classes';
}

function clearPad() {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
  preview.fillStyle = '#000';
  preview.fillRect(0, 0, preview.canvas.width, preview.canvas.height);
  $('draw-label').textContent = '?';
  $('draw-label').classList.remove('long');
  $('draw-conf').textContent = idleHint();
  for (const li of probsList.children) {
    li.classList.remove('top');
    li.lastElementChild.style.width = '0%';
  }
}

/** The drawing as the model's input, also shown in the preview; null when empty. */
function padToInput(input) {
  const r = drawingToInput(padCtx.getImageData(0, 0, pad.width, pad.height), input);
  if (!r) return null;
  const [, H, W] = input;
  if (preview.canvas.width !== W || preview.canvas.height !== H) {
    preview.canvas.width = W;
    preview.canvas.height = H;
  }
  const img = preview.createImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = r.gray[i];
    img.data[i * 4 + 3] = 255;
  }
  preview.putImageData(img, 0, 0);
  return r.pixels;
}

let predictBusy = false, predictAgain = false;
async function predictDrawing() {
  if (predictBusy) { predictAgain = true; return; }
  if (!ui.model || !padFits(ui.model.input)) return;
  const pixels = padToInput(ui.model.input);
  if (!pixels) return;
  predictBusy = true;
  try {
    const r = await api.predict(Comlink.transfer(pixels, [pixels.buffer]));
    if (!r) {
      $('draw-label').textContent = '?';
      $('draw-conf').textContent = 'train the model first';
    } else {
      const name = className(ui.data?.classNames, r.label);
      $('draw-label').textContent = name;
      $('draw-label').classList.toggle('long', name.length > 2);
      $('draw-conf').textContent = `${formatPercent(r.probabilities[r.label])} sure`;
      [...probsList.children].forEach((li, d) => {
        li.classList.toggle('top', d === r.label);
        li.lastElementChild.style.width = `${((r.probabilities[d] ?? 0) * 100).toFixed(1)}%`;
      });
    }
  } catch (e) {
    $('draw-conf').textContent = messageOf(e);
  } finally {
    predictBusy = false;
    if (predictAgain) { predictAgain = false; predictDrawing(); }
  }
}

export function initDrawing() {
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
  clearPad();
}
