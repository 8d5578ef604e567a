// The package's entry under Node ("wasm-trainer" with the "node" condition; types:
// index.d.ts): the same API as index.js. Left out, `threads` is min(4, cores), as the
// CLI's. `worker: true` runs the trainer in a worker_threads Worker (worker.node.js);
// the worker holds the process open only while a call is pending, so a script ends
// when its work does (dispose() ends the worker at once).
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import nodeEndpoint from '../../node_modules/comlink/dist/esm/node-adapter.mjs';
import { WorkerTrainer } from './client.js';
import { makeCreateTrainer } from './create.js';

export * from './wasm-trainer.js';
export { WorkerTrainer } from './client.js';
export { FIT_DEFAULTS } from './fit.js';

const autoThreads = () => Math.max(1, Math.min(4, availableParallelism()));

/** A trainer in a worker_threads Worker started here (the package's worker.node.js). */
export async function createWorkerTrainer(config = {}) {
  const { worker: _, ...rest } = config ?? {};
  if (rest.threads === undefined) rest.threads = autoThreads();
  const w = new Worker(new URL('./worker.node.js', import.meta.url));
  // Referenced (keeping the process alive) only while calls are pending.
  w.unref();
  let pending = 0;
  const busy = async (promise) => {
    if (pending++ === 0) w.ref();
    try { return await promise; } finally { if (--pending === 0) w.unref(); }
  };
  return WorkerTrainer.start(nodeEndpoint(w), rest, { end: () => w.terminate(), busy });
}

/** createTrainer of wasm-trainer.js, plus `worker` and `checkpoint` (index.js). */
export const createTrainer = makeCreateTrainer({ createWorkerTrainer, autoThreads });
