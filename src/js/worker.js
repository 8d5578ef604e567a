// The package's Web Worker entry: a trainer behind Comlink (worker-api.js), started by
// createTrainer({worker: true}) / createWorkerTrainer() (index.js, client.js). Pages
// need not import it; it is exported as "wasm-trainer/worker" for those that start
// their own worker and wrap it with wrapWorker().
//
// Comlink by relative URL, not the bare specifier: Chromium does not apply a page's
// import map inside module workers. The package bundles comlink (package.json
// bundleDependencies), so the path is the same in this repository and in node_modules.
import * as Comlink from '../../node_modules/comlink/dist/esm/comlink.mjs';
import { threadsSupported } from './wasm-trainer.js';
import { createWorkerApi } from './worker-api.js';

// The pthreads build when the page is cross-origin isolated (COOP/COEP headers), with
// up to 4 threads; else the single-thread build. Results are identical either way.
const autoThreads = () => (threadsSupported() ? Math.max(1, Math.min(4, self.navigator?.hardwareConcurrency || 1)) : 1);

Comlink.expose(createWorkerApi({ Comlink, autoThreads }));
