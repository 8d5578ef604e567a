// The JS API of wasm-trainer (types: wasm-trainer.d.ts). The CLI, the Web
// Worker and the tests are thin clients of this module; it is the only code
// that talks to the Embind bindings (src/bindings/). The same file runs
// in a page, a worker and Node; load-module.js loads the wasm for each.
//
// Models: a preset name ("seed", "lenet5", ...), a spec object or its JSON text
// (README: the model spec). The presets and the default hyperparameters come
// from src/defaults.json, compiled into the wasm and read through it (presets()),
// so the page, the worker and Node need no second loader.

import { fitTrainer } from './fit.js';
import { anyModule, loadModule, threadsSupported } from './load-module.js';

export { loadModule, threadsSupported };

const CIFAR10_RECORD = 1 + 3 * 32 * 32; // a label byte, then the R, G and B planes

/** Bytes (Uint8Array view) of any typed array, for Embind's std::string arguments. */
function asBytes(a) {
  if (a instanceof Uint8Array) return a;
  if (ArrayBuffer.isView(a)) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (a instanceof ArrayBuffer) return new Uint8Array(a);
  throw new TypeError('expected a Uint8Array, a typed array or an ArrayBuffer');
}

function check(error) {
  if (error) throw new Error(error);
}

const shapeText = (s) => `[${s.join(', ')}]`;

// ------------------------------------------------------ defaults, models ----

// src/defaults.json as compiled into a module, parsed once per module.
const defaultsCache = new WeakMap();
function defaultsOf(m) {
  let d = defaultsCache.get(m);
  if (!d) {
    const file = JSON.parse(m.presets());
    const h = file.hyperparameters;
    d = {
      file,
      config: Object.freeze({
        model: file.default_model, seed: h.seed, learningRate: h.learning_rate,
        batchSize: h.batch_size, weightDecay: h.weight_decay, threads: 1,
      }),
    };
    defaultsCache.set(m, d);
  }
  return d;
}

/** "; presets that fit: a, b" for data of `shape`, or a note that none does. */
function presetsThatFit(m, shape) {
  const fit = Object.keys(defaultsOf(m).file.presets).filter((name) => inputFits(shape, describeWith(m, name).input));
  return fit.length ? `; presets that take them: ${fit.join(', ')}` : '; no preset takes them: write a spec with this input';
}

/** A model argument as the text the core takes: a preset name or spec JSON. */
function modelSource(m, model) {
  if (model === undefined || model === null) return defaultsOf(m).config.model;
  if (typeof model === 'string') return model;
  if (typeof model === 'object' && !ArrayBuffer.isView(model)) return JSON.stringify(model);
  throw new TypeError(`a model is a preset name, a spec object or its JSON text, got ${typeof model}`);
}

