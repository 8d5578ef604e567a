// Data loading in the worker: the built-in data sets (the JS API's listDatasets:
// src/defaults.json, with class names and data options) whose files the build
// prepared in build/data/ (listed in its manifest), downloaded once and kept
// compressed in the Cache API; and the user's own files: four IDX files, or
// CIFAR-10's binary batches, loose or as the distributed .tar.gz. Everything is
// inflated here (DecompressionStream) and kept as the bytes the JS API takes;
// giveData() hands them to a trainer (setData or setCifar10) with the data options.
// New data is read first (readBuiltin, readFiles) and made the current data by use(),
// so the session can check it before it replaces the data in use.
//
// The dataset picker is filled from listDatasets() below.
import { parseTar } from '../../node_modules/nanotar/dist/index.mjs';
import { cifar10Files, isCifar10File } from '../../src/js/cifar10.js';
import { listDatasets as apiDatasets } from '../../src/js/wasm-trainer.js';
import { emit } from './events.js';
import {
  BUILTIN_DATA_ID, DATA_FILES, DATA_MANIFEST, EVENT, TRAINING,
} from '../shared.js';

const DATA_CACHE = 'wasm-trainer-data-v1';
const DATA_DIR = new URL('../../build/data/', import.meta.url);
const CIFAR_RECORD = 1 + 3 * 32 * 32; // a label byte, then the R, G and B planes

/**
 * The loaded data: { id, name, builtin, kind: 'idx' | 'cifar10', shape: [c, h, w],
 * classNames, options (the JS API's data options), files (idx: { trainImages,
 * trainLabels, testImages, testLabels }; cifar10: { train, test }), trainCount,
 * testCount }.
 */
let data = null;
let lastLoad = null; // the load in flight (or the last one)
let testCache = null; // { data, labels, images } of the test set (results panel)
/** Limits from the page URL (trainLimit/testLimit). */
export const pageLimits = { trainLimit: 0, testLimit: 0 };

export const currentData = () => data;

/** Makes data read by readBuiltin or readFiles the current data. */
export function use(d) {
  data = d;
}

// ------------------------------------------------------------------ IDX ----

/** Kind, count and (images) the per-image shape [c, h, w] of an IDX file:
 *  images are 3-d [n, h, w] (one channel) or 4-d [n, c, h, w]. */
export function idxHeader(bytes, what) {
  if (bytes.length < 8) throw new Error(`${what}: the file is too short to be an IDX file (${bytes.length} bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0), count = v.getUint32(4);
  if (magic === 0x801) return { kind: 'labels', count };
  if (magic === 0x803 || magic === 0x804) {
    const nd = bytes[3];
    if (bytes.length < 4 + 4 * nd) throw new Error(`${what}: the IDX header is cut short`);
    const dims = [];
    for (let i = 1; i < nd; i++) dims.push(v.getUint32(4 + 4 * i));
    return { kind: 'images', count, shape: nd === 3 ? [1, ...dims] : dims };
  }
  throw new Error(`${what}: not an IDX image or label file (magic number 0x${magic.toString(16)}, expected 0x803, 0x804 or 0x801)`);
}

/** Where an IDX file's data starts: after the magic and one u32 per dimension. */
const idxDataOffset = (bytes) => 4 + 4 * bytes[3];

async function gunzip(stream) {
  return new Uint8Array(await new Response(stream.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
}
const isGzip = (b) => b[0] === 0x1f && b[1] === 0x8b;

function idxData(meta, files) {
  const h = {
    trainImages: idxHeader(files.trainImages, 'train images'),
    trainLabels: idxHeader(files.trainLabels, 'train labels'),
    testImages: idxHeader(files.testImages, 'test images'),
    testLabels: idxHeader(files.testLabels, 'test labels'),
  };
  for (const [k, kind] of [['trainImages', 'images'], ['trainLabels', 'labels'], ['testImages', 'images'], ['testLabels', 'labels']]) {
    if (h[k].kind !== kind) throw new Error(`expected ${k} to be an IDX ${kind} file`);
  }
  if (h.trainImages.count !== h.trainLabels.count) throw new Error(`the training set has ${h.trainImages.count} images but ${h.trainLabels.count} labels`);
  if (h.testImages.count !== h.testLabels.count) throw new Error(`the test set has ${h.testImages.count} images but ${h.testLabels.count} labels`);
  const [a, b] = [h.trainImages.shape, h.testImages.shape];
  if (a.join() !== b.join()) throw new Error(`the training images are ${a.join('×')} but the test images are ${b.join('×')}`);
  return { ...meta, kind: 'idx', shape: a, files, trainCount: h.trainImages.count, testCount: h.testImages.count };
}

// ---------------------------------------------------------------- CIFAR ----

/** Records in CIFAR-10 batch files; a file that is not whole records is refused. */
function cifarCount(files) {
  let n = 0;
  for (const f of files) {
    if (f.bytes.length % CIFAR_RECORD !== 0) {
      throw new Error(`${f.name}: ${f.bytes.length} bytes is not a whole number of CIFAR-10 records (${CIFAR_RECORD} bytes each: a label byte and 3,072 pixel bytes): the file is truncated or not CIFAR-10's binary version`);
    }
    n += f.bytes.length / CIFAR_RECORD;
  }
  return n;
}

