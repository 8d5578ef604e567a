// The one JS API of wasm-trainer. The CLI, the Web Worker and the tests are
// thin clients of this module; it is the only code that touches the Embind
// bindings. Every array it returns is a JS-owned copy, never a view into wasm
// memory (which moves when memory grows).

export interface TrainerConfig {
  seed?: number;          // default 0; drives init and the per-epoch shuffle
  learningRate?: number;  // default 1e-3
  batchSize?: number;     // default 64
  weightDecay?: number;   // default 0 (PyTorch Adam's L2 weight_decay)
  threads?: number;       // default 1; > 1 loads the pthreads build where supported
                          // (Node; pages that are cross-origin isolated). Results are
                          // bit-identical for any thread count.
}

/** The four IDX files (MNIST's format), uncompressed bytes. */
export interface Dataset {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
  /** Use only the first N train / test images (tests, the page's trainLimit). */
  trainLimit?: number;
  testLimit?: number;
}

export interface Progress {
  step: number;          // optimizer steps done in total (the Adam step count)
  epoch: number;         // epochs completed
  epochStep: number;     // steps done inside the current epoch
  stepsPerEpoch: number; // ceil(trainCount / batchSize)
  trainCount: number;    // images in the training set in use (after trainLimit)
  testCount: number;     // images in the test set in use (after testLimit)
}

export interface StepsResult extends Progress {
  steps: number;         // steps taken by this call
  losses: Float32Array;  // the loss of each step taken by this call
  epochEnded: boolean;   // true when this call finished an epoch (it stops there)
  epochLoss?: number;    // mean train loss of the epoch that just ended
}

export interface Evaluation { loss: number; accuracy: number; count: number; }

export interface History {
  stepLoss: Float32Array;          // one entry per optimizer step since step 1
  stepAccuracy: Float32Array;      // train-batch accuracy 0..1 per step
  epochLoss: Float32Array;         // mean train loss per completed epoch
  epochTestLoss: Float32Array;     // test loss after each completed epoch (NaN if not evaluated)
  epochTestAccuracy: Float32Array; // 0..1 after each completed epoch (NaN if not evaluated)
}

export interface CheckpointInfo {
  metadata: Record<string, string>;
  tensors: { name: string; dtype: string; shape: number[] }[];
}

export class Trainer {
  readonly config: Required<TrainerConfig>;
  setData(data: Dataset): void;
  /** Runs up to n optimizer steps; stops early at the end of an epoch. Keep n small
   *  (a few batches): V8 optimizes wasm only between calls. Throws on a non-finite
   *  loss, leaving the weights as they were before that step. */
  trainSteps(n: number): StepsResult;
  progress(): Progress;
  /** Test-set loss and accuracy (in chunks of a few hundred images per wasm call).
   *  Records it in the history as the current epoch's test result when recordEpoch. */
  evaluate(opts?: { limit?: number; recordEpoch?: boolean }): Evaluation;
  /** The same, yielding to the event loop between slices (for workers). */
  evaluateAsync(opts?: { limit?: number; recordEpoch?: boolean }): Promise<Evaluation>;
  /** images: n*784 bytes (0..255) or floats (0..1). Returns argmax and softmax. */
  predict(images: Uint8Array | Float32Array): { labels: Uint8Array; probabilities: Float32Array };
  history(): History;
  /** The whole training state as a checkpoint file (safetensors layout). */
  saveCheckpoint(): Uint8Array;
  /** Validates everything first; on error throws with a clear message and
   *  leaves the trainer exactly as it was. */
  loadCheckpoint(bytes: Uint8Array): void;
  dispose(): void;

  // ---- reference-test surface (tests/node/fixture.test.js, interop.test.js) ----
  /** Parameters and Adam moments by name (`conv1.weight`, `optimizer.conv1.weight.exp_avg`, ...). */
  tensors(): Record<string, Float32Array>;
  setTensor(name: string, values: ArrayLike<number>): void;
  /** Forward + backward of an explicit batch; the batch-mean gradient stays for adamStep(). */
  forwardBackward(images: Float32Array, labels: ArrayLike<number>):
    { loss: number; logits: Float32Array; grads: Record<string, Float32Array> };
  /** One Adam update from the last forwardBackward (step count + 1). */
  adamStep(): void;
}

/** Loads the wasm module once (browser, worker or Node) and makes a trainer. */
export function createTrainer(config?: TrainerConfig): Promise<Trainer>;
/** True where the pthreads build can run (Node, or a cross-origin isolated page). */
export function threadsSupported(): boolean;
/** Reads a checkpoint's metadata and tensor list without a trainer (validates it). */
export function inspectCheckpoint(bytes: Uint8Array): Promise<CheckpointInfo>;
