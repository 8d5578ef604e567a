// What this browser offers, shown as chips in the top bar: WebAssembly SIMD
// (required), cross-origin isolation (threads), and storage (IndexedDB,
// persistent or best-effort, and how much is used).
import { $ } from './dom.js';
import { formatBytes } from '../shared.js';

// A 40-byte module whose one function returns a v128.const: it validates only
// where WebAssembly SIMD (which the wasm build is compiled with) is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b, // code: v128.const 0; end
]);

function hasWasmSimd() {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}
export const simdOk = hasWasmSimd();

function setChip(id, ok, text, title) {
  const el = $(id);
  el.className = `chip ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
  if (title) el.title = title;
}

export function showEnvironment() {
  setChip('env-simd', simdOk, simdOk ? 'wasm SIMD' : 'no wasm SIMD');
  setChip('env-isolated', self.crossOriginIsolated, self.crossOriginIsolated ? 'cross-origin isolated' : 'not isolated',
    'Cross-origin isolation (COOP/COEP) allows SharedArrayBuffer, so training uses the multi-threaded (pthreads) build.');
  setChip('env-storage', !!window.indexedDB, window.indexedDB ? 'IndexedDB' : 'no IndexedDB');
}

let persistAsked = false;
export async function requestPersistence() {
  if (persistAsked || !navigator.storage?.persist) return;
  persistAsked = true;
  try {
    // Without it the browser may evict checkpoints under storage pressure.
    const granted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
    setChip('env-storage', true, granted ? 'persistent storage' : 'best-effort storage',
      granted ? 'The browser will not evict the checkpoints.' : 'The browser may evict checkpoints when the disk is nearly full; download the ones you need.');
  } catch { /* unsupported: nothing to show */ }
}

export async function updateStorageEstimate() {
  if (!navigator.storage?.estimate) return;
  try {
    const { usage, quota } = await navigator.storage.estimate();
    $('storage-text').textContent = `This site uses ${formatBytes(usage)} of ${formatBytes(quota)} available in this browser.`;
  } catch { /* no estimate */ }
}