function deepFreeze(o) {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Validates and describes a model with module m; throws the core's message. */
function describeWith(m, model) {
  const r = m.describeModel(modelSource(m, model));
  check(r.error);
  delete r.error;
  return r;
}

/** The default hyperparameters and model (src/defaults.json). */
export async function getDefaults() {
  return { ...defaultsOf(await anyModule()).config };
}

/** Validates a model (preset name, spec object or JSON text) and describes it
 *  layer by layer; throws an Error with the core's message when it is refused. */
export async function describeModel(model) {
  return describeWith(await anyModule(), model);
}

/** "" when two models are the same network, else a sentence naming the first
 *  layer that differs. Throws if either is refused. */
export async function modelDifference(a, b) {
  const m = await anyModule();
  const r = m.modelDifference(modelSource(m, a), modelSource(m, b));
  check(r.error);
  return r.difference;
}

/** The datasets of src/defaults.json: name, display name, description, input [c, h, w],
 *  class names, and the data options (normalization, augmentation) training on it uses by default. */
export async function listDatasets() {
  const { file } = defaultsOf(await anyModule());
  return Object.entries(file.datasets ?? {}).map(([name, d]) => ({
    name, displayName: d.display_name ?? name, description: d.description ?? '', input: d.input,
    classNames: d.class_names ?? [], options: dataOptionsOf(name, d),
  }));
}

/** A dataset's default data options ({name, classNames, normalize, augment}). */
function dataOptionsOf(name, d) {
  const o = { name, classNames: d.class_names ?? [] };
  if (d.normalize) o.normalize = { mean: d.normalize.mean, std: d.normalize.std };
  if (d.augment) o.augment = { cropPadding: d.augment.crop_padding ?? 0, hflip: !!d.augment.hflip };
  return o;
}

/** Data options (DataOptions in the .d.ts) as the core's JSON (src/core/dataset.h). */
function dataConfigJson(o) {
  if (!o) return '';
  const j = {};
  if (o.name !== undefined) j.name = o.name;
  if (o.classNames?.length) j.class_names = o.classNames;
  if (o.normalize) j.normalize = { mean: o.normalize.mean, std: o.normalize.std };
  if (o.augment) j.augment = { crop_padding: o.augment.cropPadding ?? 0, hflip: !!o.augment.hflip };
  return JSON.stringify(j);
}

/** The preset models of src/defaults.json, in its order, each with its spec as written
 *  there (without the description). */
export async function listPresets() {
  const m = await anyModule();
  const { file, config } = defaultsOf(m);
  return Object.entries(file.presets).map(([name, p]) => {
    const d = describeWith(m, name);
    const { description, ...spec } = p;
    return {
      name, description: description ?? '', default: name === config.model,
      input: d.input, classes: d.classes, params: d.params, flops: d.totalFlops,
      spec: structuredClone(spec), // a copy: the parsed file stays as it was
    };
  });
}

function inspectWith(m, bytes) {
  const r = m.inspectCheckpoint(asBytes(bytes));
  check(r.error && `not a valid checkpoint: ${r.error}`);
  delete r.error;
  return r;
}

/** Reads a checkpoint's metadata and tensor list without a trainer. */
export async function inspectCheckpoint(bytes) {
  return inspectWith(await anyModule(), bytes);
}

/** The model a checkpoint holds (its "spec" metadata; format version 1 files,
 *  which have none, are the seed's CNN), described as describeModel does. */
export async function modelOfCheckpoint(bytes) {
  const m = await anyModule();
  const r = m.inspectCheckpoint(asBytes(bytes));
  check(r.error && `refused checkpoint: ${r.error}`);
  const md = r.metadata;
  if (md.format !== 'wasm-trainer-checkpoint') {
    throw new Error(`refused checkpoint: not a wasm-trainer checkpoint (metadata format is "${md.format ?? ''}")`);
  }
  try {
    return describeWith(m, md.spec ?? 'seed');
  } catch (e) {
    throw new Error(`refused checkpoint: its model spec is refused: ${e.message}`);
  }
}

// ------------------------------------------------------------------ data ----

/** The per-image shape of an IDX image file ([rows, cols] or [c, rows, cols]),
 *  or null when the header is not one (the core then says what is wrong). */
function idxImageShape(bytes) {
  if (!ArrayBuffer.isView(bytes) && !(bytes instanceof ArrayBuffer)) return null;
  const b = asBytes(bytes);
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 0x08) return null;
  const nd = b[3];
  if (nd < 2 || b.length < 4 + 4 * nd) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims = [];
  for (let i = 1; i < nd; i++) dims.push(v.getUint32(4 + 4 * i));
  return dims;
}

/** Whether images of shape `dataShape` fit a model of input `modelInput` (setData's
 *  rule): the same shape, or [h, w] for a model of input [1, h, w], or any shape of as
 *  many values for a flat input [n]. */
export function inputFits(dataShape, modelInput) {
  if (!dataShape || !modelInput) return false;
  const shape = Array.from(dataShape), input = Array.from(modelInput);
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (same(shape, input)) return true;
  if (input.length === 3 && input[0] === 1 && same(shape, input.slice(1))) return true;
  return input.length === 1 && shape.reduce((a, b) => a * b, 1) === input[0];
}

/** Checks data as setData (four IDX files) or setCifar10 ({train, test} batch files)
 *  would take it, without keeping it: the pixels are never copied into wasm memory
 *  (an IDX images file's header and the labels are; CIFAR-10's files are read a
 *  megabyte at a time), so data can be checked next to other data that fills the
 *  memory. options: `classes` (labels must be below it; or `model`, whose classes
 *  count and whose input the images must fit), trainLimit, testLimit, data (the data
 *  options: class names, normalization). Resolves to {shape: [c, h, w], trainCount,
 *  testCount} (the limits applied); rejects with the message setData would give. */
