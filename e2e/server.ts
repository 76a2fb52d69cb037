/**
 * A static file server for the built app (dist/) on 127.0.0.1 with HTTP Range support, plus
 * counters of bytes sent per path so tests can assert that a resumed download did not restart.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gguf': 'application/octet-stream',
};

export interface StaticServer {
  url: string;
  bytesSent: Map<string, number>;
  close(): Promise<void>;
}

export interface ServeOptions {
  /**
   * Answer pages of any origin (CORS, with the headers a ranged download reads exposed), as a model
   * host on another origin than the app does.
   */
  cors?: boolean;
}

export async function serveStatic(
  root: string,
  extraRoots: Record<string, string> = {},
  options: ServeOptions = {},
): Promise<StaticServer> {
  const bytesSent = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    if (options.cors) {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-expose-headers', 'content-range, content-length, etag, accept-ranges, last-modified');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': 'range' }).end();
        return;
      }
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let base = root;
    let rel = path;
    for (const [prefix, dir] of Object.entries(extraRoots)) {
      if (path.startsWith(prefix)) {
        base = dir;
        rel = path.slice(prefix.length);
      }
    }
    let file = normalize(join(base, rel));
    if (!file.startsWith(normalize(base))) {
      res.writeHead(403).end();
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const size = statSync(file).size;
    const headers: Record<string, string | number> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      etag: `"${size}-${Math.floor(statSync(file).mtimeMs)}"`,
      'cache-control': 'no-cache',
    };
    let start = 0;
    let end = size - 1;
    const range = req.headers.range?.match(/^bytes=(\d*)-(\d*)$/);
    if (range) {
      start = range[1] ? Number(range[1]) : size - Number(range[2]);
      end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end || start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    } else {
      res.writeHead(200, { ...headers, 'content-length': size });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file, { start, end });
    stream.on('data', (c) => bytesSent.set(path, (bytesSent.get(path) ?? 0) + c.length));
    stream.pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    bytesSent,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
