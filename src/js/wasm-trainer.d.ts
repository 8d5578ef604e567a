// The one JS API of wasm-trainer. The CLI, the Web Worker and the tests are
// thin clients of this module; it is the only code that touches the Embind
// bindings. Every array it returns is a JS-owned copy, never a view into wasm
// memory (which moves when memory grows).

// ------------------------------------------------------------ model spec ----
// A model mirrors torch.nn.Sequential: PyTorch's class names and argument names,
// with PyTorch's defaults; input sizes (in_channels, in_features, num_features)
// are inferred from the shapes. README: "The model spec".

/** A size: one int for both sides, or [h, w]. */
export type Size2 = number | [number, number];

interface LayerBase {
  /** State-dict prefix (`<name>.weight`); default: the layer's index as a string. */
  name?: string;
}
export interface Conv2dSpec extends LayerBase {
  type: 'Conv2d';
  out_channels: number;
  kernel_size: Size2;
  stride?: Size2;   // default 1
  padding?: Size2;  // default 0
  bias?: boolean;   // default true
}
export interface MaxPool2dSpec extends LayerBase {
  type: 'MaxPool2d';
  kernel_size: Size2;
  stride?: Size2;   // default: kernel_size
  padding?: Size2;  // default 0
}
export interface AvgPool2dSpec extends LayerBase {
  type: 'AvgPool2d';
  kernel_size: Size2;
  stride?: Size2;   // default: kernel_size
  padding?: Size2;  // default 0
}
/** Output size 1 only (global average pooling). */
export interface AdaptiveAvgPool2dSpec extends LayerBase { type: 'AdaptiveAvgPool2d'; output_size: 1 | [1, 1]; }
export interface ReLUSpec extends LayerBase { type: 'ReLU'; }
export interface LeakyReLUSpec extends LayerBase {
  type: 'LeakyReLU';
  negative_slope?: number;  // default 0.01
}
export interface TanhSpec extends LayerBase { type: 'Tanh'; }
export interface SigmoidSpec extends LayerBase { type: 'Sigmoid'; }
/** Flattens [c, h, w] in C, H, W order. */
export interface FlattenSpec extends LayerBase { type: 'Flatten'; }
export interface LinearSpec extends LayerBase {
  type: 'Linear';
  out_features: number;
  bias?: boolean;  // default true
}
/** Masks from (seed, step, the image's position in the batch); off in evaluation. */
export interface DropoutSpec extends LayerBase {
  type: 'Dropout';
  p?: number;  // default 0.5
}
/** PyTorch's semantics: batch statistics in training, running statistics in evaluation. */
export interface BatchNorm2dSpec extends LayerBase {
  type: 'BatchNorm2d';
  eps?: number;       // default 1e-5
  momentum?: number;  // default 0.1
  affine?: boolean;   // default true
}
export interface BatchNorm1dSpec extends LayerBase {
  type: 'BatchNorm1d';
  eps?: number;       // default 1e-5
  momentum?: number;  // default 0.1
  affine?: boolean;   // default true
}
export type LayerSpec =
  | Conv2dSpec | MaxPool2dSpec | AvgPool2dSpec | AdaptiveAvgPool2dSpec
  | ReLUSpec | LeakyReLUSpec | TanhSpec | SigmoidSpec | FlattenSpec
  | LinearSpec | DropoutSpec | BatchNorm2dSpec | BatchNorm1dSpec;
export type LayerType = LayerSpec['type'];

export interface ModelSpec {
  /** One image: [channels, height, width]. */
  input: [number, number, number];
  /** The last layer's output size is the number of classes. */
  layers: LayerSpec[];
  name?: string;
  description?: string;
}

/** The presets of src/defaults.json. */
export type PresetName = 'seed' | 'mlp' | 'lenet5' | 'bn-cnn' | 'cifar-convnet';

/** A preset name (default "seed"), a spec, or a spec's JSON text. */
export type Model = PresetName | ModelSpec | string;

/** One row of the layer table (torchinfo's summary). */
export interface LayerRow {
  index: number;
  /** The state-dict prefix: the layer's name, or its index as a string. */
  name: string;
  type: LayerType;
  /** Output shape of one image: [c, h, w], or [features] when flat. */
  shape: number[];
  params: number;
  /** Forward FLOPs per image (multiply-adds x 2). */
  flops: number;
}

