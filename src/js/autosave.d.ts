/**
 * Checkpoints in IndexedDB ("wasm-trainer/autosave"): a store, and the autosave policy
 * that fills it. The product page keeps its checkpoints with this same code (database
 * "wasm-trainer", version 1: object stores `meta` and `bytes`), so checkpoints saved by
 * either are seen by both.
 *
 * ```js
 * import { createTrainer } from 'wasm-trainer';
 * import { Autosave, openCheckpointStore } from 'wasm-trainer/autosave';
 * // In a worker of your own, with a trainer in it:
 * const t = await createTrainer({ model: 'lenet5' });
 * const autosave = new Autosave(t, { everySeconds: 30, keep: 5, onSaved: (r) => postMessage(r) });
 * await t.fit(data, { epochs: 3, autosave });
 * // Anywhere (page or worker): list, read, delete.
 * const store = openCheckpointStore();
 * const newest = await store.latest();   // { record, bytes } or null
 * ```
 * A `WorkerTrainer` takes `fit(data, { autosave: true })` instead: its worker
 * runs an Autosave.
 * @packageDocumentation
 */
import type { Trainer, CheckpointRecord, AutosaveHooks } from './wasm-trainer.js';

export type { CheckpointRecord } from './wasm-trainer.js';

/** The product page's database name: "wasm-trainer". */
export const DEFAULT_DB_NAME: string;

/** Which reason a merged save keeps: the weightiest ("tab hidden" over "epoch end"). */
export const REASON_WEIGHT: Readonly<Record<string, number>>;

/** True for the errors a full disk or exhausted quota produce. */
export function isQuotaError(e: unknown): boolean;

/** A checkpoint database. Each save is a new record; nothing is overwritten in place. */
export interface CheckpointStore {
  readonly name: string;
  /** Adds a checkpoint; resolves to its record (with id and size). Rejects with a
   *  QuotaExceededError when storage is full (see {@link isQuotaError}). */
  add(meta: Omit<CheckpointRecord, 'id' | 'size'> | Record<string, unknown>, bytes: Uint8Array): Promise<CheckpointRecord>;
  /** Deletes all but the newest `keep` (at least 1); resolves to the deleted ids. */
  prune(keep: number): Promise<number[]>;
  /** Records, newest first (without their bytes). */
  list(): Promise<CheckpointRecord[]>;
  /** A record with its bytes; rejects when it is no longer stored. */
  get(id: number): Promise<{ record: CheckpointRecord; bytes: Uint8Array }>;
  /** The newest checkpoint with its bytes, or null when there is none. */
  latest(): Promise<{ record: CheckpointRecord; bytes: Uint8Array } | null>;
  delete(id: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating if needed) a checkpoint database: default "wasm-trainer". Pages and
 *  workers only (throws where there is no IndexedDB, e.g. Node). */
export function openCheckpointStore(name?: string): CheckpointStore;

export interface AutosaveOptions {
  /** Default: openCheckpointStore(dbName). */
  store?: CheckpointStore;
  dbName?: string;
  /** tick() saves when this many seconds passed since the last save (default 30; 0: never). */
  everySeconds?: number;
  /** Newest checkpoints kept (default 5). */
  keep?: number;
  /** Extra fields for each record, or a function returning them at save time. */
  meta?: Record<string, unknown> | (() => Record<string, unknown>);
  /** A record was written (and old ones pruned). A promise it returns is awaited before
   *  the write counts as done (checkpoint()'s promise, flushed()), so what it sends
   *  comes first; its failure is logged, not reported as a failed save. */
  onSaved?: (record: CheckpointRecord) => void | Promise<unknown>;
  /** A failed save; default: console.warn. */
  onError?: (error: { kind: 'quota' | 'other'; message: string }) => void;
}

/**
 * Saves a trainer's checkpoints to a store: at each epoch end, every `everySeconds`
 * and at the end when given to {@link Trainer.fit} as `autosave`, and whenever
 * checkpoint() is called (e.g. when the tab is hidden). It runs where the trainer
 * runs and takes the bytes synchronously, so each checkpoint is exactly the step its
 * record names; writes run one at a time, a save waiting for its turn takes the newer
 * state instead of queueing another, and a step already saved is not saved again.
 */
export class Autosave implements AutosaveHooks {
  /** `trainer`: a Trainer in this thread, or a function returning the current one
   *  (or null: nothing to save). */
  constructor(trainer: Trainer | (() => Trainer | null | undefined), options?: AutosaveOptions);
  readonly store: CheckpointStore;
  everySeconds: number;
  keep: number;
  onSaved?: (record: CheckpointRecord) => void | Promise<unknown>;
  onError?: (error: { kind: 'quota' | 'other'; message: string }) => void;
  /** Whether `everySeconds` (> 0) passed since the last save. */
  readonly due: boolean;
  /** Saves if it is due (reason 'timer'). */
  tick(): Promise<CheckpointRecord | null> | null;
  /** The current state counts as saved (e.g. just loaded): the interval restarts. */
  markSaved(): void;
  /** Saves the current state as a new record, unless this step is already saved (then
   *  it waits for that write) or `force`. Resolves to the record, or null when nothing
   *  was written (no trainer, step 0, already saved, or an error given to onError). */
  checkpoint(reason?: string, options?: { force?: boolean }): Promise<CheckpointRecord | null>;
  /** Resolves when every queued write has finished. */
  flushed(): Promise<void>;
}
