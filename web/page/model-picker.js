// The model card: the picker (the presets and "Custom"), the custom spec's
// JSON editor, validated as the user types (in the worker, which has the wasm:
// the page stays responsive), the layer table of the chosen model, and whether
// the chosen model fits the loaded data.
//
// Start trains the chosen model; it stays disabled while the spec is being
// checked, is invalid, or does not fit the data.
import { $, formatCompact, nf } from './dom.js';
import { saveSettings } from './settings.js';
import { ui } from './state.js';
import { api } from './worker-client.js';
import { shapeText } from '../shared.js';
// The JS API's data/model fit rule (setData's), a plain function: the page loads no wasm.
import { inputFits } from '../../src/js/wasm-trainer.js';

const CUSTOM = 'custom';
const CHECK_DELAY_MS = 300; // debounce: check the spec once typing pauses

const picker = {
  presets: [], // [{ name, description, default, input, classes, params, flops, spec }]
  choice: null, // a preset name or CUSTOM
  customText: '',
  status: 'pending', // 'valid' | 'pending' | 'invalid'
  error: '',
  model: null, // the chosen model's description (layer table)
  seq: 0, // answers to older checks are dropped
  timer: 0,
};
let onChange = () => {};

/** The model Start trains: a preset name or the custom spec's JSON. */
export const chosenSource = () => (picker.choice === CUSTOM ? picker.customText : picker.choice ?? undefined);

/** Why Start cannot train the chosen model now (null when it can). */
export function startBlocked() {
  if (picker.status === 'pending') return 'checking the model';
  if (picker.status === 'invalid') return picker.error;
  return fitMessage();
}

/** The presets (and "Custom") in the picker. */
function fillOptions() {
  const options = picker.presets.map((p) => {
    const o = document.createElement('option');
    o.value = p.name;
    o.textContent = `${p.name} · ${nf.format(p.params)} parameters`;
    return o;
  });
  const custom = document.createElement('option');
  custom.value = CUSTOM;
  custom.textContent = 'Custom (JSON spec)…';
  $('model-select').replaceChildren(...options, custom);
}

/** A spec as readable JSON: one layer per line, its type first. */
export function prettySpec(canonical) {
  const spec = typeof canonical === 'string' ? JSON.parse(canonical) : canonical;
  const layer = (l) => {
    const { type, name, ...args } = l;
    const parts = [`"type": ${JSON.stringify(type)}`];
    if (name != null) parts.push(`"name": ${JSON.stringify(name)}`);
    for (const [k, v] of Object.entries(args)) parts.push(`${JSON.stringify(k)}: ${JSON.stringify(v).replace(/,/g, ', ')}`);
    return `    {${parts.join(', ')}}`;
  };
  const { input, layers, ...rest } = spec;
  const head = [`  "input": ${JSON.stringify(input).replace(/,/g, ', ')}`];
  for (const [k, v] of Object.entries(rest)) head.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n${head.join(',\n')},\n  "layers": [\n${layers.map(layer).join(',\n')}\n  ]\n}`;
}

// ---------------------------------------------------------------- render ----

function render() {
  const select = $('model-select');
  if (picker.choice && select.value !== picker.choice) select.value = picker.choice;
  const custom = picker.choice === CUSTOM;
  $('model-custom').hidden = !custom;
  const spec = $('model-spec');
  if (custom && spec.value !== picker.customText) spec.value = picker.customText;
  spec.setAttribute('aria-invalid', String(custom && picker.status === 'invalid'));
  const error = custom && picker.status === 'invalid' ? picker.error : '';
  if ($('model-error').textContent !== error) $('model-error').textContent = error;
  $('model-error').hidden = !error;
  const preset = picker.presets.find((p) => p.name === picker.choice);
  const m = picker.model;
  $('model-desc').textContent = m
    ? `${preset?.description ? `${preset.description}. ` : ''}${nf.format(m.totalParams)} parameters, ${formatCompact(m.totalFlops)} FLOPs per image.`
    : (custom && picker.status === 'pending' ? 'Checking the spec…' : '');
  renderFit();
  renderLayers();
  onChange();
}

/** The chosen model against the loaded data: say so when they do not fit, and
 *  which presets do. */
function fitMessage() {
  const m = picker.model, d = ui.data;
  if (!m || !d?.shape || inputFits(d.shape, m.input)) return null;
  const fit = picker.presets.filter((p) => inputFits(d.shape, p.input)).map((p) => p.name);
  const which = picker.choice === CUSTOM ? 'This spec' : picker.choice;
  return `${which} takes ${shapeText(m.input)} images, but ${d.name} has ${shapeText(d.shape)} images. `
    + (fit.length ? `Presets that fit ${d.name}: ${fit.join(', ')}.` : `No preset takes ${shapeText(d.shape)} images: choose Custom and set "input": [${d.shape.join(', ')}].`);
}

function renderFit() {
  const text = fitMessage() ?? '';
  if ($('model-fit').textContent !== text) $('model-fit').textContent = text;
  $('model-fit').hidden = !text;
}

function renderLayers() {
  const table = $('layer-table');
  const m = picker.model;
  table.hidden = !m;
  if (!m || table.dataset.canonical === m.canonical) return;
  table.dataset.canonical = m.canonical;
  $('layer-caption').textContent = `Layers of ${m.name === CUSTOM ? 'the custom model' : m.name}: output shape of one image, parameters and forward FLOPs per image`;
  const row = (cells, cls) => {
    const tr = document.createElement('tr');
    if (cls) tr.className = cls;
    for (const [tag, text, title, attrs] of cells) {
      const c = document.createElement(tag);
      c.textContent = text;
      if (title) c.title = title;
      Object.assign(c, attrs ?? {});
      tr.append(c);
    }
    return tr;
  };
  const body = [row([['td', ''], ['th', 'input', '', { scope: 'row' }], ['td', shapeText(m.input)], ['td', ''], ['td', '']], 'input-row')];
  for (const l of m.layers) {
    const named = l.name !== String(l.index);
    body.push(row([
      ['td', String(l.index)],
      ['th', named ? `${l.type} ${l.name}` : l.type, named ? `state names ${l.name}.*` : '', { scope: 'row' }],
      ['td', shapeText(l.shape)],
      ['td', l.params ? nf.format(l.params) : '–'],
      ['td', l.flops ? formatCompact(l.flops) : '–', l.flops ? `${nf.format(l.flops)} FLOPs` : ''],
    ]));
  }
  table.tBodies[0].replaceChildren(...body);
  table.tFoot.replaceChildren(row([
    ['td', ''],
    ['th', `Total · ${m.classes} classes`, '', { scope: 'row' }],
    ['td', ''],
    ['td', nf.format(m.totalParams), m.buffers ? `and ${nf.format(m.buffers)} buffer values (BatchNorm's running statistics)` : ''],
    ['td', formatCompact(m.totalFlops), `${nf.format(m.totalFlops)} FLOPs per image`],
  ]));
}

