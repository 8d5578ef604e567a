// createTrainer of the package's entries (index.js for browsers, index.node.js for
// Node): wasm-trainer.js's createTrainer plus `worker: true` (a WorkerTrainer from
// the entry's own createWorkerTrainer) and `checkpoint` (start from checkpoint bytes,
// with the checkpoint's model), threads defaulting to the entry's autoThreads().
import { createTrainer as createLocalTrainer, modelOfCheckpoint } from './wasm-trainer.js';

export function makeCreateTrainer({ createWorkerTrainer, autoThreads }) {
  return async function createTrainer(config = {}) {
    if (config?.worker) return createWorkerTrainer(config);
    const { worker: _, checkpoint, ...rest } = config ?? {};
    if (rest.threads === undefined) rest.threads = autoThreads();
    if (checkpoint && rest.model === undefined) rest.model = (await modelOfCheckpoint(checkpoint)).canonical;
    const t = await createLocalTrainer(rest);
    if (checkpoint) {
      try { t.loadCheckpoint(checkpoint); } catch (e) { t.dispose(); throw e; }
    }
    return t;
  };
}
