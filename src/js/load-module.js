// Loading the wasm (part of the JS API, wasm-trainer.js): in a page, a worker and Node.
//  - browsers/workers import the ES-module build (build/wasm/wasm_trainer.mjs);
//  - Node requires the CommonJS build and passes the bytes as wasmBinary
//    (TOOLCHAIN traps 3 and 5: Emscripten 3.1.6 would try to fetch() a path).
//    WT_BUILD_DIR=DIR (Node only) takes the build from DIR instead of build/wasm
//    and build/wasm-mt: DIR/wasm_trainer_node.cjs, and for threads > 1
//    DIR/wasm_trainer_mt_node.cjs if DIR has it, else the single-thread build
//    (which then runs one thread; results are the same).

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

/** A module for work that does not train (describing models, reading checkpoints):
 *  whichever variant is already loaded, else the single-thread one. */
export function anyModule() {
  return modulePromises.get(false) ?? modulePromises.get(true) ?? loadModule();
}

// Node's modules through a specifier bundlers do not follow: a browser bundle (Vite,
// webpack) then neither externalizes them nor splits them into chunks, which a
// worker bundle in IIFE format (Vite's default) cannot have.
const importNode = (name) => import(/* @vite-ignore */ /* webpackIgnore: true */ `node:${name}`);

async function loadNode(mt) {
  const { createRequire } = await importNode('module');
  const { readFile } = await importNode('fs/promises');
  const { existsSync } = await importNode('fs');
  const path = await importNode('path');
  const { fileURLToPath } = await importNode('url');
  let base; // the build's path without its extension
  if (process.env.WT_BUILD_DIR) {
    const dir = path.resolve(process.env.WT_BUILD_DIR);
    base = path.join(dir, 'wasm_trainer_node');
    if (mt && existsSync(path.join(dir, 'wasm_trainer_mt_node.cjs'))) base = path.join(dir, 'wasm_trainer_mt_node');
  } else {
    const name = mt ? 'wasm-mt/wasm_trainer_mt_node' : 'wasm/wasm_trainer_node';
    base = fileURLToPath(new URL(`../../build/${name}`, import.meta.url));
  }
  let factory, wasmBinary;
  try {
    factory = createRequire(import.meta.url)(`${base}.cjs`);
    wasmBinary = await readFile(`${base}.wasm`);
  } catch (e) {
    throw new Error(`the wasm build is missing (${base}.wasm): run "npm run build" first`);
  }
  // The pthreads build resolves only once its pre-started workers have loaded the
  // module; should one never report back, say so instead of waiting forever.
  let timer;
  const watchdog = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the wasm module (${path.basename(base)}) did not start within 120 s` +
      (mt ? ': its pthread workers never reported as loaded' : ''))), 120_000);
  });
  const m = await Promise.race([factory({ wasmBinary }), watchdog]).finally(() => clearTimeout(timer));
  // TOOLCHAIN trap 4: live pthread workers would keep Node running after the work
  // is done; unref them so the process exits when the script does.
  if (m.PThread) for (const w of [...m.PThread.unusedWorkers, ...m.PThread.runningWorkers]) w.unref?.();
  return m;
}

// The browser build's files, each as a literal new URL('...', import.meta.url): plain
// ES modules (node_modules served as is) resolve them next to this file, and bundlers
// (Vite, webpack 5, Parcel) see the literals and emit the files as assets. The loader
// is then imported at run time and told where its .wasm and pthread worker went
// (locateFile; mainScriptUrlOrBlob is what each pthread worker imports).
function browserFiles(mt) {
  return mt ? {
    js: new URL('../../build/wasm-mt/wasm_trainer_mt.mjs', import.meta.url).href,
    wasm: new URL('../../build/wasm-mt/wasm_trainer_mt.wasm', import.meta.url).href,
    worker: new URL('../../build/wasm-mt/wasm_trainer_mt.worker.js', import.meta.url).href,
  } : {
    js: new URL('../../build/wasm/wasm_trainer.mjs', import.meta.url).href,
    wasm: new URL('../../build/wasm/wasm_trainer.wasm', import.meta.url).href,
  };
}

async function loadBrowser(mt) {
  const files = browserFiles(mt);
  // A bundler may inline the small pthread worker as a data: URL (Vite does below 4 kB).
  // A worker started from one has an opaque origin and cannot import the module: give
  // it a blob: URL of this page's origin instead.
  if (files.worker?.startsWith('data:')) {
    const text = await (await fetch(files.worker)).text();
    files.worker = URL.createObjectURL(new Blob([text], { type: 'text/javascript' }));
  }
  const { default: factory } = await import(/* @vite-ignore */ files.js);
  return factory({
    locateFile: (name) => (name.endsWith('.wasm') ? files.wasm : name.endsWith('.worker.js') ? files.worker : name),
    mainScriptUrlOrBlob: files.js,
  });
}