/** A validated model (describeModel, Trainer.model, modelOfCheckpoint). */
export interface ModelDescription {
  /** The preset it is (the same network as), or "custom". */
  name: string;
  /** Canonical JSON: sorted keys, every argument explicit. */
  canonical: string;
  input: [number, number, number];
  classes: number;
  /** Trainable parameters. */
  params: number;
  /** Non-trained float values (BatchNorm's running statistics). */
  buffers: number;
  layers: LayerRow[];
  totalParams: number;
  totalFlops: number;
}

export interface ModelInfo extends ModelDescription {
  /** The canonical spec, parsed. */
  spec: ModelSpec;
}

export interface PresetInfo {
  name: PresetName;
  description: string;
  /** The default model (src/defaults.json "default_model"). */
  default: boolean;
  input: [number, number, number];
  classes: number;
  params: number;
  flops: number;
  /** The preset as written in src/defaults.json, without its description: a spec to
   *  start a custom model from. */
  spec: ModelSpec;
}

// ---------------------------------------------------------------- trainer ----

export interface TrainerConfig {
  /** Default "seed" (src/defaults.json). Invalid specs throw with the core's message. */
  model?: Model;
  seed?: number;          // default 0; drives init, the per-epoch shuffle and Dropout's masks
  learningRate?: number;  // default 1e-3
  batchSize?: number;     // default 64
  weightDecay?: number;   // default 0 (PyTorch Adam's L2 weight_decay)
  threads?: number;       // default 1; > 1 loads the pthreads build where supported
                          // (Node; pages that are cross-origin isolated). Results are
                          // bit-identical for any thread count.
}

/** The defaults of src/defaults.json. */
export interface Defaults {
  model: PresetName;
  seed: number;
  learningRate: number;
  batchSize: number;
  weightDecay: number;
  threads: number;
}

/** The four IDX files (MNIST's format), uncompressed bytes. Images must have the
 *  model's input shape: [n, c, h, w], or [n, h, w] for one channel; else setData
 *  throws naming both shapes. */
export interface Dataset {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
  /** Use only the first N train / test images (tests, the page's trainLimit). */
  trainLimit?: number;
  testLimit?: number;
  /** The data's name, class names, normalization and augmentation (default: none). */
  data?: DataOptions;
}

/** How images become the network's input (torchvision's RandomCrop(padding),
 *  RandomHorizontalFlip, ToTensor, Normalize), and what the data is called. Stored in
 *  checkpoints: resuming with other settings is refused. Evaluation never augments. */
export interface DataOptions {
  name?: string;
  classNames?: string[];
  /** Per channel: (x / 255 - mean[c]) / std[c]. */
  normalize?: { mean: number[]; std: number[] };
  /** Training only, drawn from (seed, epoch, image index). */
  augment?: { cropPadding?: number; hflip?: boolean };
}

/** CIFAR-10's binary batches (1 label byte + 3,072 bytes of R, G, B planes per record). */
export interface Cifar10Files {
  /** data_batch_1.bin ... data_batch_5.bin (any subset). */
  train: { name: string; bytes: Uint8Array }[];
  /** test_batch.bin */
  test: { name: string; bytes: Uint8Array }[];
  trainLimit?: number;
  testLimit?: number;
  /** Default: CIFAR-10's normalization and augmentation (src/defaults.json). */
  data?: DataOptions;
}

/** Loaded data held apart from any trainer ({@link Trainer.holdData}), for trainers of
 *  the same module to share ({@link Trainer.shareData}), with checks that make no trainer. */
export class HeldData {
  private constructor();
  /** All the images held (not a trainer's limits). */
  readonly trainCount: number;
  readonly testCount: number;
  /** [c, h, w] */
  readonly shape: number[];
  /** The data options of the trainer it was held from (shareData's default). */
  readonly data: DataOptions;
  /** Throws what shareData would say for a trainer of `model` with these options. */
  check(model: Model, options?: ShareDataOptions): void;
  /** Throws what a trainer of the checkpoint's own model would say, given this data
   *  (shareData with these options) and then the checkpoint (loadCheckpoint). */
  checkCheckpoint(bytes: Uint8Array, options?: ShareDataOptions): void;
  /** Lets go of the data (freed when no trainer uses it either). */
  dispose(): void;
}

