#!/usr/bin/env node
// The page's static server (Node built-ins only). It serves the repository's own
// layout for a few allow-listed prefixes, so the JS API finds the wasm build at
// the same relative URL in the page as in Node; everything else is a 404.
//
//   node web/server.js            PORT env: default 8080, 0 = any free port
//   import { startServer } ...    startServer({ port }) -> { url, close }
//
// Every response carries the cross-origin isolation headers (COOP/COEP/CORP):
// they make SharedArrayBuffer available should the wasm ever use threads, and
// CORP lets the isolated page load its own subresources.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// URL prefix -> allowed. Paths are resolved under ROOT and must stay inside the prefix.
const ALLOWED_PREFIXES = [
  '/web/',
  '/src/js/',
  '/build/wasm/',
  '/build/wasm-mt/',
  '/build/data/',
  '/node_modules/comlink/',
  '/node_modules/uplot/',
  '/node_modules/idb/',
  '/node_modules/nanotar/', // the worker reads CIFAR-10's .tar.gz with it
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gz': 'application/gzip',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

// Worth compressing on the fly; .gz and .png already are.
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.cjs', '.css', '.json', '.map', '.wasm', '.svg', '.txt', '.md', '.ts']);

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

// Compressed bodies by path, encoding and mtime: every file here is small
// (the largest, the wasm, is ~240 kB) and compressing it again on every reload
// cost ~20 ms of CPU for brotli at quality 9.
const compressedCache = new Map();

async function compressed(file, st, encoding) {
  const key = `${file}\0${encoding}`;
  const hit = compressedCache.get(key);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.body;
  const raw = await readFile(file);
  const body = encoding === 'br'
    ? await brotli(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length } })
    : await gzip(raw, { level: 9 });
  compressedCache.set(key, { mtimeMs: st.mtimeMs, size: st.size, body });
  return body;
}

function pickEncoding(acceptEncoding = '') {
  // A minimal Accept-Encoding reader: honours q=0 ("identity only") and prefers br.
  const accepted = new Map();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(name, q ? Number(q.slice(2)) : 1);
  }
  if ((accepted.get('br') ?? 0) > 0) return 'br';
  if ((accepted.get('gzip') ?? 0) > 0) return 'gzip';
  return null;
}

/** Maps a URL path to a file under ROOT, or null when it is not served. */
export function resolvePath(urlPath) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0')) return null;
  if (p === '/' || p === '/index.html') return path.join(ROOT, 'web', 'index.html');
  // path.posix.normalize folds "..": the check below runs on the folded path,
  // so /web/../package.json resolves to /package.json and is refused.
  const norm = path.posix.normalize(p);
  if (!ALLOWED_PREFIXES.some((prefix) => norm.startsWith(prefix))) return null;
  const file = path.join(ROOT, ...norm.split('/').filter(Boolean));
  if (!file.startsWith(ROOT + path.sep)) return null;
  return file;
}

function send(res, status, text, extra = {}) {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

async function handle(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
  }
  const url = new URL(req.url, 'http://localhost');
  const file = resolvePath(url.pathname);
  if (!file) return send(res, 404, 'not found\n');
  let st;
  try {
    st = await stat(file);
  } catch {
    return send(res, 404, 'not found\n');
  }
  if (!st.isFile()) return send(res, 404, 'not found\n');

  const ext = path.extname(file).toLowerCase();
  const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Type': MIME[ext] ?? 'application/octet-stream',
    // Revalidate every time: the build rewrites these files in place, and a
    // stale wasm next to a fresh JS API would fail in confusing ways.
    'Cache-Control': 'no-cache',
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
    Vary: 'Accept-Encoding',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    return res.end();
  }

  // The data files are gzip already: sent as they are (application/gzip, no
  // Content-Encoding), so the browser does not inflate them and the worker's
  // DecompressionStream does, with an exact byte count for its progress bar.
  const encoding = COMPRESSIBLE.has(ext) ? pickEncoding(req.headers['accept-encoding']) : null;
  if (encoding) {
    const body = await compressed(file, st, encoding);
    res.writeHead(200, { ...headers, 'Content-Encoding': encoding, 'Content-Length': body.length });
    return res.end(req.method === 'HEAD' ? undefined : body);
  }
  res.writeHead(200, { ...headers, 'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/**
 * Starts the server. port 0 picks a free port. onRequest(method, path, status)
 * is called after each response (tests use it to see what the page fetched).
 */
export function startServer({ port = 8080, host, onRequest } = {}) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    if (onRequest) res.on('finish', () => onRequest(req.method, req.url, res.statusCode));
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, `internal error: ${e.message}\n`);
      else res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const url = `http://localhost:${server.address().port}/`;
      resolve({
        url,
        server,
        close: () => new Promise((done) => {
          // Keep-alive connections would hold close() open for seconds.
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const raw = process.env.PORT ?? '8080';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be an integer in 0..65535, got "${raw}"`);
    process.exit(1);
  }
  startServer({ port }).then(({ url }) => {
    console.log(`wasm-trainer is serving at ${url}`);
  }, (e) => {
    console.error(e.code === 'EADDRINUSE' ? `port ${port} is already in use: set PORT to another one (PORT=0 picks a free port)` : e.message);
    process.exit(1);
  });
}