function cifarData(meta, { train, test, classNames }) {
  const options = { ...meta.options, ...(classNames ? { classNames } : {}) };
  return { ...meta, kind: 'cifar10', shape: [3, 32, 32], classNames: options.classNames ?? null, options,
    files: { train, test }, trainCount: cifarCount(train), testCount: cifarCount(test) };
}

// ---------------------------------------------------------------- use it ----

/** Gives the data (default: the current data) to a trainer, with limits and the
 *  data options. Throws the JS API's message (a label out of range, ...). */
export function giveData(trainer, limits, d = data) {
  const { trainLimit, testLimit } = limits;
  if (d.kind === 'cifar10') trainer.setCifar10({ ...d.files, trainLimit, testLimit, data: d.options });
  else trainer.setData({ ...d.files, trainLimit, testLimit, data: d.options });
}

/** The test set's first n labels and images (c*h*w bytes each; the results panel). */
export function testSet(n, size) {
  if (data.kind === 'idx') {
    const { testLabels, testImages } = data.files;
    const li = idxDataOffset(testLabels), ii = idxDataOffset(testImages);
    return { labels: testLabels.subarray(li, li + n), images: testImages.subarray(ii, ii + n * size) };
  }
  // CIFAR-10: labels and pixels interleaved per record; gathered once.
  if (testCache?.data !== data || testCache.labels.length < n) {
    const labels = new Uint8Array(n), images = new Uint8Array(n * size);
    let i = 0;
    for (const f of data.files.test) {
      for (let o = 0; o + CIFAR_RECORD <= f.bytes.length && i < n; o += CIFAR_RECORD, i++) {
        labels[i] = f.bytes[o];
        images.set(f.bytes.subarray(o + 1, o + CIFAR_RECORD), i * size);
      }
    }
    testCache = { data, labels, images };
  }
  return { labels: testCache.labels.subarray(0, n), images: testCache.images.subarray(0, n * size) };
}

/** What the page shows of the data (EVENT.DATA_READY). */
export function dataReadyEvent(fromCache) {
  const limit = (n, l) => (l > 0 ? Math.min(n, l) : n);
  return { type: EVENT.DATA_READY, id: data.id, name: data.name, builtin: data.builtin, kind: data.kind, fromCache,
    shape: data.shape, classNames: data.classNames,
    trainCount: limit(data.trainCount, pageLimits.trainLimit), testCount: limit(data.testCount, pageLimits.testLimit),
    fullTrainCount: data.trainCount, fullTestCount: data.testCount };
}

/** Waits for a load in flight; throws when there is no data. */
export async function ensureData() {
  if (data) return;
  if (lastLoad) await lastLoad.catch(() => {});
  if (!data) throw new Error('the training data is not loaded yet');
}

// ------------------------------------------------------- built-in sets ----

let manifestPromise = null;

/** build/data/'s manifest (revalidated, so a new build shows; the cached copy
 *  offline), or null when the build wrote none. */
