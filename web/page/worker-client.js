// The training worker (../worker.js), reached through Comlink: `api` has its
// functions, each returning a promise.
import * as Comlink from 'comlink';
import { showError } from './errors.js';

const worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
worker.addEventListener('error', (e) => {
  showError('The training worker failed to start', `${e.message || 'a script failed to load'}. Check that the build finished ("npm run build").`);
});

export const api = Comlink.wrap(worker);
export { Comlink };
