// The page's checkpoints: the package's IndexedDB store and autosave policy
// (src/js/autosave.js: database "wasm-trainer", object stores `meta` and `bytes`,
// saves queued one at a time, no second checkpoint of the same step), with what the
// page adds: each record names the session's data, limits and epoch target, and
// saves and failed saves are reported to the page as events.
import { Autosave, openCheckpointStore } from '../../src/js/autosave.js';
import { currentData } from './data.js';
import { emit } from './events.js';
import { DEFAULTS, EVENT } from '../shared.js';

export const store = openCheckpointStore();

/** The autosave of the session that `current()` returns ({ trainer, limits,
 *  epochsTarget }, or null: nothing to save). */
export function sessionAutosave(current) {
  return new Autosave(() => current()?.trainer, {
    store,
    everySeconds: DEFAULTS.autosaveSeconds,
    keep: DEFAULTS.keepCheckpoints,
    meta: () => {
      const { trainer, limits, epochsTarget } = current();
      const data = currentData();
      return {
        epochsTarget, modelInput: Array.from(trainer.model.input), modelParams: trainer.model.params,
        dataName: data.name, dataId: data.id, trainLimit: limits.trainLimit, testLimit: limits.testLimit,
      };
    },
    // The list goes with the event, before the save counts as done ("done" shows after it).
    onSaved: async (record) => emit({ type: EVENT.CHECKPOINT_SAVED, record, checkpoints: await store.list() }),
    onError: (error) => emit({ type: EVENT.CHECKPOINT_ERROR, ...error }),
  });
}
