// The package's entry for pages, workers and bundlers ("wasm-trainer"; types:
// index.d.ts). It is the JS API of wasm-trainer.js, with createTrainer taking two more
// options: `worker: true` trains in a Web Worker it starts (client.js, worker.js),
// and `checkpoint` starts from checkpoint bytes (with the checkpoint's model). Left
// out, `threads` is automatic: the pthreads build (up to 4 threads) when the page is
// cross-origin isolated, else the single-thread build, said once with console.info.
import { threadsSupported } from './wasm-trainer.js';
import { WorkerTrainer } from './client.js';
import { makeCreateTrainer } from './create.js';

export * from './wasm-trainer.js';
export { WorkerTrainer } from './client.js';
export { FIT_DEFAULTS } from './fit.js';

let isolationNoted = false;
/** Threads for a config that leaves them out. */
function autoThreads() {
  if (threadsSupported()) return Math.max(1, Math.min(4, globalThis.navigator?.hardwareConcurrency || 1));
  if (!isolationNoted) {
    isolationNoted = true;
    console.info('wasm-trainer: this page is not cross-origin isolated (serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), so training uses the single-thread build.');
  }
  return 1;
}

/** A trainer in a Web Worker started here (the package's worker.js), or in `worker`
 *  when given: a Worker already running that file. */
export async function createWorkerTrainer(config = {}, { worker } = {}) {
  const { worker: _, ...rest } = config ?? {};
  if (rest.threads === undefined) rest.threads = autoThreads(); // the worker would too, but silently
  const w = worker ?? new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'wasm-trainer' });
  return WorkerTrainer.start(w, rest, { end: () => w.terminate() });
}

/** createTrainer of wasm-trainer.js, plus `worker` and `checkpoint` (see above). */
export const createTrainer = makeCreateTrainer({ createWorkerTrainer, autoThreads });