/** A trainer's own view of data it shares ({@link Trainer.shareData}). */
export interface ShareDataOptions {
  /** The first N train / test images of the shared data (0 or absent: all of it). */
  trainLimit?: number;
  testLimit?: number;
  /** Normalization, augmentation, names (default: the other trainer's). */
  data?: DataOptions;
}

/** What {@link checkData} checks the data against. */
export interface CheckDataOptions {
  /** The labels must be below this. */
  classes?: number;
  /** Or a model: its classes, and its input, which the images must fit. */
  model?: Model;
  trainLimit?: number;
  testLimit?: number;
  /** Class names and normalization to check with the data (CIFAR-10: its defaults). */
  data?: DataOptions;
}

/** A built-in dataset of src/defaults.json. */
export interface DatasetInfo {
  name: 'mnist' | 'fashion-mnist' | 'cifar-10' | string;
  /** The name to show: "MNIST", "Fashion-MNIST", "CIFAR-10". */
  displayName: string;
  description: string;
  input: [number, number, number];
  classNames: string[];
  options: DataOptions;
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
  /** Prefer createTrainer, which loads the module. Throws on an invalid config or model. */
  constructor(module: unknown, config?: TrainerConfig);
  readonly config: Required<Omit<TrainerConfig, 'model'>>;
  readonly model: ModelInfo;
  setData(data: Dataset): void;
  /** CIFAR-10's binary files; throws (naming the file) on a truncated record or a
   *  label outside 0..9, leaving the loaded data as it was. */
  setCifar10(files: Cifar10Files): void;
  /** Takes the data `source` (another Trainer, or a {@link HeldData}) holds without
   *  copying it: trainers of one module share one immutable copy of the loaded images,
   *  freed with the last trainer or HeldData that holds it (disposing of the source
   *  afterwards is fine). This trainer uses the first `trainLimit` / `testLimit` images
   *  of it (0, the default: all that the source holds, whatever its own limits) with
   *  its own data options (default: the source's), checked as {@link Trainer.setData}
   *  checks them; on an error nothing changes. Both must come from the same module
   *  (the same `threads` build, not two workers).
   *
   *  ```js
   *  // Resume a checkpoint on the data of `current`, never holding the data twice, nor
   *  // two trainers at once (a workspace of cifar-convnet on 4 threads is ~100 MiB):
   *  const held = current.holdData();
   *  held.checkCheckpoint(bytes);             // throws, current untouched, if refused
   *  current.dispose();
   *  const next = await createTrainer({ model: (await modelOfCheckpoint(bytes)).canonical, threads: 4 });
   *  next.shareData(held);
   *  next.loadCheckpoint(bytes);
   *  held.dispose();                          // next keeps the data alive
   *  ```
   */
  shareData(source: Trainer | HeldData, options?: ShareDataOptions): void;
  /** This trainer's data, held apart from it: it stays in memory after the trainer is
   *  disposed of, until the HeldData is disposed of too. Throws without data. */
  holdData(): HeldData;
  /** The loaded data's options. */
  readonly data: DataOptions;
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
  /** images: n * (c*h*w of the model's input) bytes (0..255) or floats (0..1).
   *  Returns the argmax and the softmax (n * classes), in evaluation mode. */
  predict(images: Uint8Array | Float32Array): { labels: Uint8Array; probabilities: Float32Array };
  /** The logits (n * classes) in evaluation mode (Dropout off, BatchNorm's running statistics). */
  evalLogits(images: Uint8Array | Float32Array): Float32Array;
  history(): History;
  /** The whole training state as a checkpoint file (safetensors layout). */
  saveCheckpoint(): Uint8Array;
  /** Validates everything first; on error throws with a clear message and
   *  leaves the trainer exactly as it was. */
  loadCheckpoint(bytes: Uint8Array): void;
  /** Trains whole epochs in short wasm calls, with progress callbacks, an AbortSignal
   *  and autosave; `data` goes to setData first unless it is null or the object given
   *  last time. Yields to the event loop about every 60 ms, so a page or Node stays
   *  responsive. The same method as {@link WorkerTrainer.fit}. */
  fit(data: Dataset | null, options?: FitOptions): Promise<FitResult>;
  /** {@link Trainer.saveCheckpoint} under the worker client's name. */
  save(): Uint8Array;
  /** {@link Trainer.loadCheckpoint} under the worker client's name. */
  load(bytes: Uint8Array): void;
  dispose(): void;