export async function checkData(source, { model = undefined, classes = undefined, trainLimit = 0, testLimit = 0, data = undefined } = {}) {
  const m = await anyModule();
  let input = null;
  if (model !== undefined) {
    const d = describeWith(m, model);
    classes ??= d.classes;
    input = d.input;
  }
  if (!Number.isInteger(classes) || classes < 1) throw new Error('checkData needs the classes (or a model) the labels must fit');
  const cifar = source && (source.train || source.test);
  let r;
  if (cifar) {
    const files = (list, what) => (list ?? []).map((f) => ({ name: f.name ?? what, bytes: asBytes(f.bytes) }));
    r = m.scanCifar10(files(source.train, 'train file'), files(source.test, 'test file'), trainLimit | 0, testLimit | 0, classes,
      dataConfigJson(data ?? dataOptionsOf('cifar-10', defaultsOf(m).file.datasets['cifar-10'])));
  } else {
    const { trainImages, trainLabels, testImages, testLabels } = source ?? {};
    r = m.scanIdx(asBytes(trainImages), asBytes(trainLabels), asBytes(testImages), asBytes(testLabels), trainLimit | 0, testLimit | 0, classes, dataConfigJson(data));
  }
  check(r.error);
  const shape = Array.from(r.shape);
  if (input && !inputFits(shape, input)) {
    throw new Error(`the images are ${shapeText(shape)} but the model ${describeWith(m, model).name} takes ${shapeText(input)} images${presetsThatFit(m, shape)}`);
  }
  return { shape, trainCount: r.trainCount, testCount: r.testCount };
}

// Test-set evaluation runs in slices: V8 optimizes wasm between calls, and a page
// stays responsive when each call is short (TOOLCHAIN: "V8 tiering").
const EVAL_SLICE = 500;

// ---------------------------------------------------------------- Trainer ----