function fetchManifest() {
  manifestPromise ??= (async () => {
    const url = new URL(DATA_MANIFEST, DATA_DIR).href;
    const cache = self.caches ? await self.caches.open(DATA_CACHE).catch(() => null) : null;
    try {
      const res = await fetch(url, { cache: 'no-cache' });
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      if (cache) await cache.put(url, res.clone()).catch(() => {});
      return await res.json();
    } catch (e) {
      const hit = cache ? await cache.match(url) : undefined;
      if (hit) return hit.json();
      throw new Error(`could not read the list of data sets (${DATA_MANIFEST}): ${e.message}`);
    }
  })();
  return manifestPromise;
}

/**
 * The data sets the picker offers: the JS API's built-in sets (src/defaults.json),
 * each `available` when the build prepared its files (build/data/'s manifest), or
 * `bringFiles` when it cannot be served (CIFAR-10: the user chooses its files).
 * [{ id, name, description, input, classNames, options, available, bringFiles, files }]
 */
export async function listDatasets() {
  const [manifest, builtins] = await Promise.all([fetchManifest(), apiDatasets()]);
  const prepared = new Map((manifest?.datasets ?? [{ id: BUILTIN_DATA_ID, files: DATA_FILES }]).map((d) => [d.id, d]));
  return builtins.map((d) => {
    const p = prepared.get(d.name);
    return {
      id: d.name, name: d.displayName, description: d.description, input: d.input,
      classNames: d.classNames?.length ? d.classNames : null, options: d.options,
      available: !!p, bringFiles: !p && d.name === 'cifar-10', files: p?.files ?? null,
    };
  });
}

/** Downloads (or takes from the Cache API) a built-in set's four .gz files and inflates them. */
async function fetchFiles(files) {
  const cache = self.caches ? await self.caches.open(DATA_CACHE).catch(() => null) : null;
  const keys = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];
  const totals = new Map(), received = new Map();
  let fromCache = true;
  let lastEmit = 0;
  const report = (force) => {
    const now = performance.now();
    if (!force && now - lastEmit < TRAINING.progressIntervalMs) return;
    lastEmit = now;
    const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0);
    emit({ type: EVENT.DATA_PROGRESS, received: sum(received), total: totals.size === keys.length ? sum(totals) : 0, fromCache });
  };
  const cachePuts = [];
  const out = await Promise.all(keys.map(async (key) => {
    const file = files[key];
    const url = new URL(file, DATA_DIR).href;
    let res = cache ? await cache.match(url) : undefined;
    if (!res) {
      fromCache = false;
      try {
        res = await fetch(url);
      } catch (e) {
        throw new Error(`could not download ${file}: ${e.message}`);
      }
      if (!res.ok) {
        throw new Error(`could not download ${file} (HTTP ${res.status}). The data is made at build time: run "npm run build" (scripts/prepare-data.js).`);
      }
      // Cached compressed (11 MB instead of 55 for MNIST): a reload inflates again but downloads nothing.
      if (cache) cachePuts.push(cache.put(url, res.clone()).catch(() => {}));
    }
    totals.set(key, Number(res.headers.get('Content-Length')) || 0);
    received.set(key, 0);
    const counter = new TransformStream({
      transform(chunk, controller) {
        received.set(key, received.get(key) + chunk.byteLength);
        report(false);
        controller.enqueue(chunk);
      },
    });
    return [key, await gunzip(res.body.pipeThrough(counter))];
  }));
  report(true);
  await Promise.all(cachePuts);
  return { bytes: Object.fromEntries(out), fromCache };
}

/** Reads a built-in data set (downloaded, or from the cache): { data, fromCache },
 *  not yet in use (see use()). */
export async function readBuiltin(id) {
  const source = (await listDatasets()).find((d) => d.id === id);
  if (!source) throw new Error(`there is no data set "${id}"`);
  if (source.bringFiles) throw new Error(`${source.name} cannot be downloaded here: choose its files (${source.description.replace(/^.*?: /, '')})`);
  if (!source.available) throw new Error(`${source.name} is not prepared in this build: run "npm run build"`);
  const { bytes, fromCache } = await fetchFiles(source.files);
  return { data: idxData({ id, name: source.name, builtin: true, classNames: source.classNames, options: source.options }, bytes), fromCache };
}

