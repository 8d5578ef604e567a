/**
 * wasm-trainer: train a neural network (a PyTorch-style layer list) in WebAssembly, in
 * a page, a worker or Node, with checkpoints you can trust.
 *
 * ```js
 * import { createTrainer } from 'wasm-trainer';
 * const t = await createTrainer({ model: 'lenet5', worker: true });
 * await t.fit(data, { epochs: 1, onStep: (e) => show(e.loss), signal });
 * const bytes = await t.save();
 * ```
 *
 * This entry ("wasm-trainer") is the API of `wasm-trainer.js` (also exported as
 * "wasm-trainer/core") with a createTrainer that takes `worker` and `checkpoint`.
 * Checkpoints in IndexedDB: "wasm-trainer/autosave".
 * @packageDocumentation
 */
import type { Trainer, TrainerConfig, FitOptions, FitResult, WorkerFitOptions, CheckpointRecord, Dataset,
  ModelInfo, Progress, History, Evaluation } from './wasm-trainer.js';

export * from './wasm-trainer.js';

/** createTrainer's options in the package: the hyperparameters and model of
 *  {@link TrainerConfig}, where to run, and a checkpoint to start from. */
export interface CreateTrainerOptions extends TrainerConfig {
  /** Train in a worker started for it (a Web Worker in pages, worker_threads in Node):
   *  createTrainer then resolves to a {@link WorkerTrainer}. Default false. */
  worker?: boolean;
  /** Checkpoint bytes to start from; its model is used when `model` is left out
   *  (format version 1 files are the "seed" model). */
  checkpoint?: Uint8Array;
  /** Default: automatic. In pages and workers, the pthreads build with up to 4
   *  threads when cross-origin isolated, else 1 (said once with console.info); in
   *  Node, min(4, cores). Results are bit-identical for any count. */
  threads?: number;
}

/** Loads the wasm and makes a trainer in this thread, or in a worker with `worker: true`. */
export function createTrainer(options: CreateTrainerOptions & { worker: true }): Promise<WorkerTrainer>;
export function createTrainer(options?: CreateTrainerOptions & { worker?: false }): Promise<Trainer>;
export function createTrainer(options?: CreateTrainerOptions): Promise<Trainer | WorkerTrainer>;

/** The same as createTrainer({...options, worker: true}). In pages, `worker` may be
 *  a Worker you started on the package's worker entry ("wasm-trainer/worker", as a
 *  module worker) instead of one started here. */
export function createWorkerTrainer(options?: Omit<CreateTrainerOptions, 'worker'>, where?: { worker?: WorkerLike }): Promise<WorkerTrainer>;

/** A started Web Worker (structural, so that Node projects without the DOM types check). */
export interface WorkerLike {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  terminate(): unknown;
}

/** fit's defaults: steps per wasm call, ms per slice, ms between onStep events. */
export const FIT_DEFAULTS: Readonly<{ stepsPerCall: number; sliceMs: number; progressMs: number }>;

/** A trainer running in a worker it started (a Web Worker in pages, worker_threads in
 *  Node): the methods of {@link Trainer} that a page needs, all async. */
export class WorkerTrainer {
  private constructor();
  /** The model, as {@link Trainer.model}. */
  readonly model: ModelInfo;
  /** The effective hyperparameters (updated by load). */
  readonly config: Required<Omit<TrainerConfig, 'model'>>;
  /** Threads of the worker's wasm (1: the single-thread build). */
  readonly threads: number;
  setData(data: Dataset): Promise<void>;
  /** As {@link Trainer.fit}; the data is copied to the worker once (again only when
   *  another object is passed). Calls made meanwhile are answered between slices. */
  fit(data: Dataset | null, options?: WorkerFitOptions): Promise<FitResult>;
  /** The whole training state as checkpoint bytes (safetensors). */
  save(): Promise<Uint8Array>;
  /** Validates and loads checkpoint bytes (refused while fit runs); on error the
   *  trainer is unchanged. */
  load(bytes: Uint8Array): Promise<void>;
  predict(images: Uint8Array | Float32Array): Promise<{ labels: Uint8Array; probabilities: Float32Array }>;
  evalLogits(images: Uint8Array | Float32Array): Promise<Float32Array>;
  evaluate(opts?: { limit?: number; recordEpoch?: boolean }): Promise<Evaluation>;
  progress(): Promise<Progress>;
  history(): Promise<History>;
  /** Saves to the autosave store now (only while fit runs with `autosave`). */
  checkpointNow(reason?: string): Promise<CheckpointRecord | null>;
  /** Ends the worker (and any fit in it). */
  dispose(): Promise<void>;
}
