// CIFAR-10's binary distribution (https://www.cs.toronto.edu/~kriz/cifar.html): the
// files data_batch_1.bin ... data_batch_5.bin, test_batch.bin and batches.meta.txt,
// loose or in cifar-10-binary.tar.gz. This module only picks the files out of a list
// (the caller reads a folder, a file picker's files, or an archive's entries); the
// records themselves are read and checked by the core (src/core/dataset.h).

const TRAIN = /(^|\/)data_batch_([1-9][0-9]*)\.bin$/;
const TEST = /(^|\/)test_batch\.bin$/;
const META = /(^|\/)batches\.meta\.txt$/;

/** Whether a file name belongs to CIFAR-10's binary distribution. */
export function isCifar10File(name) {
  return TRAIN.test(name) || TEST.test(name) || META.test(name);
}

/**
 * Picks CIFAR-10's files out of `files` ([{name, bytes}]): {train, test, classNames}
 * with the training batches in numeric order. Throws an Error that says which files
 * are missing.
 */
export function cifar10Files(files) {
  const train = [], test = [];
  let classNames = null;
  for (const f of files) {
    const t = TRAIN.exec(f.name);
    if (t) train.push({ n: Number(t[2]), name: f.name.split('/').pop(), bytes: f.bytes });
    else if (TEST.test(f.name)) test.push({ name: 'test_batch.bin', bytes: f.bytes });
    else if (META.test(f.name)) {
      classNames = new TextDecoder().decode(f.bytes).split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    }
  }
  const missing = [];
  if (train.length === 0) missing.push('data_batch_1.bin ... data_batch_5.bin');
  if (test.length === 0) missing.push('test_batch.bin');
  if (missing.length) {
    const seen = files.slice(0, 5).map((f) => f.name).join(', ') || 'no files';
    throw new Error(`not CIFAR-10's binary version: ${missing.join(' and ')} missing (found ${seen}${files.length > 5 ? ', ...' : ''}); ` +
      'get cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html');
  }
  if (test.length > 1) throw new Error('two test_batch.bin files: give one CIFAR-10 set at a time');
  train.sort((a, b) => a.n - b.n);
  return { train: train.map(({ name, bytes }) => ({ name, bytes })), test, classNames };
}
