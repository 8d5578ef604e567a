// Atomic file replacement: write a temporary file in the same folder, flush it to
// disk, rename it over the target, then flush the folder entry. A crash or kill at
// any moment leaves either the old file or the new one, complete.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync } from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file, bytes) {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let fd = openSync(tmp, 'w', 0o644);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw new Error(`could not write ${file}: ${e.code === 'ENOSPC' ? 'the disk is full' : e.message}; the previous checkpoint is untouched`);
  }
  closeSync(fd);
  renameSync(tmp, file);
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch { /* some file systems cannot fsync a folder; the rename is still atomic */ }
}
