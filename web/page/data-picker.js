// The data card: the dataset picker (the worker's list: the built-in sets the
// build prepared, CIFAR-10 from the user's files, then "your own IDX files"),
// the loading progress and the loaded set's counts.
import { $, nf } from './dom.js';
import { clearError, messageOf, showError } from './errors.js';
import { limits, ui } from './state.js';
import { api } from './worker-client.js';
import { formatBytes } from '../shared.js';

const FILES = 'files';
let hooks = { onChanged: () => {} };
const bring = new Map(); // id -> name of the sets the user brings files for (CIFAR-10)

/** Fills the picker: [{ id, name, available, bringFiles }] from the worker. */
function fillOptions(datasets) {
  const select = $('dataset-select');
  const options = datasets.map((d) => {
    const o = document.createElement('option');
    o.value = d.id;
    if (d.bringFiles) bring.set(d.id, d.name);
    o.textContent = d.available ? d.name : d.bringFiles ? `${d.name}: choose its files…` : `${d.name} (not prepared in this build)`;
    o.disabled = !d.available && !d.bringFiles;
    return o;
  });
  const own = document.createElement('option');
  own.value = FILES;
  own.id = 'dataset-own';
  own.textContent = 'Your own IDX files…';
  select.replaceChildren(...options, own);
  syncSelect();
}

/** The picker shows the loaded data (or the built-in set being loaded). */
function syncSelect() {
  const select = $('dataset-select');
  const d = ui.data;
  const own = $('dataset-own');
  const brought = d && !d.builtin && bring.has(d.id);
  if (own) own.textContent = d && !d.builtin && !brought ? (/^your files/.test(d.name) ? `Y${d.name.slice(1)}` : `Your files: ${d.name}`) : 'Your own IDX files…';
  for (const [id, name] of bring) {
    const o = select.querySelector(`option[value="${id}"]`);
    if (o) o.textContent = brought && d.id === id ? `${name} (your files)` : `${name}: choose its files…`;
  }
  const value = d ? (d.builtin || brought ? d.id : FILES) : select.options[0]?.value;
  if (value != null && select.value !== value) select.value = value;
}

export function renderData() {
  const d = ui.data;
  const p = ui.dataProgress;
  if (d) {
    $('data-name').textContent = d.name;
    const lim = limits.trainLimit || limits.testLimit ? ' (first images only: trainLimit/testLimit in the URL)' : '';
    $('data-counts').textContent = `${nf.format(d.trainCount)} train · ${nf.format(d.testCount)} test`;
    $('data-bar').style.transform = 'scaleX(1)';
    $('data-bar').classList.add('done');
    const shape = d.shape ? ` Images ${d.shape.join('×')}.` : '';
    $('data-text').textContent = (d.builtin
      ? `${d.fromCache ? 'Loaded from this browser\'s cache' : 'Downloaded and cached for next time'}${lim}.`
      : `Loaded from your files${lim}.`) + shape;
  } else if (p) {
    $('data-bar').style.transform = `scaleX(${p.total ? (p.received / p.total).toFixed(4) : 0.05})`;
    $('data-text').textContent = p.total
      ? `${p.fromCache ? 'Reading cache' : 'Downloading'}: ${formatBytes(p.received)} of ${formatBytes(p.total)}`
      : 'Downloading…';
  }
  syncSelect();
}

/** The user's data files (chosen or dropped on the page). */
export async function loadDataFiles(files) {
  if (!files.length) return;
  clearError();
  try {
    await api.loadFiles(files);
    hooks.onChanged();
  } catch (err) {
    showError('These files cannot be used', messageOf(err));
    syncSelect();
  }
}

export function initDataPicker({ datasets, onChanged }) {
  hooks = { onChanged };
  fillOptions(datasets);
  $('dataset-select').addEventListener('change', async (e) => {
    const id = e.target.value;
    if (id === FILES || bring.has(id)) {
      // The file chooser; cancelling it goes back to the data in use.
      $('data-files').click();
      return;
    }
    if (ui.data?.builtin && ui.data.id === id) return;
    clearError();
    try {
      await api.useDataset(id);
      hooks.onChanged();
    } catch (err) {
      showError('This data set cannot be used', messageOf(err));
      syncSelect();
    }
  });
  $('data-files').addEventListener('cancel', syncSelect);
  $('data-files').addEventListener('change', async (e) => {
    const files = [...(e.target.files ?? [])];
    e.target.value = '';
    if (!files.length) { syncSelect(); return; }
    await loadDataFiles(files);
  });
}
