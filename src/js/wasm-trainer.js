// The JS API of wasm-trainer (types: wasm-trainer.d.ts). The CLI, the Web
// Worker and the tests are thin clients of this module; it is the only code
// that talks to the Embind bindings (src/bindings/embind.cc).
//
// The same file loads the wasm in a page, a worker and Node:
//  - browsers/workers import the ES-module build (build/wasm/wasm_trainer.mjs);
//  - Node requires the CommonJS build and passes the bytes as wasmBinary
//    (TOOLCHAIN traps 3 and 5: Emscripten 3.1.6 would try to fetch() a path).

const isNode = typeof process !== 'undefined' && !!process.versions?.node &&
  typeof window === 'undefined' && typeof WorkerGlobalScope === 'undefined';

const modulePromises = new Map();

/** Whether this environment can run the pthreads build: Node can; a page or worker
 *  needs SharedArrayBuffer, i.e. cross-origin isolation (COOP + COEP headers). */
export function threadsSupported() {
  return isNode || (typeof SharedArrayBuffer !== 'undefined' && globalThis.crossOriginIsolated === true);
}

/** Loads (once per variant) and returns the Embind module: the pthreads build when
 *  threads > 1 and supported, else the single-thread build (the fallback). */
export function loadModule({ threads = 1 } = {}) {
  const mt = threads > 1 && threadsSupported();
  if (!modulePromises.has(mt)) modulePromises.set(mt, isNode ? loadNode(mt) : loadBrowser(mt));
  return modulePromises.get(mt);
}

async function loadNode(mt) {
  const { createRequire } = await import('node:module');
  const { readFile } = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const name = mt ? 'wasm-mt/wasm_trainer_mt_node' : 'wasm/wasm_trainer_node';
  const cjs = new URL(`../../build/${name}.cjs`, import.meta.url);
  const wasm = new URL(`../../build/${name}.wasm`, import.meta.url);
  let factory, wasmBinary;
  try {
    factory = createRequire(import.meta.url)(fileURLToPath(cjs));
    wasmBinary = await readFile(wasm);
  } catch (e) {
    throw new Error(`the wasm build is missing (${fileURLToPath(wasm)}): run "npm run build" first`);
  }
  const m = await factory({ wasmBinary });
  // TOOLCHAIN trap 4: live pthread workers would keep Node running after the work
  // is done; unref them so the process exits when the script does.
  if (m.PThread) for (const w of [...m.PThread.unusedWorkers, ...m.PThread.runningWorkers]) w.unref?.();
  return m;
}

async function loadBrowser(mt) {
  const url = new URL(mt ? '../../build/wasm-mt/wasm_trainer_mt.mjs' : '../../build/wasm/wasm_trainer.mjs', import.meta.url);
  const { default: factory } = await import(/* @vite-ignore */ url.href);
  return factory();
}

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

export const DEFAULTS = Object.freeze({ seed: 0, learningRate: 1e-3, batchSize: 64, weightDecay: 0, threads: 1 });

// Test-set evaluation runs in slices: V8 optimizes wasm between calls, and a page
// stays responsive when each call is short (TOOLCHAIN: "V8 tiering").
const EVAL_SLICE = 500;

export class Trainer {
  #m;
  #t;
  constructor(module, config = {}) {
    const c = { ...DEFAULTS, ...config };
    for (const [k, v] of Object.entries(c)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.${k} must be a finite number, got ${v}`);
    }
    if (!Number.isInteger(c.batchSize) || c.batchSize < 1 || c.batchSize > 65536) throw new Error(`batch size must be an integer in 1..65536, got ${c.batchSize}`);
    if (!(c.learningRate > 0)) throw new Error(`learning rate must be positive, got ${c.learningRate}`);
    if (!Number.isInteger(c.seed) || c.seed < 0) throw new Error(`seed must be a non-negative integer, got ${c.seed}`);
    if (c.weightDecay < 0) throw new Error(`weight decay must be >= 0, got ${c.weightDecay}`);
    if (!Number.isInteger(c.threads) || c.threads < 1) throw new Error(`threads must be an integer >= 1, got ${c.threads}`);
    this.#m = module;
    this.#t = new module.Trainer(c.seed, c.learningRate, c.batchSize, c.weightDecay, c.threads);
  }

  /** The effective hyperparameters (a loaded checkpoint's win over the constructor's). */
  get config() { return this.#t.config(); }

  setData({ trainImages, trainLabels, testImages, testLabels, trainLimit = 0, testLimit = 0 }) {
    check(this.#t.setData(asBytes(trainImages), asBytes(trainLabels), asBytes(testImages),
      asBytes(testLabels), trainLimit | 0, testLimit | 0));
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

  predict(images) {
    let x = images;
    if (x instanceof Uint8Array) {
      x = new Float32Array(images.length);
      for (let i = 0; i < images.length; i++) x[i] = images[i] / 255;
    }
    if (!(x instanceof Float32Array) || x.length % 784 !== 0) throw new Error('predict: expected n*784 pixels (Uint8Array 0..255 or Float32Array 0..1)');
    return this.#t.predict(asBytes(x));
  }

  history() { return this.#t.history(); }

  saveCheckpoint() { return this.#t.saveCheckpoint(); }

  loadCheckpoint(bytes) { check(this.#t.loadCheckpoint(asBytes(bytes))); }

  // ---- reference-test surface: explicit batches, tensors by name, one Adam step ----
  tensors() { return this.#t.tensors(); }
  setTensor(name, values) { check(this.#t.setTensor(name, asBytes(Float32Array.from(values)))); }
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

export async function createTrainer(config = {}) {
  return new Trainer(await loadModule({ threads: config.threads ?? 1 }), config);
}

export async function inspectCheckpoint(bytes) {
  const m = await loadModule();
  const r = m.inspectCheckpoint(asBytes(bytes));
  check(r.error && `not a valid checkpoint: ${r.error}`);
  delete r.error;
  return r;
}