export class Trainer {
  #m;
  #t;
  #model;
  #counters;
  /** config: {model, seed, learningRate, batchSize, weightDecay, threads}; anything
   *  left out (or undefined) takes the default of src/defaults.json. */
  constructor(module, config = {}) {
    if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
    const { model, ...numbers } = config;
    const defaults = defaultsOf(module).config;
    const c = { seed: defaults.seed, learningRate: defaults.learningRate, batchSize: defaults.batchSize, weightDecay: defaults.weightDecay, threads: defaults.threads };
    for (const [k, v] of Object.entries(numbers)) if (v !== undefined) c[k] = v;
    for (const [k, v] of Object.entries(c)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.${k} must be a finite number, got ${v}`);
    }
    if (!Number.isInteger(c.batchSize) || c.batchSize < 1 || c.batchSize > 65536) throw new Error(`batch size must be an integer in 1..65536, got ${c.batchSize}`);
    if (!(c.learningRate > 0)) throw new Error(`learning rate must be positive, got ${c.learningRate}`);
    if (!Number.isInteger(c.seed) || c.seed < 0) throw new Error(`seed must be a non-negative integer, got ${c.seed}`);
    if (c.weightDecay < 0) throw new Error(`weight decay must be >= 0, got ${c.weightDecay}`);
    if (!Number.isInteger(c.threads) || c.threads < 1) throw new Error(`threads must be an integer >= 1, got ${c.threads}`);
    // Validate the spec before the trainer exists; the binding validates it again
    // with this batch size's memory limits and reports a refusal through error().
    const described = describeWith(module, model);
    const t = new module.Trainer(described.canonical, c.seed, c.learningRate, c.batchSize, c.weightDecay, c.threads);
    const error = t.error();
    if (error) {
      t.delete();
      throw new Error(error);
    }
    this.#m = module;
    this.#t = t;
    const info = t.model();
    this.#model = deepFreeze({ ...described, ...info, spec: JSON.parse(info.canonical) });
    this.#counters = new Set(Object.keys(t.counters()));
  }

  /** The effective hyperparameters (a loaded checkpoint's win over the constructor's). */
  get config() { return this.#t.config(); }

  /** The model: name (preset or "custom"), canonical JSON, spec, input [c, h, w],
   *  classes and the layer table (as describeModel). */
  get model() { return this.#model; }

  /** Four IDX files (images 3-d [N, H, W] or 4-d [N, C, H, W]) and the data options:
   *  name, class names, normalization, augmentation (default: none, as MNIST). */
  setData({ trainImages, trainLabels, testImages, testLabels, trainLimit = 0, testLimit = 0, data = undefined }) {
    for (const [what, bytes] of [['train', trainImages], ['test', testImages]]) {
      const shape = idxImageShape(bytes);
      if (shape && !inputFits(shape, this.#model.input)) {
        throw new Error(`the ${what} images are ${shapeText(shape)} but the model ${this.#model.name} takes ${shapeText(this.#model.input)} images${presetsThatFit(this.#m, shape)}`);
      }
    }
    check(this.#t.setData(asBytes(trainImages), asBytes(trainLabels), asBytes(testImages),
      asBytes(testLabels), trainLimit | 0, testLimit | 0, dataConfigJson(data)));
  }

  /** CIFAR-10's binary batches: train (data_batch_1.bin ...) and test (test_batch.bin)
   *  as [{name, bytes}], and the data options (default: CIFAR-10's normalization and
   *  augmentation from src/defaults.json). The records to keep (the limits applied)
   *  are copied into wasm once, a megabyte at a time, into sets reserved at their
   *  exact size: the data costs its size in bytes, 184 MB for all of CIFAR-10. */
  setCifar10({ train, test, trainLimit = 0, testLimit = 0, data = undefined }) {
    const shape = [3, 32, 32];
    if (!inputFits(shape, this.#model.input)) {
      throw new Error(`CIFAR-10 images are ${shapeText(shape)} but the model ${this.#model.name} takes ${shapeText(this.#model.input)} images${presetsThatFit(this.#m, shape)}`);
    }
    const options = data ?? dataOptionsOf('cifar-10', defaultsOf(this.#m).file.datasets['cifar-10']);
    const sets = [[false, (train ?? []).map((f) => ({ ...f, bytes: asBytes(f.bytes) })), trainLimit | 0],
      [true, (test ?? []).map((f) => ({ ...f, bytes: asBytes(f.bytes) })), testLimit | 0]];
    // The records each set keeps, so the wasm side reserves them once, exactly
    // (a truncated file is refused by addCifar10, naming it).
    const keep = ([, files, limit]) => {
      const n = files.reduce((sum, f) => sum + Math.floor(f.bytes.length / CIFAR10_RECORD), 0);
      return limit > 0 ? Math.min(n, limit) : n;
    };
    try {
      check(this.#t.beginCifar10(keep(sets[0]), keep(sets[1])));
      for (const [isTest, files] of sets) {
        for (const f of files) check(this.#t.addCifar10(isTest, f.bytes, f.name ?? (isTest ? 'test file' : 'train file')));
      }
    } catch (e) {
      this.#t.beginCifar10(0, 0); // drops a partial load (the data in use stays)
      throw e;
    }
    check(this.#t.finishCifar10(trainLimit | 0, testLimit | 0, dataConfigJson(options)));
  }

  /** Takes the data `source` holds without copying it: trainers of one module share
   *  one immutable copy of the loaded images (freed with the last trainer or
   *  HeldData holding it). `source` is another Trainer or a HeldData (holdData()).
   *  This trainer uses the first trainLimit / testLimit images of it (0: all that
   *  `source` holds, whatever its own limits) with its own data options (default:
   *  the source's), checked as setData checks them; on an error nothing changes. So
   *  Start again, another model or a resumed checkpoint on the same data costs no
   *  second copy. Both must come from the same module (the same `threads` build). */
  shareData(source, { trainLimit = 0, testLimit = 0, data = undefined } = {}) {
    const held = source instanceof HeldData ? heldHandles.get(source) : null;
    if (!held && !(source instanceof Trainer)) throw new TypeError('shareData takes another Trainer or a HeldData (of the same module)');
    const m = held ? held.m : source.#m;
    if ((held ? !held.h : !source.#t)) throw new Error(`shareData: that ${held ? 'HeldData' : 'trainer'} was disposed of`);
    if (m !== this.#m) {
      throw new Error('shareData: the data lives in another wasm module (one with threads, one without): give this trainer the data itself (setData, setCifar10)');
    }
    const config = dataConfigJson(data ?? source.data);
    check(held ? this.#t.shareHeld(held.h, trainLimit | 0, testLimit | 0, config) : this.#t.shareData(source.#t, trainLimit | 0, testLimit | 0, config));
  }

  /** This trainer's data, held apart from it: it stays in memory after the trainer
   *  is disposed of, for another trainer's shareData, until the HeldData is disposed
   *  of. Its check() and checkCheckpoint() say, without making a trainer, whether
   *  a new one would take it (a trainer's workspace may not fit next to another's:
   *  check, dispose of the old trainer, then make the new one). */
  holdData() {
    if (this.#t.heldData().trainCount === 0) throw new Error('holdData: this trainer has no data');
    return newHeldData(this.#m, this.#t.holdData(), this.data);
  }

  /** The loaded data's options: {name, classNames, normalize?, augment?}. */
  get data() {
    const j = JSON.parse(this.#t.dataConfig());
    return dataOptionsOf(j.name, j);
  }

  trainSteps(n) {
    const r = this.#t.trainSteps(n | 0);
    check(r.error);
    delete r.error;
    if (!r.epochEnded) delete r.epochLoss;
    return r;
  }

  progress() { return this.#t.progress(); }

  // Test-set evaluation, one slice per step of the generator; returns the result.
  *#evaluateSlices({ limit = 0, recordEpoch = false }) {
    const total = this.#t.progress().testCount;
    const count = limit > 0 ? Math.min(limit, total) : total;
    if (count === 0) throw new Error('no test data: call setData first');
    let lossSum = 0, correct = 0;
    for (let b = 0; b < count; b += EVAL_SLICE) {
      const r = this.#t.evaluateRange(b, Math.min(EVAL_SLICE, count - b));
      lossSum += r.lossSum;
      correct += r.correct;
      yield;
    }
    const result = { loss: lossSum / count, accuracy: correct / count, count };
    if (recordEpoch) this.#t.recordEpochEval(result.loss, result.accuracy);
    return result;
  }

  evaluate(opts = {}) {
    const it = this.#evaluateSlices(opts);
    for (;;) {
      const { done, value } = it.next();
      if (done) return value;
    }
  }

  /** evaluate() that yields to the event loop between slices, so a worker stays
   *  responsive (Pause, Stop) during a full test-set pass. */
  async evaluateAsync(opts = {}) {
    const it = this.#evaluateSlices(opts);
    for (;;) {
      const { done, value } = it.next();
      if (done) return value;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** n images of the model's input size as float32 0..1 (from bytes 0..255). */
  #images(images, what) {
    const size = this.#model.input.reduce((a, b) => a * b, 1);
    let x = images;
    if (x instanceof Uint8Array) {
      x = new Float32Array(images.length);
      for (let i = 0; i < images.length; i++) x[i] = images[i] / 255;
    }
    if (!(x instanceof Float32Array) || x.length % size !== 0) {
      const got = x instanceof Float32Array ? `${x.length} values` : `a ${x?.constructor?.name ?? typeof x}`;
      throw new Error(`${what}: expected n*${size} values for the model's input ${shapeText(this.#model.input)} (Uint8Array 0..255 or Float32Array 0..1), got ${got}`);
    }
    return x;
  }

  predict(images) {
    const r = this.#t.predict(asBytes(this.#images(images, 'predict')));
    check(r.error);
    delete r.error;
    return r;
  }

  /** Logits (n * classes) in evaluation mode: Dropout off, BatchNorm's running statistics. */
  evalLogits(images) {
    const r = this.#t.evalLogits(asBytes(this.#images(images, 'evalLogits')));
    check(r.error);
    return r.logits;
  }

  history() { return this.#t.history(); }

  saveCheckpoint() { return this.#t.saveCheckpoint(); }

  loadCheckpoint(bytes) { check(this.#t.loadCheckpoint(asBytes(bytes))); }

  /** Trains epochs with progress callbacks, an AbortSignal and autosave (src/js/fit.js);
   *  the same method as the worker client's (src/js/client.js). */
  fit(data, options) { return fitTrainer(this, data, options); }

  /** saveCheckpoint() and loadCheckpoint() under the worker client's names. */
  save() { return this.saveCheckpoint(); }

  load(bytes) { this.loadCheckpoint(bytes); }

  // ---- reference-test surface: explicit batches, tensors by name, one Adam step ----
  /** Parameters, Adam's moments, BatchNorm's running statistics (Float32Array) and
   *  num_batches_tracked counters (BigInt64Array of one value, PyTorch's I64). */
  tensors() {
    const out = this.#t.tensors();
    for (const [name, v] of Object.entries(this.#t.counters())) out[name] = BigInt64Array.of(BigInt(v));
    return out;
  }

  setTensor(name, values) {
    if (this.#counters.has(name)) {
      const v = typeof values === 'number' || typeof values === 'bigint' ? values : values?.[0];
      this.setCounter(name, v);
      return;
    }
    check(this.#t.setTensor(name, asBytes(Float32Array.from(values))));
  }

  /** Sets a BatchNorm layer's num_batches_tracked ("<layer>.num_batches_tracked"). */
  setCounter(name, value) {
    const v = Number(value);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`setCounter ${name}: expected a non-negative integer, got ${value}`);
    check(this.#t.setCounter(name, v));
  }

  forwardBackward(images, labels) {
    const r = this.#t.forwardBackward(asBytes(Float32Array.from(images)), asBytes(Uint8Array.from(labels)));
    check(r.error);
    delete r.error;
    return r;
  }

  adamStep() { this.#t.adamStep(); }

  dispose() {
    if (this.#t) this.#t.delete();
    this.#t = null;
  }
}

// HeldData's module and Embind handle, out of reach of its users.
const heldHandles = new WeakMap();
const newHeldData = (m, h, data) => {
  const held = Object.create(HeldData.prototype);
  heldHandles.set(held, { m, h, data, info: h.info() });
  return held;
};

function heldOf(held, what) {
  const h = heldHandles.get(held);
  if (!h?.h) throw new Error(`${what}: this HeldData was disposed of`);
  return h;
}

/** Loaded data held apart from any trainer (Trainer.holdData()), for trainers of
 *  the same module to share (Trainer.shareData). */
export class HeldData {
  constructor() { throw new TypeError('HeldData comes from trainer.holdData()'); }

  /** Images held (all of them): trainCount, testCount, and the image shape [c, h, w]. */
  get trainCount() { return heldOf(this, 'trainCount').info.trainCount; }
  get testCount() { return heldOf(this, 'testCount').info.testCount; }
  get shape() { return Array.from(heldOf(this, 'shape').info.shape); }
  /** The data options of the trainer it was held from (shareData's default). */
  get data() { return heldOf(this, 'data').data; }

  /** Throws what shareData would say for a trainer of `model` (preset name or spec)
   *  with these limits and data options; makes no trainer. */
  check(model, { trainLimit = 0, testLimit = 0, data = undefined } = {}) {
    const { m, h } = heldOf(this, 'check');
    check(h.check(modelSource(m, model), trainLimit | 0, testLimit | 0, dataConfigJson(data ?? this.data)));
  }

  /** Throws what a trainer of the checkpoint's model would say, given this data
   *  (shareData with these limits and options) and then the checkpoint
   *  (loadCheckpoint); makes no trainer. */
  checkCheckpoint(bytes, { trainLimit = 0, testLimit = 0, data = undefined } = {}) {
    const { h } = heldOf(this, 'checkCheckpoint');
    check(h.checkCheckpoint(asBytes(bytes), trainLimit | 0, testLimit | 0, dataConfigJson(data ?? this.data)));
  }

  /** Lets go of the data (it is freed when no trainer uses it either). */
  dispose() {
    const held = heldHandles.get(this);
    if (held?.h) held.h.delete();
    if (held) held.h = null;
  }
}

/** Loads the wasm (the pthreads build when threads > 1 and supported) and makes a trainer. */
export async function createTrainer(config = {}) {
  return new Trainer(await loadModule({ threads: config?.threads ?? 1 }), config);
}
