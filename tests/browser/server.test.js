// web/server.js: allow-list, MIME types, compression, isolation headers.
// Raw node:http requests, because fetch() would inflate bodies and fold "..".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { startServer } from '../../web/server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let srv;

function get(urlPath, headers = {}) {
  const { port } = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: 'localhost', port, path: urlPath, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  srv = await startServer({ port: 0 });
});
after(() => srv?.close());

test('/ is the page, with cross-origin isolation headers', async () => {
  const r = await get('/');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/html/);
  assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
  assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
  assert.match(r.body.toString(), /data-testid="train-start"/);
});

test('JavaScript and wasm have the right types and are compressed when accepted', async () => {
  const js = await get('/src/js/wasm-trainer.js', { 'accept-encoding': 'gzip' });
  assert.equal(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  assert.equal(js.headers['content-encoding'], 'gzip');
  assert.match(zlib.gunzipSync(js.body).toString(), /createTrainer/);

  const wasmFile = path.join(ROOT, 'build/wasm/wasm_trainer.wasm');
  assert.ok(statSync(wasmFile, { throwIfNoEntry: false }), 'build/wasm/wasm_trainer.wasm is missing: run "npm run build" first');
  const wasm = await get('/build/wasm/wasm_trainer.wasm', { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers['content-type'], 'application/wasm');
  assert.equal(wasm.headers['content-encoding'], 'br');
  const raw = zlib.brotliDecompressSync(wasm.body);
  assert.equal(raw.length, statSync(wasmFile).size);
  assert.deepEqual([...raw.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);

  const plain = await get('/web/main.js');
  assert.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
  assert.equal(Number(plain.headers['content-length']), statSync(path.join(ROOT, 'web/main.js')).size);
});

test('data files are sent as gzip bytes, never re-encoded', async () => {
  const file = path.join(ROOT, 'build/data/t10k-labels-idx1-ubyte.gz');
  assert.ok(statSync(file, { throwIfNoEntry: false }), 'build/data is missing: run "node scripts/prepare-data.js"');
  const r = await get('/build/data/t10k-labels-idx1-ubyte.gz', { 'accept-encoding': 'gzip, br' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/gzip');
  assert.equal(r.headers['content-encoding'], undefined);
  assert.equal(Number(r.headers['content-length']), statSync(file).size);
  const idx = zlib.gunzipSync(r.body);
  assert.equal(idx.readUInt32BE(0), 0x801, 'IDX label magic');
  assert.equal(idx.readUInt32BE(4), 10000);
});

test('only the allow-listed prefixes are served', async () => {
  for (const p of ['/package.json', '/web/../package.json', '/web/%2e%2e/package.json', '/src/core/trainer.cc',
    '/node_modules/commander/package.json', '/build/native/CMakeCache.txt', '/.git/HEAD', '/web/nonexistent.js', '/web/']) {
    const r = await get(p);
    assert.equal(r.status, 404, `${p} should be 404, got ${r.status}`);
    assert.equal(r.headers['cross-origin-resource-policy'], 'same-origin');
  }
  for (const p of ['/node_modules/comlink/dist/esm/comlink.mjs', '/node_modules/uplot/dist/uPlot.esm.js', '/node_modules/idb/build/index.js',
    '/node_modules/nanotar/dist/index.mjs', '/web/style.css', '/web/page/results.js', '/web/worker/data.js']) {
    assert.equal((await get(p)).status, 200, p);
  }
});

test('revalidation answers 304 for an unchanged file', async () => {
  const first = await get('/web/shared.js');
  assert.ok(first.headers.etag);
  const again = await get('/web/shared.js', { 'if-none-match': first.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
});

test('node web/server.js honours PORT=0 and prints its URL', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'web/server.js')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no start line within 10 s; output: ${out}`)), 10_000);
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) { clearTimeout(timer); resolve(out.trim()); }
      });
      child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
    });
    const m = line.match(/^wasm-trainer is serving at http:\/\/localhost:(\d+)\/$/);
    assert.ok(m, `unexpected start line: ${line}`);
    assert.notEqual(Number(m[1]), 0);
    const res = await fetch(`http://localhost:${m[1]}/`);
    assert.equal(res.status, 200);
  } finally {
    child.kill();
  }
});
