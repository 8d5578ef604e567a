// The package's worker entry under Node's worker_threads: the same API as worker.js
// (worker-api.js), over Comlink's Node adapter. Started by createTrainer({worker: true})
// in Node (index.node.js).
import { parentPort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import * as Comlink from '../../node_modules/comlink/dist/esm/comlink.mjs';
import nodeEndpoint from '../../node_modules/comlink/dist/esm/node-adapter.mjs';
import { createWorkerApi } from './worker-api.js';

const autoThreads = () => Math.max(1, Math.min(4, availableParallelism()));

Comlink.expose(createWorkerApi({ Comlink, autoThreads }), nodeEndpoint(parentPort));
