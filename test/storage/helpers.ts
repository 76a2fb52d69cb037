/**
 * Test doubles for the storage tests: a local HTTP file server with fault injection, deterministic
 * pseudo-random file contents, and a sha256 helper.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A GGUF file of exactly `size` bytes (at least 64): no metadata, one I8 tensor that fills the
 * rest with pseudo-random bytes. What a server without Content-Length may send: the downloader
 * checks such a body against its own header.
 */
export function pseudoRandomGguf(size: number, seed = 1): Uint8Array {
  const out = pseudoRandomBytes(size, seed);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (v: number) => (view.setUint32(at, v, true), (at += 4));
  const u64 = (v: number) => (view.setBigUint64(at, BigInt(v), true), (at += 8));
  u32(0x46554747); // "GGUF"
  u32(3); // version
  u64(1); // tensors
  u64(0); // metadata entries
  u64(1); // name length
  out[at++] = 0x74; // "t"
  u32(1); // dimensions
  u64(size - 64); // elements (= bytes for I8)
  u32(24); // I8
  u64(0); // offset in the data section
  out.fill(0, at, 64); // padding up to the data section at 64 (alignment 32)
  return out;
}

export interface ServedFile {
  content: Uint8Array;
  etag?: string;
  lastModified?: string;
}

/**
 * Serves files from memory on 127.0.0.1. Knobs (mutable between and during requests):
 * - `rangeSupport`: false answers every request with 200 and the whole file.
 * - `cuts`: absolute file offsets; the first response whose body covers one sends the bytes
 *   before it, then destroys the socket (each cut fires once).
 * - `failNext`: statuses answered (one per request) before normal service resumes.
 * - `sendLength`: false sends bodies with chunked encoding and no Content-Length.
 * - `closeDelimited`: bodies without Content-Length or chunked encoding, ended by closing the
 *   connection (so the client cannot tell a cut body from a complete one).
 * - `truncations`: like `cuts`, but the response ends normally there.
 * - `bytesPerSecond`: throttles bodies (for interrupting child processes mid-download).
 * - `stalls`: like `cuts`, but the connection stays open and silent instead of closing.
 * - `hangNext`: requests (one each) that get no answer at all, the connection left open.
 * - `redirects`: path → Location, answered with 302.
 * - `cors`: lets another origin's page read the answers (Content-Range, ETag, Last-Modified).
 * Counters: `requests`, `bytesServed`, `maxConcurrent`, `log` (method + range per request).
 */
export class TestFileServer {
  files = new Map<string, ServedFile>();
  rangeSupport = true;
  cuts: number[] = [];
  failNext: number[] = [];
  sendLength = true;
  closeDelimited = false;
  truncations: number[] = [];
  bytesPerSecond = 0;
  stalls: number[] = [];
  hangNext = 0;
  redirects = new Map<string, string>();
  cors = false;
  requests = 0;
  bytesServed = 0;
  maxConcurrent = 0;
  log: string[] = [];
  private active = 0;
  private server!: Server;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  resetCounters(): void {
    this.requests = 0;
    this.bytesServed = 0;
    this.maxConcurrent = 0;
    this.log = [];
  }

  /**
   * Resolves once no response is open and no request has arrived for `quietMs`: an abandoned
   * throttled body stops adding to the counters, and so does a request an aborted client sent just
   * before its abort, which the server may parse only after the client has given up.
   */
  async idle(quietMs = 50): Promise<void> {
    for (;;) {
      while (this.active > 0) await new Promise((r) => setTimeout(r, 5));
      const seen = this.requests;
      await new Promise((r) => setTimeout(r, quietMs));
      if (this.active === 0 && this.requests === seen) return;
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    this.active++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.active);
    res.on('close', () => this.active--);
    this.log.push(`${req.method} ${req.headers.range ?? 'all'}`);
    if (this.hangNext > 0) {
      this.hangNext--;
      return; // never answered; closed by the client's timeout or stop()
    }
    if (this.cors && req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': 'range',
      });
      res.end();
      return;
    }
    const location = this.redirects.get(req.url ?? '');
    if (location !== undefined) {
      res.writeHead(302, { location });
      res.end();
      return;
    }
    const status = this.failNext.shift();
    if (status !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(`injected ${status}`);
      return;
    }
    const file = this.files.get(req.url ?? '');
    if (!file) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    const size = file.content.length;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (this.cors) {
      headers['access-control-allow-origin'] = '*';
      headers['access-control-expose-headers'] = 'content-range, etag, last-modified, content-length';
    }
    if (file.etag) headers.etag = file.etag;
    if (file.lastModified) headers['last-modified'] = file.lastModified;
    let start = 0;
    let end = size - 1;
    let code = 200;
    const range = req.headers.range && /^bytes=(\d+)-(\d*)$/.exec(req.headers.range);
    if (this.rangeSupport) {
      headers['accept-ranges'] = 'bytes';
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start >= size) {
          res.writeHead(416, { 'content-range': `bytes */${size}` });
          res.end();
          return;
        }
        code = 206;
        headers['content-range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    if (this.closeDelimited) {
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
    } else if (this.sendLength) headers['content-length'] = String(end - start + 1);
    res.writeHead(code, headers);
    if (req.method === 'HEAD') return void res.end();

    const cutIndex = this.cuts.findIndex((c) => c >= start && c <= end);
    const stallIndex = cutIndex >= 0 ? -1 : this.stalls.findIndex((c) => c >= start && c <= end);
    const truncIndex = cutIndex >= 0 || stallIndex >= 0 ? -1 : this.truncations.findIndex((c) => c >= start && c <= end);
    const stopAt =
      cutIndex >= 0
        ? this.cuts.splice(cutIndex, 1)[0]!
        : stallIndex >= 0
          ? this.stalls.splice(stallIndex, 1)[0]!
          : truncIndex >= 0
            ? this.truncations.splice(truncIndex, 1)[0]!
            : end + 1;
    const piece = 64 * 1024;
    for (let p = start; p < stopAt; p += piece) {
      const slice = file.content.subarray(p, Math.min(stopAt, p + piece));
      // Throttle before writing, so a response ends as soon as its last byte is out.
      if (this.bytesPerSecond > 0) await new Promise((r) => setTimeout(r, (slice.length / this.bytesPerSecond) * 1000));
      if (res.destroyed) return;
      this.bytesServed += slice.length;
      const ok = res.write(slice);
      if (!ok) await new Promise((r) => res.once('drain', r));
    }
    if (stallIndex >= 0) return; // silent from here on; the client gives up
    if (stopAt <= end && truncIndex < 0) {
      // Close the connection after the bytes before the cut (FIN, not a reset): the client gets
      // every byte written, then a body shorter than announced. A reset after a pause instead
      // could discard bytes still unread in the client's socket on a busy machine, so what a test
      // counts as served would depend on timing.
      res.socket?.end();
      return;
    }
    res.end();
  }
}

/** Fast byte equality (vitest's deep equality walks typed arrays element by element). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}