/** The first load: reads a built-in data set (default MNIST) and makes it the
 *  current data. Returns { fromCache }. */
export function loadBuiltin(id = BUILTIN_DATA_ID) {
  const load = readBuiltin(id).then((r) => {
    use(r.data);
    return { fromCache: r.fromCache };
  });
  lastLoad = load;
  return load;
}

// ----------------------------------------------------------- own files ----

/** A tar archive (plain or gzip): its files as [{ name, bytes }]. */
async function untar(bytes, what) {
  let tar = bytes;
  if (isGzip(bytes)) {
    try {
      tar = await gunzip(new Blob([bytes]).stream());
    } catch (e) {
      throw new Error(`${what}: not a valid gzip file (${e.message})`);
    }
  }
  let entries;
  try {
    // parseTar reads the whole ArrayBuffer: give it one of exactly these bytes.
    entries = parseTar(tar.byteOffset === 0 && tar.byteLength === tar.buffer.byteLength ? tar : tar.slice());
  } catch (e) {
    throw new Error(`${what}: not a valid tar archive (${e.message})`);
  }
  return entries.filter((e) => e.type === 'file' && e.data).map((e) => ({ name: e.name, bytes: e.data }));
}

const isTarName = (name) => /\.(tar|tar\.gz|tgz)$/i.test(name);
const hasUstar = (b) => b.length > 262 && String.fromCharCode(...b.subarray(257, 262)) === 'ustar';

/**
 * The user's files: four IDX files (raw or .gz, any order: the larger set trains),
 * or CIFAR-10's binary batches (data_batch_*.bin, test_batch.bin, batches.meta.txt),
 * loose or in a .tar.gz, read as data not yet in use (see use()). Throws with what
 * is wrong.
 */
export async function readFiles(files) {
  const named = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  const builtins = await listDatasets();
  const cifarMeta = () => {
    const c = builtins.find((d) => d.id === 'cifar-10');
    return { id: 'cifar-10', name: c?.name ?? 'cifar-10', builtin: false, options: c?.options };
  };

  // CIFAR-10 as distributed: an archive, or its loose batch files.
  if (named.length === 1 && (isTarName(named[0].name) || (!isGzip(named[0].bytes) && hasUstar(named[0].bytes)))) {
    const entries = await untar(named[0].bytes, named[0].name);
    let found;
    try {
      found = cifar10Files(entries);
    } catch (e) {
      throw new Error(`${named[0].name}: ${e.message}`);
    }
    return cifarData(cifarMeta(), found);
  }
  if (named.some((f) => isCifar10File(f.name))) return cifarData(cifarMeta(), cifar10Files(named));

  if (named.length !== 4) {
    throw new Error(`choose exactly four IDX files (train images, train labels, test images, test labels), or CIFAR-10's .bin files or its .tar.gz; got ${named.length} file${named.length === 1 ? '' : 's'}`);
  }
  const parsed = await Promise.all(named.map(async (f) => {
    const bytes = isGzip(f.bytes) ? await gunzip(new Blob([f.bytes]).stream()) : f.bytes;
    return { name: f.name, bytes, ...idxHeader(bytes, f.name) };
  }));
  const images = parsed.filter((p) => p.kind === 'images').sort((a, b) => b.count - a.count);
  const labels = parsed.filter((p) => p.kind === 'labels').sort((a, b) => b.count - a.count);
  if (images.length !== 2 || labels.length !== 2) {
    throw new Error(`expected two image files and two label files, got ${images.length} image and ${labels.length} label files`);
  }
  // IDX files carry no class names: Fashion-MNIST's files (by name) take its own.
  const fashion = files.some((f) => /fashion/i.test(f.name)) && builtins.find((d) => d.id === 'fashion-mnist');
  const meta = fashion
    ? { id: 'fashion-mnist', name: fashion.name, builtin: false, classNames: fashion.classNames, options: fashion.options }
    : { id: 'files', name: `your files (${images[0].name}, …)`, builtin: false, classNames: null, options: undefined };
  return idxData(meta, { trainImages: images[0].bytes, trainLabels: labels[0].bytes, testImages: images[1].bytes, testLabels: labels[1].bytes });
}