  // ---- reference-test surface (tests/node/fixture.test.js, interop.test.js) ----
  /** Parameters and Adam moments by name (`conv1.weight`, `optimizer.conv1.weight.exp_avg`, ...),
   *  BatchNorm's `<layer>.running_mean` / `running_var`, and its `<layer>.num_batches_tracked`
   *  as a BigInt64Array of one value (I64, as PyTorch stores it). */
  tensors(): Record<string, Float32Array | BigInt64Array>;
  /** Any tensor of tensors(); a counter takes one number or bigint (or a one-value array). */
  setTensor(name: string, values: ArrayLike<number> | ArrayLike<bigint> | number | bigint): void;
  /** Sets `<layer>.num_batches_tracked`. */
  setCounter(name: string, value: number | bigint): void;
  /** Forward + backward of an explicit batch (n * input size floats, n labels) in
   *  training mode; the batch-mean gradient stays for adamStep(). */
  forwardBackward(images: Float32Array, labels: ArrayLike<number>):
    { loss: number; logits: Float32Array; grads: Record<string, Float32Array> };
  /** One Adam update from the last forwardBackward (step count + 1). */
  adamStep(): void;
}

/** Loads the wasm module once (browser, worker or Node) and makes a trainer.
 *  Node: WT_BUILD_DIR=DIR takes the build from DIR (wasm_trainer_node.cjs; for
 *  threads > 1 wasm_trainer_mt_node.cjs when DIR has it, else one thread). */
export function createTrainer(config?: TrainerConfig): Promise<Trainer>;
/** Checks data as {@link Trainer.setData} (four IDX files) or {@link Trainer.setCifar10}
 *  ({train, test}) would take it, without keeping it: the pixels are never copied into
 *  wasm memory (IDX: the images file's header and the labels are; CIFAR-10's files are
 *  read a megabyte at a time), so new data can be checked while other data fills the
 *  memory. Rejects with the message setData would give (a truncated file, a label out
 *  of range, a class-name count that does not match). */
export function checkData(source: Dataset | Cifar10Files, options: CheckDataOptions):
  Promise<{ shape: number[]; trainCount: number; testCount: number }>;
/** The Embind module (advanced use: scripts/bench.js). */
export function loadModule(opts?: { threads?: number }): Promise<unknown>;
/** True where the pthreads build can run (Node, or a cross-origin isolated page). */
export function threadsSupported(): boolean;
/** The default model and hyperparameters (src/defaults.json, read through the wasm). */
export function getDefaults(): Promise<Defaults>;
/** The presets with their input shapes, class counts and parameter counts. */
export function listPresets(): Promise<PresetInfo[]>;
/** The built-in datasets: mnist, fashion-mnist, cifar-10 (bring the files). */
export function listDatasets(): Promise<DatasetInfo[]>;
/** Whether images of shape `dataShape` ([c, h, w], or [h, w] for one channel) fit a
 *  model whose input is `modelInput`, by setData's rule: the same shape, [h, w] for an
 *  input [1, h, w], or any shape of n values for a flat input [n]. */
export function inputFits(dataShape: readonly number[], modelInput: readonly number[]): boolean;
/** Validates a model and describes it layer by layer; rejects with the core's
 *  message (layer index, type, field, what was expected) when it is refused. */
export function describeModel(model?: Model): Promise<ModelDescription>;
/** "" when a and b are the same network, else a sentence naming the first layer that differs. */
export function modelDifference(a: Model, b: Model): Promise<string>;
/** Reads a checkpoint's metadata and tensor list without a trainer (validates it). */
export function inspectCheckpoint(bytes: Uint8Array): Promise<CheckpointInfo>;
/** The model stored in a checkpoint (format version 1 files, without a spec, are
 *  "seed"); rejects with "refused checkpoint: ..." when it cannot be read. */
export function modelOfCheckpoint(bytes: Uint8Array): Promise<ModelDescription>;

// -------------------------------------------------------------------- fit ----