// ------------------------------------------------------------- choosing ----

function remember() {
  saveSettings({ model: picker.choice, modelSpec: picker.customText });
}

/** Asks the worker to check (and, when valid, adopt) the chosen model. */
async function check() {
  clearTimeout(picker.timer);
  const seq = ++picker.seq;
  const source = chosenSource();
  picker.status = 'pending';
  render();
  let r;
  try {
    r = await api.chooseModel(source);
  } catch (e) {
    r = { ok: false, error: String(e?.message ?? e) };
  }
  if (seq !== picker.seq) return; // the user typed or chose again meanwhile
  picker.status = r.ok ? 'valid' : 'invalid';
  picker.error = r.ok ? '' : r.error;
  if (r.ok) picker.model = r.model;
  else if (picker.choice === CUSTOM) picker.model = null;
  render();
}

function choose(value) {
  picker.choice = value;
  if (value === CUSTOM && !picker.customText.trim() && picker.model) {
    // From the model chosen before: a preset as src/defaults.json writes it, else canonical.
    const preset = picker.presets.find((p) => p.name === picker.model.name);
    picker.customText = prettySpec(preset?.spec ?? picker.model.canonical);
  }
  remember();
  check();
}

/** Locked while a run is on (the run keeps its model). */
export function setModelLocked(locked) {
  const select = $('model-select');
  if (select.disabled !== locked) select.disabled = locked;
  const spec = $('model-spec');
  if (spec.readOnly !== locked) spec.readOnly = locked;
}

/** The picker shows a resumed session's model (status(): modelDescription). */
export function showSessionModel(status) {
  const m = status?.modelDescription;
  if (!m) return;
  const preset = picker.presets.find((p) => p.name === m.name);
  picker.choice = preset ? preset.name : CUSTOM;
  if (!preset) picker.customText = prettySpec(m.canonical);
  picker.model = m;
  remember();
  check();
}

/** The data changed: the fit message and Start follow. */
export const dataChanged = () => render();

/**
 * init: the worker's answer to init() (presets, the model it described and
 * modelError); saved: the stored settings (model, modelSpec).
 */
export function initModelPicker({ presets, model, modelError }, saved, { onChange: changed }) {
  onChange = changed;
  picker.presets = presets;
  fillOptions();
  picker.customText = typeof saved.modelSpec === 'string' ? saved.modelSpec : '';
  const names = presets.map((p) => p.name);
  const fallback = presets.find((p) => p.default)?.name ?? names[0] ?? null;
  const customOk = saved.model === CUSTOM && picker.customText.trim() !== '';
  picker.choice = customOk || names.includes(saved.model) ? saved.model : fallback;
  if (model) {
    picker.model = model;
    picker.status = 'valid';
  } else {
    picker.status = 'invalid';
    picker.error = modelError ?? 'the model could not be described';
    if (picker.choice !== CUSTOM && presets.length) choose(fallback);
  }
  $('model-select').addEventListener('change', (e) => choose(e.target.value));
  $('model-spec').addEventListener('input', (e) => {
    picker.customText = e.target.value;
    picker.status = 'pending';
    picker.seq++; // an answer for the old text no longer counts
    remember();
    render();
    clearTimeout(picker.timer);
    picker.timer = setTimeout(check, CHECK_DELAY_MS);
  });
  render();
}

/** The source init() should describe: the stored choice. */
export function savedSource(saved) {
  if (saved.model !== CUSTOM) return saved.model;
  return typeof saved.modelSpec === 'string' && saved.modelSpec.trim() ? saved.modelSpec : undefined;
}
