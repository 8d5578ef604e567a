// Checkpoints in IndexedDB (through idb). Used by the worker, which owns the
// trainer and therefore the bytes.
//
// Two object stores: `meta` (small records listed by the page: epoch, step,
// loss, ...) and `bytes` (the safetensors file, same key). Listing reads only
// `meta`, so showing five checkpoints does not clone megabytes.
//
// Crash safety: a save adds a NEW record (autoincrement key) to both stores in
// one transaction, and only a later, separate transaction prunes old records.
// IndexedDB transactions are atomic, so a tab killed mid-save loses at most the
// new checkpoint, never the previous good one; nothing is overwritten in place.
//
// idb is imported by relative URL, not the bare specifier: Chromium does not
// apply the page's import map inside module workers.
import { openDB } from '../../node_modules/idb/build/index.js';
import { DB } from '../shared.js';

let dbPromise = null;

export function openStore() {
  if (!dbPromise) {
    dbPromise = openDB(DB.name, DB.version, {
      upgrade(db) {
        db.createObjectStore('meta', { keyPath: 'id', autoIncrement: true });
        db.createObjectStore('bytes');
      },
    });
  }
  return dbPromise;
}

/** Adds a checkpoint; returns its record (with id). Throws QuotaExceededError when storage is full. */
export async function addCheckpoint(meta, bytes) {
  const db = await openStore();
  const tx = db.transaction(['meta', 'bytes'], 'readwrite');
  const record = { ...meta, size: bytes.byteLength };
  // Awaiting an IDB request (and nothing else) keeps the transaction active:
  // idb resolves it from the request's success event.
  const id = await tx.objectStore('meta').add(record);
  tx.objectStore('bytes').add(bytes, id);
  await tx.done;
  return { ...record, id };
}

/** Deletes all but the newest `keep` checkpoints (a transaction of its own). */
export async function pruneCheckpoints(keep) {
  const db = await openStore();
  const tx = db.transaction(['meta', 'bytes'], 'readwrite');
  const ids = await tx.objectStore('meta').getAllKeys();
  const doomed = ids.sort((a, b) => a - b).slice(0, Math.max(0, ids.length - Math.max(1, keep)));
  for (const id of doomed) {
    tx.objectStore('meta').delete(id);
    tx.objectStore('bytes').delete(id);
  }
  await tx.done;
  return doomed;
}

/** Records, newest first. */
export async function listCheckpoints() {
  const db = await openStore();
  const all = await db.getAll('meta');
  return all.sort((a, b) => b.id - a.id);
}

export async function getCheckpoint(id) {
  const db = await openStore();
  const tx = db.transaction(['meta', 'bytes'], 'readonly');
  const [record, bytes] = await Promise.all([tx.objectStore('meta').get(id), tx.objectStore('bytes').get(id)]);
  await tx.done;
  if (!record || !bytes) throw new Error(`checkpoint #${id} is no longer stored (deleted in another tab?)`);
  return { record, bytes: new Uint8Array(bytes.buffer ?? bytes, bytes.byteOffset ?? 0, bytes.byteLength) };
}

export async function deleteCheckpoint(id) {
  const db = await openStore();
  const tx = db.transaction(['meta', 'bytes'], 'readwrite');
  tx.objectStore('meta').delete(id);
  tx.objectStore('bytes').delete(id);
  await tx.done;
}

/** True for the errors a full disk or exhausted quota produce. */
export function isQuotaError(e) {
  return e?.name === 'QuotaExceededError' || e?.inner?.name === 'QuotaExceededError' ||
    /quota/i.test(String(e?.message ?? ''));
}