/** Progress between steps (onStep), at most every `progressMs` and at each epoch end. */
export interface StepEvent {
  /** Optimizer steps done in total. */
  step: number;
  /** Epochs completed. */
  epoch: number;
  epochStep: number;
  stepsPerEpoch: number;
  /** The loss of each step since the previous event. */
  losses: Float32Array;
  /** The last of them. */
  loss: number;
  /** Training images per second since the previous event. */
  samplesPerSecond: number;
}

/** An epoch's end (onEpoch), after the test-set evaluation (unless `evaluate: false`). */
export interface EpochEvent {
  /** Epochs completed, this one included (progress().epoch). */
  epoch: number;
  step: number;
  /** The epoch's mean training loss. */
  loss: number;
  /** NaN when not evaluated (evaluate: false, or no test images). */
  testLoss: number;
  testAccuracy: number;
  /** Wall time of the epoch's training (without the evaluation). */
  seconds: number;
}

/** How fit uses an `Autosave` ("wasm-trainer/autosave") where the trainer runs. */
export interface AutosaveHooks {
  /** Called between slices: saves when the interval has passed. */
  tick(): unknown;
  /** Called at each epoch end ('epoch') and at the end ('done' or 'stop'; awaited). */
  checkpoint(reason: string): Promise<unknown>;
}

export interface FitOptions {
  /** Epoch ends to reach in this call (default 1; a run resumed mid-epoch counts
   *  finishing that epoch as its first). 0 with `maxSteps` trains just steps. */
  epochs?: number;
  /** Stop after this many steps of this call (default: no limit). */
  maxSteps?: number;
  /** Evaluate on the test set at each epoch end and record it in the history (default true). */
  evaluate?: boolean;
  onStep?: (event: StepEvent) => void;
  onEpoch?: (event: EpochEvent) => void;
  /** Stops after the current slice of steps; fit then resolves with `aborted: true`
   *  (not an error: the trainer holds the state of the last step taken). */
  signal?: AbortSignal;
  /** An `Autosave` of this trainer ("wasm-trainer/autosave"). */
  autosave?: AutosaveHooks;
  /** Steps per wasm call (default 4). */
  stepsPerCall?: number;
  /** Wasm time before yielding to the event loop, in ms (default 60). */
  sliceMs?: number;
  /** onStep at most this often, in ms (default 100). */
  progressMs?: number;
}

export interface FitResult extends Progress {
  /** Steps taken by this call. */
  steps: number;
  /** Epoch ends reached by this call. */
  epochs: number;
  /** True when the signal stopped it. */
  aborted: boolean;
}

// ---------------------------------------------------------- worker client ----

/** Where and how a worker trainer autosaves (IndexedDB, in the worker; pages only). */
export interface WorkerAutosaveOptions {
  /** IndexedDB database (default "wasm-trainer", the product page's). */
  dbName?: string;
  /** Save at least this often while training, in seconds (default 30; 0: only at epoch ends and the end). */
  everySeconds?: number;
  /** Newest checkpoints kept (default 5). */
  keep?: number;
  /** Extra fields stored in each record (a plain object: it crosses to the worker). */
  meta?: Record<string, unknown>;
}

/** A saved checkpoint's record in the store (autosave.d.ts). */
export interface CheckpointRecord {
  id: number;
  createdAt: number;
  /** Why it was saved: 'epoch', 'timer', 'hidden', 'pagehide', 'stop', 'done', 'manual', ... */
  reason: string;
  step: number;
  epoch: number;
  epochStep: number;
  stepsPerEpoch: number;
  /** Mean of the last 20 step losses. */
  loss: number;
  /** The last recorded test accuracy (NaN if none). */
  accuracy: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** The model's name (a preset, or "custom"). */
  model: string;
  trainCount: number;
  testCount: number;
  /** Bytes of the checkpoint. */
  size: number;
  [extra: string]: unknown;
}

export interface WorkerFitOptions extends Omit<FitOptions, 'autosave'> {
  /** Save checkpoints to IndexedDB from the worker: at each epoch end, every
   *  `everySeconds`, when the tab is hidden or closed, and at the end. */
  autosave?: boolean | WorkerAutosaveOptions;
  onCheckpoint?: (record: CheckpointRecord) => void;
  /** A failed save (kind 'quota' when storage is full); default: console.warn. */
  onCheckpointError?: (error: { kind: 'quota' | 'other'; message: string }) => void;
}

