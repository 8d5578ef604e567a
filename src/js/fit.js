// Trainer.fit (src/js/wasm-trainer.js) and the worker client's fit (worker-api.js):
// train whole epochs in short wasm calls, report progress, stop on an AbortSignal,
// and autosave. Types: FitOptions, FitResult, StepEvent and EpochEvent in
// wasm-trainer.d.ts.
//
// The loop runs a few steps per trainSteps() call (V8 optimizes wasm only between
// calls: TOOLCHAIN "V8 tiering"), calls for about `sliceMs`, then yields to the event
// loop so that an abort, a Comlink request or a page's UI gets through.

/** Steps per trainSteps() call, wasm time before yielding, and the onStep rate. */
export const FIT_DEFAULTS = Object.freeze({ stepsPerCall: 4, sliceMs: 60, progressMs: 100 });

// The data object last given to each trainer: fit(data) with the same object again
// continues without copying the images into wasm a second time.
const lastData = new WeakMap();

// A task boundary: setImmediate in Node; in pages and workers a MessageChannel
// message (setTimeout's nested-timer clamp would add 4 ms per slice).
let yieldToEventLoop;
if (typeof setImmediate === 'function') {
  yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));
} else {
  const waiters = [];
  let channel = null;
  yieldToEventLoop = () => new Promise((resolve) => {
    if (!channel) {
      channel = new MessageChannel();
      channel.port1.onmessage = () => waiters.shift()?.();
    }
    waiters.push(resolve);
    channel.port2.postMessage(null);
  });
}

/** Calls a user callback; a promise it returns is not awaited (training goes on),
 *  but its rejection is reported rather than lost. A synchronous throw ends fit. */
function call(callback, event) {
  if (!callback) return;
  const r = callback(event);
  if (r && typeof r.then === 'function') r.then(undefined, (e) => console.error('wasm-trainer: a fit callback failed:', e));
}

const count = (v, name, min) => {
  if (v === Infinity) return v;
  if (!Number.isInteger(v) || v < min) throw new Error(`fit: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
};

/**
 * Trains `trainer` (a Trainer of wasm-trainer.js) until `epochs` more epoch ends
 * (a run resumed mid-epoch counts finishing that epoch as its first), `maxSteps`
 * steps, or until `signal` aborts. `data` (the four IDX files) is given to
 * setData first unless it is null or the same object as last time.
 * Resolves to a FitResult; an abort is not an error (aborted: true). Rejects when a
 * step fails (a non-finite loss: the weights stay as before that step).
 */
export async function fitTrainer(trainer, data, options = {}) {
  const {
    epochs = 1, maxSteps = Infinity, evaluate = true, onStep, onEpoch, signal, autosave,
    stepsPerCall = FIT_DEFAULTS.stepsPerCall, sliceMs = FIT_DEFAULTS.sliceMs, progressMs = FIT_DEFAULTS.progressMs,
  } = options ?? {};
  count(epochs, 'epochs', 0);
  count(maxSteps, 'maxSteps', 1);
  count(stepsPerCall, 'stepsPerCall', 1);
  if (data && lastData.get(trainer) !== data) {
    trainer.setData(data);
    lastData.set(trainer, data);
  }
  const start = trainer.progress();
  if (start.trainCount === 0) throw new Error('fit: no training data: pass the data (or call setData) first');
  const batch = trainer.config.batchSize;
  const now = () => performance.now();

  let steps = 0, epochsDone = 0, aborted = false;
  let pending = [];
  let lastEmit = now(), rateFrom = now(), rateSteps = 0, epochStart = now();
  const emitSteps = () => {
    if (pending.length === 0) return;
    const p = trainer.progress();
    const seconds = (now() - rateFrom) / 1000;
    const losses = Float32Array.from(pending);
    pending = [];
    call(onStep, {
      step: p.step, epoch: p.epoch, epochStep: p.epochStep, stepsPerEpoch: p.stepsPerEpoch,
      loss: losses[losses.length - 1], losses, samplesPerSecond: seconds > 0 ? (rateSteps * batch) / seconds : 0,
    });
    lastEmit = now();
    rateFrom = lastEmit;
    rateSteps = 0;
  };

  while (epochsDone < epochs && steps < maxSteps) {
    if (signal?.aborted) { aborted = true; break; }
    let ended = null;
    const sliceEnd = now() + sliceMs;
    do {
      const r = trainer.trainSteps(Math.min(stepsPerCall, maxSteps - steps));
      steps += r.steps;
      rateSteps += r.steps;
      for (const l of r.losses) pending.push(l);
      if (r.epochEnded) { ended = r; break; }
    } while (now() < sliceEnd && steps < maxSteps);

    if (ended) {
      emitSteps();
      epochsDone++;
      const seconds = (now() - epochStart) / 1000;
      // recordEpoch stores the test result in the history, and so in checkpoints.
      const ev = evaluate && ended.testCount > 0 ? await trainer.evaluateAsync({ recordEpoch: true }) : null;
      call(onEpoch, {
        epoch: ended.epoch, step: ended.step, loss: ended.epochLoss,
        testLoss: ev ? ev.loss : NaN, testAccuracy: ev ? ev.accuracy : NaN, seconds,
      });
      autosave?.checkpoint('epoch');
      epochStart = now();
    } else {
      if (now() - lastEmit >= progressMs) emitSteps();
      autosave?.tick();
    }
    await yieldToEventLoop();
  }
  emitSteps();
  const p = trainer.progress();
  if (autosave) await autosave.checkpoint(aborted ? 'stop' : 'done');
  return { ...p, steps, epochs: epochsDone, aborted };
}
