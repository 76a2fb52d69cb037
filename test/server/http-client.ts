/** Small HTTP clients for the server tests: fetch for ordinary requests, raw sockets for hostile ones. */
import { connect } from 'node:net';
import type { LowbitServer, ServerOptions } from '../../src/server/server.ts';
import { createLowbitServer } from '../../src/server/server.ts';

export interface Started {
  server: LowbitServer;
  base: string;
  port: number;
}

/** A server on 127.0.0.1 and a free port. */
export async function startServer(options: ServerOptions = {}): Promise<Started> {
  const server = createLowbitServer({ log: () => undefined, ...options });
  const address = await server.listen(0, '127.0.0.1');
  return { server, base: `http://127.0.0.1:${address.port}`, port: address.port };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses one HTTP/1.1 response (Content-Length or chunked framing, or up to the close). */
export function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let out = '';
    for (;;) {
      const nl = body.indexOf('\r\n');
      const size = parseInt(body.slice(0, nl), 16);
      if (!(size > 0)) break;
      out += body.slice(nl + 2, nl + 2 + size);
      body = body.slice(nl + 2 + size + 2);
    }
    body = out;
  } else if (headers['content-length'] !== undefined) {
    body = body.slice(0, Number(headers['content-length']));
  }
  return { status, headers, body };
}

/**
 * Sends `parts` over one connection (waiting `gapMs` between them, as a slow client would) and
 * returns everything received until the server closes or `waitMs` passes, and whether the server
 * closed the connection.
 */
export function rawExchange(
  port: number,
  parts: (string | Buffer)[],
  { gapMs = 0, waitMs = 5000, onText }: { gapMs?: number; waitMs?: number; onText?: (soFar: string) => void } = {},
): Promise<{ text: string; closedByServer: boolean; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let finished = false;
    const finish = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(received).toString('utf8'), closedByServer, elapsedMs: performance.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => {
      received.push(d);
      onText?.(Buffer.concat(received).toString('utf8'));
    });
    socket.on('close', () => finish(true));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? finish(true) : reject(e)));
    socket.on('connect', async () => {
      for (const p of parts) {
        if (finished || socket.destroyed) return;
        socket.write(p);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/** The `data:` payloads of an SSE body, checking the framing: events are `data: …` lines ended by a blank line. */
export function sseEvents(body: string): string[] {
  if (!body.endsWith('\n\n')) throw new Error(`SSE body does not end with a blank line: ${JSON.stringify(body.slice(-80))}`);
  return body
    .slice(0, -2)
    .split('\n\n')
    .map((event) => {
      if (!event.startsWith('data: ') || event.includes('\n')) throw new Error(`not a one-line data event: ${JSON.stringify(event)}`);
      return event.slice('data: '.length);
    });
}
