import { getEventListeners } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DownloadError, IntegrityError, InvalidModelUrlError, QuotaExceededError } from '../../src/errors.ts';
import { downloadModel, parseContentRange, type DownloadOptions } from '../../src/storage/download.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { openStoredModel } from '../../src/storage/model-source.ts';
import type { ProgressReport } from '../../src/io/progress.ts';
import {
  completeBytes,
  isComplete,
  isPresent,
  storedBytes as storedByteCount,
  type ModelManifest,
  type ModelStore,
} from '../../src/storage/store.ts';
import { pseudoRandomBytes, pseudoRandomGguf, sameBytes, sha256Hex, TestFileServer } from './helpers.ts';

const CHUNK = 64 * 1024;
const SIZE = 40 * CHUNK + 4321; // 41 chunks, the last one short
// A GGUF, so that a server stating no length can serve it too (the body is checked against its header).
const data = pseudoRandomGguf(SIZE, 42);
const dataSha = sha256Hex(data);

let server: TestFileServer;
let tmp: string;
let storeCount = 0;

beforeAll(async () => {
  server = await new TestFileServer().start();
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-dl-'));
});
afterAll(async () => {
  await server.stop();
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  server.files.clear();
  server.files.set('/model.gguf', { content: data, etag: '"v1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
  server.rangeSupport = true;
  server.cuts = [];
  server.failNext = [];
  server.sendLength = true;
  server.closeDelimited = false;
  server.truncations = [];
  server.bytesPerSecond = 0;
  server.stalls = [];
  server.hangNext = 0;
  server.redirects.clear();
  server.resetCounters();
});

function fsStore(): FsModelStore {
  return new FsModelStore(join(tmp, `store-${storeCount++}`));
}

function opts(store: ModelStore, extra: Partial<DownloadOptions> = {}): DownloadOptions {
  return { store, url: server.url('/model.gguf'), chunkSize: CHUNK, retryBaseMs: 1, ...extra };
}

async function storedBytes(store: ModelStore, name = 'model.gguf'): Promise<Uint8Array> {
  const src = await openStoredModel(store, name);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
}

/** Random-looking but reproducible cut points inside a file of `size` bytes. */
function cutPoints(n: number, seed: number, size = SIZE): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(1 + (x % (size - 2)));
  }
  return out;
}

describe('parseContentRange', () => {
  it('parses well-formed headers and rejects the rest', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ start: 0, end: 99, total: 1000 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
    expect(parseContentRange('bytes 9-5/10')).toBeUndefined();
    expect(parseContentRange('bytes 0-10/10')).toBeUndefined();
    expect(parseContentRange('items 0-1/2')).toBeUndefined();
    expect(parseContentRange(null)).toBeUndefined();
    // Numbers past 2^53 lose their exactness: refused rather than rounded.
    expect(parseContentRange('bytes 0-99/99999999999999999999')).toBeUndefined();
    expect(parseContentRange('bytes 9007199254740993-9007199254740995/*')).toBeUndefined();
  });
});

describe('downloadModel over HTTP Range', () => {
  it.each([
    'file:///etc/passwd',
    'data:application/octet-stream;base64,R0dVRg==',
    'javascript:alert(1)',
    'ftp://host/m.gguf',
    'https://user:pw@host/m.gguf',
    'not a url',
  ])('refuses %s before any request, storing nothing', async (url) => {
    const store = new MemoryModelStore();
    let requests = 0;
    const fetchFn = (() => {
      requests++;
      throw new Error('no request expected');
    }) as unknown as typeof fetch;
    await expect(downloadModel({ url, store, fetch: fetchFn })).rejects.toBeInstanceOf(InvalidModelUrlError);
    expect(requests).toBe(0);
    expect(await store.listManifests()).toEqual([]);
  });

  it('downloads with several chunks in flight (bounded), verifies sha256, reports progress', async () => {
    const store = fsStore();
    server.bytesPerSecond = 2 * 1024 * 1024; // slow enough for requests to overlap
    const reports: ProgressReport[] = [];
    const m = await downloadModel(
      opts(store, { sha256: dataSha, concurrency: 3, onProgress: (r) => reports.push(r), progressIntervalMs: 0 }),
    );
    expect(isPresent(m)).toBe(true);
    expect(m.actualSha256).toBe(dataSha);
    expect(m.etag).toBe('"v1"');
    expect(sameBytes(await storedBytes(store), data)).toBe(true);
    expect(server.maxConcurrent).toBeGreaterThan(1);
    expect(server.maxConcurrent).toBeLessThanOrEqual(3);
    expect(server.bytesServed).toBe(SIZE); // every byte exactly once
    const dl = reports.filter((r) => r.phase === 'download');
    expect(dl.at(-1)).toMatchObject({ bytesDone: SIZE, bytesTotal: SIZE });
    for (let i = 1; i < dl.length; i++) expect(dl[i]!.bytesDone).toBeGreaterThanOrEqual(dl[i - 1]!.bytesDone);
    expect(reports.filter((r) => r.phase === 'verify').at(-1)).toMatchObject({ bytesDone: SIZE, bytesTotal: SIZE });

    // Present already: a second call makes no request.
    server.resetCounters();
    await downloadModel(opts(store));
    expect(server.requests).toBe(0);
  });

  it('resumes from the last complete chunk after the connection is cut at 10 random points', async () => {
    for (const cut of cutPoints(10, 7)) {
      const store = fsStore();
      server.resetCounters();
      server.cuts = [cut];
      // No retries: the cut ends the first attempt, as a lost network or a closed tab would.
      await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
      const partial = (await store.getManifest('model.gguf'))!;
      expect(partial.verified).toBe(false);
      const before = storedByteCount(partial); // complete chunks and what arrived of the cut one
      const firstRun = server.bytesServed;

      const m = await downloadModel(opts(store, { maxRetries: 0 }));
      expect(isPresent(m), `cut at ${cut}`).toBe(true);
      expect(sha256Hex(await storedBytes(store)), `cut at ${cut}`).toBe(dataSha);
      // The second run fetched only what was missing.
      expect(server.bytesServed - firstRun).toBe(SIZE - before);
    }
  });

  it('recovers from cuts within one call by retrying with backoff', async () => {
    const store = fsStore();
    server.cuts = cutPoints(10, 99);
    const m = await downloadModel(opts(store, { sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(server.cuts).toEqual([]); // every cut happened
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('aborts on request, keeps complete chunks, and resumes', async () => {
    const store = fsStore();
    server.bytesPerSecond = 4 * 1024 * 1024;
    const ac = new AbortController();
    let aborted = false;
    const run = downloadModel(
      opts(store, {
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: (r) => {
          if (!aborted && r.bytesDone > SIZE / 3) {
            aborted = true;
            ac.abort();
          }
        },
      }),
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    const partial = (await store.getManifest('model.gguf'))!;
    const kept = storedByteCount(partial);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(SIZE);
    server.bytesPerSecond = 0;
    server.resetCounters();
    const m = await downloadModel(opts(store));
    expect(isPresent(m)).toBe(true);
    expect(server.bytesServed).toBe(SIZE - kept);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('a resumed download reports the bytes already stored first, even while its first request is retried', async () => {
    const store = fsStore();
    server.bytesPerSecond = 4 * 1024 * 1024;
    const ac = new AbortController();
    await expect(
      downloadModel(opts(store, { signal: ac.signal, progressIntervalMs: 0, onProgress: (r) => r.bytesDone > SIZE / 10 && ac.abort() })),
    ).rejects.toMatchObject({ name: 'AbortError' });
    await server.idle();
    const kept = storedByteCount((await store.getManifest('model.gguf'))!);
    expect(kept).toBeGreaterThan(0);
    server.bytesPerSecond = 0;
    server.failNext = [503];
    const reports: ProgressReport[] = [];
    await downloadModel(opts(store, { progressIntervalMs: 0, onProgress: (r) => reports.push(r) }));
    expect(reports[0]).toMatchObject({ phase: 'download', bytesDone: kept, bytesTotal: SIZE });
    // The retry of the first request is reported with the stored bytes too, not as 0 of 0.
    const retry = reports.find((r) => r.retry);
    expect(retry).toMatchObject({ bytesDone: kept, bytesTotal: SIZE });
    // and nothing afterwards goes back below what was stored
    expect(Math.min(...reports.filter((r) => r.phase === 'download').map((r) => r.bytesDone))).toBe(kept);
  });

  it('restarts cleanly when the file changed on the server between runs (ETag)', async () => {
    const store = fsStore();
    server.cuts = [SIZE / 2];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
    const v2 = pseudoRandomBytes(SIZE - 1000, 43);
    server.files.set('/model.gguf', { content: v2, etag: '"v2"' });
    server.resetCounters();
    const m = await downloadModel(opts(store));
    expect(m.etag).toBe('"v2"');
    expect(m.size).toBe(v2.length);
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
  });

  it('restarts cleanly when the file changes in the middle of a download (Last-Modified only)', async () => {
    const store = fsStore();
    server.files.set('/model.gguf', { content: data, lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
    const v2 = pseudoRandomBytes(SIZE, 44);
    let swapped = false;
    const m = await downloadModel(
      opts(store, {
        progressIntervalMs: 0,
        onProgress: (r) => {
          if (!swapped && r.phase === 'download' && r.bytesDone > SIZE / 2) {
            swapped = true;
            server.files.set('/model.gguf', { content: v2, lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' });
          }
        },
      }),
    );
    expect(swapped).toBe(true);
    expect(m.lastModified).toBe('Tue, 02 Jan 2024 00:00:00 GMT');
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
  });

  it('restarts cleanly when a resumed answer lacks the ETag the stored chunks came with (no mixed versions)', async () => {
    const store = fsStore();
    server.cuts = [SIZE / 2];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
    // Same size, no validators at all: nothing says "unchanged", so nothing stored may be reused.
    const v2 = pseudoRandomBytes(SIZE, 45);
    server.files.set('/model.gguf', { content: v2 });
    server.resetCounters();
    const m = await downloadModel(opts(store));
    expect(m.etag).toBeUndefined();
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
    expect(server.bytesServed).toBeGreaterThanOrEqual(SIZE);
  });

  it('restarts cleanly when a resumed answer lacks the stored Last-Modified', async () => {
    const store = new MemoryModelStore();
    server.files.set('/model.gguf', { content: data, lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
    server.cuts = [SIZE / 3];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
    const v2 = pseudoRandomBytes(SIZE, 46);
    server.files.set('/model.gguf', { content: v2, etag: '"new"' });
    const m = await downloadModel(opts(store));
    expect(m.lastModified).toBeUndefined();
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
  });

  it('without Range, a resumed stream lacking the stored ETag restarts instead of keeping old chunks', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.cuts = [SIZE / 2];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
    expect(completeBytes((await store.getManifest('model.gguf'))!)).toBeGreaterThan(0);
    const v2 = pseudoRandomBytes(SIZE, 47);
    server.files.set('/model.gguf', { content: v2 });
    await downloadModel(opts(store));
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
  });

  it('without Range and without any validator, stored chunks that differ from the re-sent stream restart the download', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.files.set('/model.gguf', { content: data });
    server.cuts = [SIZE / 2];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(DownloadError);
    const v2 = pseudoRandomBytes(SIZE, 48);
    server.files.set('/model.gguf', { content: v2 });
    await downloadModel(opts(store));
    expect(sha256Hex(await storedBytes(store))).toBe(sha256Hex(v2));
  });

  it('falls back to a streamed whole-file download when the server ignores Range, still chunk by chunk', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    const writes: number[] = [];
    const spy = Object.assign(Object.create(store) as MemoryModelStore, {
      writeChunk: (m: ModelManifest, i: number, b: Uint8Array) => (writes.push(b.length), store.writeChunk(m, i, b)),
    });
    const m = await downloadModel(opts(spy, { sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(writes.length).toBe(41);
    expect(Math.max(...writes)).toBe(CHUNK);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('without Range, a cut restarts the stream but keeps (and skips writing) stored chunks', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.cuts = [SIZE - 100];
    let writes = 0;
    const spy = Object.assign(Object.create(store) as MemoryModelStore, {
      writeChunk: (m: ModelManifest, i: number, b: Uint8Array) => (writes++, store.writeChunk(m, i, b)),
    });
    const m = await downloadModel(opts(spy));
    expect(isPresent(m)).toBe(true);
    expect(writes).toBe(41); // chunks 0-39 once, the last one after the restart
    expect(server.requests).toBe(2);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('handles a body without Content-Length (chunked transfer) from a server without Range', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.sendLength = false;
    const m = await downloadModel(opts(store, { sha256: dataSha }));
    expect(m.size).toBe(SIZE);
    expect(m.chunkDone.length).toBe(41);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('raises DownloadError with the status for 404, without retrying', async () => {
    const store = new MemoryModelStore();
    const err = await downloadModel(opts(store, { url: server.url('/missing.gguf') })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(404);
    expect(err.message).toMatch(/missing\.gguf: HTTP 404.*no such file/);
    expect(server.requests).toBe(1);
    expect(await store.listManifests()).toEqual([]);
  });

  it('retries 503/429 and succeeds; gives up with DownloadError after maxRetries', async () => {
    const store = new MemoryModelStore();
    server.failNext = [503, 429, 503];
    const m = await downloadModel(opts(store));
    expect(isPresent(m)).toBe(true);

    const store2 = new MemoryModelStore();
    server.failNext = [503, 503, 503];
    const err = await downloadModel(opts(store2, { maxRetries: 2 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/failed after 3 attempts/);
  });

  it('wrong sha256: IntegrityError, never marked complete; the right hash then verifies without downloading', async () => {
    const store = fsStore();
    const wrong = 'ab'.repeat(32);
    const err = await downloadModel(opts(store, { sha256: wrong })).catch((e) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect(err.message).toContain(`expected ${wrong}, got ${dataSha}`);
    const m = (await store.getManifest('model.gguf'))!;
    expect(m.verified).toBe(false);
    expect(isPresent(m)).toBe(false);
    await expect(openStoredModel(store, 'model.gguf')).rejects.toThrow(/integrity check has not passed/);

    server.resetCounters();
    const ok = await downloadModel(opts(store, { sha256: dataSha }));
    expect(isPresent(ok)).toBe(true);
    expect(server.bytesServed).toBe(0);
    await expect(downloadModel(opts(store, { sha256: 'xyz' }))).rejects.toThrow(/not 64 hexadecimal digits/);
  });

  it('a chunk corrupted at rest is detected and re-fetched (only that chunk)', async () => {
    const store = fsStore();
    await downloadModel(opts(store));
    const path = store.dataPath('model.gguf');
    const bytes = new Uint8Array(await readFile(path));
    bytes[7 * CHUNK + 5]! ^= 0x40;
    await writeFile(path, bytes);
    // Mark unverified, as a failed read through ChunkedModelSource or `lowbit pull --verify` would.
    const m = (await store.getManifest('model.gguf'))!;
    m.verified = false;
    await store.putManifest(m);
    server.resetCounters();
    const fixed = await downloadModel(opts(store, { sha256: dataSha }));
    expect(isPresent(fixed)).toBe(true);
    expect(server.bytesServed).toBe(CHUNK);
    expect(server.log).toEqual([`GET bytes=${7 * CHUNK}-${8 * CHUNK - 1}`]);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('a chunk found corrupt while reading (IndexedDB-style chunked reader) is re-fetched by the next download', async () => {
    const store = new MemoryModelStore();
    await downloadModel(opts(store));
    store.rawChunk('model.gguf', 12)![100]! ^= 1;
    const src = await openStoredModel(store, 'model.gguf');
    await expect(src.read(12 * CHUNK, 10)).rejects.toThrow(IntegrityError);
    await expect(openStoredModel(store, 'model.gguf')).rejects.toThrow(/not ready/);
    server.resetCounters();
    expect(isPresent(await downloadModel(opts(store, { sha256: dataSha })))).toBe(true);
    expect(server.log).toEqual([`GET bytes=${12 * CHUNK}-${13 * CHUNK - 1}`]);
  });

  it('a short chunk from the store (lost write) is re-fetched, never used', async () => {
    const store = new MemoryModelStore();
    let dropped = false;
    const lossy = Object.assign(Object.create(store) as MemoryModelStore, {
      writeChunk: (m: ModelManifest, i: number, b: Uint8Array) => {
        if (i === 3 && !dropped) {
          dropped = true;
          return store.writeChunk(m, i, b.subarray(0, 100)); // the back end lost most of it
        }
        return store.writeChunk(m, i, b);
      },
    });
    const m = await downloadModel(opts(lossy, { sha256: dataSha }));
    expect(dropped).toBe(true);
    expect(isPresent(m)).toBe(true);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('locks a model while it downloads (fs store); a stale lock of a dead process is taken over', async () => {
    const store = fsStore();
    server.bytesPerSecond = 8 * 1024 * 1024;
    const first = downloadModel(opts(store));
    await new Promise((r) => setTimeout(r, 30));
    await expect(downloadModel(opts(store))).rejects.toThrow(/already being written by this process/);
    expect(isPresent(await first)).toBe(true);
    // The lock was released: the same model can be opened for writing again.
    const release = await store.lock('model.gguf');
    await release();
    // A lock file left by a killed process (pid that does not exist) does not block.
    await writeFile(join(store.location, '.locks', 'other.gguf.lock'), '4194000');
    server.files.set('/other.gguf', { content: data });
    expect(isPresent(await downloadModel(opts(store, { url: server.url('/other.gguf') })))).toBe(true);
  });

  it('refuses sizes beyond the limit before planning anything (hostile Content-Range)', async () => {
    const store = new MemoryModelStore();
    const hostile: typeof fetch = async () =>
      new Response(new Uint8Array(CHUNK), { status: 206, headers: { 'content-range': `bytes 0-${CHUNK - 1}/${2 ** 52}` } });
    await expect(downloadModel(opts(store, { fetch: hostile }))).rejects.toThrow(/more than the 1099511627776-byte limit/);
    await expect(downloadModel(opts(store, { fetch: hostile, maxBytes: 2 ** 53, chunkSize: 4096 }))).rejects.toThrow(
      /more than 4194304 chunks/,
    );
    expect(await store.listManifests()).toEqual([]);
  });

  it('refuses a name already used by another URL', async () => {
    const store = new MemoryModelStore();
    server.files.set('/other.gguf', { content: data });
    await downloadModel(opts(store, { name: 'shared-name' }));
    await expect(downloadModel(opts(store, { name: 'shared-name', url: server.url('/other.gguf') }))).rejects.toThrow(
      /'shared-name' is already stored/,
    );
  });
});

describe('cut connections keep what arrived', () => {
  // 1.3 MB: one chunk with the default 16 MiB chunks, so before parts were kept every cut
  // restarted the whole file.
  const big = pseudoRandomBytes(1_300_000, 77);
  const bigSha = sha256Hex(big);
  const bigUrl = () => server.url('/big.gguf');

  it('six random cuts within one pull cost at most 1.5x the file, default options (fs store)', async () => {
    server.files.set('/big.gguf', { content: big, etag: '"big"' });
    const store = fsStore();
    server.cuts = cutPoints(6, 2024, big.length).sort((a, b) => a - b);
    const m = await downloadModel({ store, url: bigUrl(), sha256: bigSha });
    expect(isPresent(m)).toBe(true);
    expect(server.cuts).toEqual([]);
    console.log(`6 cuts in one pull: ${server.requests} requests, server sent ${(server.bytesServed / big.length).toFixed(3)}x the file`);
    expect(server.bytesServed / big.length).toBeLessThanOrEqual(1.5);
  });

  it('six pulls each ended by a cut, then one that finishes: at most 1.5x the file, every resumed chunk re-checked', async () => {
    server.files.set('/big.gguf', { content: big, etag: '"big"' });
    const store = fsStore();
    const cuts = cutPoints(6, 31, big.length).sort((a, b) => a - b);
    for (const cut of cuts) {
      server.cuts = [cut];
      await expect(downloadModel({ store, url: bigUrl(), maxRetries: 0 })).rejects.toThrow(DownloadError);
      const partial = (await store.getManifest('big.gguf'))!;
      expect(storedByteCount(partial)).toBeGreaterThan(0);
    }
    const m = await downloadModel({ store, url: bigUrl(), sha256: bigSha });
    expect(isPresent(m)).toBe(true);
    expect(m.partialChunks ?? {}).toEqual({});
    console.log(`6 pulls cut, 1 finishing: server sent ${(server.bytesServed / big.length).toFixed(3)}x the file`);
    expect(server.bytesServed / big.length).toBeLessThanOrEqual(1.5);
    expect(sha256Hex(await storedBytes(store, 'big.gguf'))).toBe(bigSha);
  });

  it('a stored partial chunk that was corrupted at rest is fetched again from its start, not trusted', async () => {
    server.files.set('/big.gguf', { content: big, etag: '"big"' });
    const store = fsStore();
    server.cuts = [700_000];
    await expect(downloadModel({ store, url: bigUrl(), maxRetries: 0 })).rejects.toThrow(DownloadError);
    const kept = storedByteCount((await store.getManifest('big.gguf'))!);
    expect(kept).toBeGreaterThan(600_000);
    const path = store.dataPath('big.gguf');
    const bytes = new Uint8Array(await readFile(path));
    bytes[1000]! ^= 0x10;
    await writeFile(path, bytes);
    server.resetCounters();
    const m = await downloadModel({ store, url: bigUrl(), sha256: bigSha });
    expect(isPresent(m)).toBe(true);
    expect(server.log).toEqual([`GET bytes=0-${16 * 1024 * 1024 - 1}`]);
    expect(sha256Hex(await storedBytes(store, 'big.gguf'))).toBe(bigSha);
  });

  it('parts of a chunk are recorded as they arrive: the manifest shows 3 MiB of an incomplete 16 MiB chunk, and the resume asks only for the rest', async () => {
    const size = 5 * 1024 * 1024 + 123;
    const file = pseudoRandomBytes(size, 78);
    server.files.set('/five.gguf', { content: file, etag: '"5"' });
    const store = new MemoryModelStore();
    const ac = new AbortController();
    server.bytesPerSecond = 16 * 1024 * 1024;
    let saved = 0;
    const watcher = Object.assign(Object.create(store) as MemoryModelStore, {
      putManifest: async (m: ModelManifest) => {
        saved = storedByteCount(m);
        if (saved >= 3 * 1024 * 1024) ac.abort(); // what a crash would leave is the last save
        return store.putManifest(m);
      },
    });
    await expect(downloadModel({ store: watcher, url: server.url('/five.gguf'), signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const partial = (await store.getManifest('five.gguf'))!;
    expect(completeBytes(partial)).toBe(0); // one 16 MiB chunk, not complete
    expect(storedByteCount(partial)).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    server.bytesPerSecond = 0;
    await server.idle();
    server.resetCounters();
    const m = await downloadModel({ store, url: server.url('/five.gguf'), sha256: sha256Hex(file) });
    expect(isPresent(m)).toBe(true);
    expect(server.bytesServed).toBe(size - storedByteCount(partial));
  });
});

describe('bodies of unknown length (200 without Content-Length)', () => {
  /**
   * A server that ignores Range and streams `prefix`, then zeros, without a length: "endless"
   * up to `stopAfter` bytes (so that a downloader that never stops still ends the test).
   */
  function endless(prefix: Uint8Array, stopAfter = 16 * 1024 * 1024) {
    const counter = { pulled: 0 };
    const fetchFn: typeof fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (counter.pulled >= stopAfter) return controller.close();
            const piece = new Uint8Array(32 * 1024);
            const from = prefix.subarray(counter.pulled, counter.pulled + piece.length);
            piece.set(from);
            counter.pulled += piece.length;
            controller.enqueue(piece);
          },
        }),
        { status: 200 },
      );
    return { fetch: fetchFn, counter };
  }

  /** A GGUF header whose metadata never ends: nothing in it bounds the body. */
  function endlessHeader(): Uint8Array {
    const h = new Uint8Array(32);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x46554747, true);
    v.setUint32(4, 3, true);
    v.setBigUint64(8, 1n, true); // tensors
    v.setBigUint64(16, 1n, true); // metadata entries
    v.setBigUint64(24, 1n << 40n, true); // the first key is 1 TiB long
    return h;
  }

  it('a close-delimited body cut short is not complete: its GGUF header says how long it must be', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.closeDelimited = true;
    server.truncations = [Math.floor(SIZE * 0.6)];
    const err = await downloadModel(opts(store, { maxRetries: 0 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(
      new RegExp(`body ended after ${Math.floor(SIZE * 0.6)} bytes, but its GGUF header says the file has ${SIZE}`),
    );
    expect(isPresent(await store.getManifest('model.gguf'))).toBe(false);
    await expect(openStoredModel(store, 'model.gguf')).rejects.toThrow(/not ready/);

    // Cut again, inside the header this time, then whole: one pull retries until the body is complete.
    server.truncations = [40, SIZE - 5];
    const m = await downloadModel(opts(store, { sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(server.truncations).toEqual([]);
    expect(m.size).toBe(SIZE);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('a body cut at a chunk boundary leaves a model that does not look complete (the next pull fetches the rest)', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.closeDelimited = true;
    server.truncations = [24 * CHUNK];
    await expect(downloadModel(opts(store, { maxRetries: 0 }))).rejects.toThrow(/but its GGUF header says the file has/);
    const partial = (await store.getManifest('model.gguf'))!;
    expect(isComplete(partial)).toBe(false);
    server.resetCounters();
    const m = await downloadModel(opts(store));
    expect(server.requests).toBeGreaterThan(0);
    expect(m.size).toBe(SIZE);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('a body longer than its GGUF header describes is refused (checked at its end when it fits in one chunk)', async () => {
    const store = new MemoryModelStore();
    const file = pseudoRandomGguf(200_000, 8);
    const padded = new Uint8Array(file.length + 5000);
    padded.set(file);
    server.files.set('/long.gguf', { content: padded });
    server.rangeSupport = false;
    server.closeDelimited = true;
    const err = await downloadModel(opts(store, { url: server.url('/long.gguf'), chunkSize: 1 << 20 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/sends more than the 200000 bytes its GGUF header describes/);
    expect(isPresent(await store.getManifest('long.gguf'))).toBe(false);
  });

  it('a body cut inside its GGUF header is not complete either', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.closeDelimited = true;
    server.truncations = [40];
    const err = await downloadModel(opts(store, { maxRetries: 0 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/body ended after 40 bytes, before its GGUF header did/);
    expect(isPresent(await store.getManifest('model.gguf'))).toBe(false);
  });

  it('a body of unknown length that is not a GGUF is refused, and nothing of it is kept', async () => {
    const store = new MemoryModelStore();
    server.files.set('/notes.txt', { content: pseudoRandomBytes(300_000, 5) });
    server.rangeSupport = false;
    server.closeDelimited = true;
    const err = await downloadModel(opts(store, { url: server.url('/notes.txt') })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/not a GGUF model .*bad magic/);
    expect(await store.listManifests()).toEqual([]);
    expect((await store.space()).usageBytes ?? 0).toBe(0);
  });

  it('an endless stream after a GGUF header stops where the header says the file ends', async () => {
    const store = new MemoryModelStore();
    const header = pseudoRandomGguf(1 << 20, 9).subarray(0, 64);
    const server2 = endless(header);
    const err = await downloadModel(opts(store, { fetch: server2.fetch })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/sends more than the 1048576 bytes its GGUF header describes/);
    // What was pulled from the body: the file, plus what was in flight when it overflowed.
    expect(server2.counter.pulled).toBeLessThanOrEqual((1 << 20) + 2 * CHUNK);
  });

  it('a GGUF header that claims more than the limit for unknown sizes is refused at once, not obeyed', async () => {
    // The header's extent bounds an unstated length only below the cap: a header claiming 100 GiB
    // must not lift the 64 GiB default (the disk check alone would let it fill what is free).
    const store = new MemoryModelStore();
    const header = pseudoRandomGguf(1 << 20, 9)
      .subarray(0, 64)
      .slice();
    new DataView(header.buffer).setBigUint64(37, BigInt(100 * 2 ** 30 - 64), true); // the tensor's elements (I8: bytes)
    let requests = 0;
    const server2 = endless(header);
    const err = await downloadModel(opts(store, { fetch: (...a) => (requests++, server2.fetch(...a)) })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/GGUF header describes 107374182400 bytes, more than the 68719476736-byte limit/);
    expect(requests).toBe(1);
    expect(server2.counter.pulled).toBeLessThanOrEqual(4 * CHUNK);

    // The same header on a short body (checked at its end): refused, not retried as a cut body.
    requests = 0;
    const short = endless(header, 1);
    const err2 = await downloadModel(opts(new MemoryModelStore(), { fetch: (...a) => (requests++, short.fetch(...a)) })).catch((e) => e);
    expect(err2).toBeInstanceOf(DownloadError);
    expect(err2.message).toMatch(/GGUF header describes 107374182400 bytes, more than the 68719476736-byte limit/);
    expect(requests).toBe(1);
  });

  it('an endless stream whose header never ends stops at maxBytes', async () => {
    const store = new MemoryModelStore();
    const server2 = endless(endlessHeader());
    const err = await downloadModel(opts(store, { fetch: server2.fetch, maxBytes: 2 << 20 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/more than 2097152 bytes without a stated length/);
    expect(server2.counter.pulled).toBeLessThanOrEqual((2 << 20) + 2 * CHUNK);
  });

  it('an endless stream runs into the free space check, not into a full disk', async () => {
    const capacity = 1 << 20;
    const store = new MemoryModelStore(capacity);
    const server2 = endless(endlessHeader());
    const err = await downloadModel(opts(store, { fetch: server2.fetch })).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect((await store.space()).usageBytes).toBeLessThanOrEqual(capacity);
  });
});

describe('hostile ranged answers', () => {
  /** A fetch that answers every Range request through `answer(start, end)`. */
  function ranged(answer: (start: number, end: number) => { range: string; body: Uint8Array }): typeof fetch {
    return async (_url, init) => {
      const m = /bytes=(\d+)-(\d*)/.exec(new Headers(init?.headers).get('range') ?? '')!;
      const start = Number(m[1]);
      const end = Math.min(m[2] ? Number(m[2]) : SIZE - 1, SIZE - 1);
      const { range, body } = answer(start, end);
      return new Response(body.slice(), { status: 206, headers: { 'content-range': range, etag: '"h"' } });
    };
  }

  it('a Content-Range other than the one asked for is never stored', async () => {
    const store = new MemoryModelStore();
    // Every answer is the file's first bytes, whatever was asked.
    const fetchFn = ranged((start, end) => ({ range: `bytes 0-${end - start}/${SIZE}`, body: data.subarray(0, end - start + 1) }));
    const err = await downloadModel(opts(store, { fetch: fetchFn, maxRetries: 1, concurrency: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/asked for bytes 65536-131071, got 'bytes 0-65535\/\d+'/);
    expect(completeBytes((await store.getManifest('model.gguf'))!)).toBe(CHUNK); // only chunk 0, which matched
  });

  it('a body longer than its Content-Range is refused, and none of it is kept', async () => {
    const store = new MemoryModelStore();
    const fetchFn = ranged((start, end) => ({
      range: `bytes ${start}-${end}/${SIZE}`,
      body: data.subarray(start, Math.min(SIZE, end + 1 + 1000)),
    }));
    const err = await downloadModel(opts(store, { fetch: fetchFn, maxRetries: 1, concurrency: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/body longer than the 65536 bytes asked for/);
    expect(storedByteCount((await store.getManifest('model.gguf'))!)).toBe(0);
  });

  it('a total that changes from answer to answer restarts, then gives up', async () => {
    const store = new MemoryModelStore();
    let n = 0;
    const fetchFn = ranged((start, end) => ({ range: `bytes ${start}-${end}/${SIZE + (n++ % 2)}`, body: data.subarray(start, end + 1) }));
    await expect(downloadModel(opts(store, { fetch: fetchFn, concurrency: 1 }))).rejects.toThrow(/keeps changing while it downloads/);
  });

  it('a 200 to one Range request (a CDN miss) keeps the chunks already stored', async () => {
    // It used to count as a changed file: everything stored was deleted and fetched again.
    const store = new MemoryModelStore();
    let requests = 0;
    const fetchFn: typeof fetch = (url, init) => {
      const headers = new Headers(init?.headers);
      if (++requests === 20) headers.delete('range'); // the server answers this one with the whole file
      return fetch(url, { ...init, headers });
    };
    const m = await downloadModel(opts(store, { fetch: fetchFn, concurrency: 1, sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
    // Chunk 0 was asked for once: nothing stored before the 200 was fetched again.
    expect(server.log.filter((l) => l === `GET bytes=0-${CHUNK - 1}`)).toHaveLength(1);
    // Every chunk asked for once by range (the one answered by the 200 again by the new probe).
    expect(server.log.filter((l) => l.startsWith('GET bytes='))).toHaveLength(41);
    expect(server.log.filter((l) => l === 'GET all')).toHaveLength(1);
  });

  it('a changed validator on a 200 to a Range request still restarts cleanly', async () => {
    const store = new MemoryModelStore();
    let requests = 0;
    const fetchFn: typeof fetch = async (url, init) => {
      const headers = new Headers(init?.headers);
      if (++requests !== 20) return fetch(url, { ...init, headers });
      headers.delete('range');
      const res = await fetch(url, { ...init, headers });
      return new Response(res.body, { status: 200, headers: { etag: '"v2"', 'content-length': String(SIZE) } });
    };
    const m = await downloadModel(opts(store, { fetch: fetchFn, concurrency: 1, sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(server.log.filter((l) => l === `GET bytes=0-${CHUNK - 1}`)).toHaveLength(2);
  });

  it('an empty 200 (Content-Length: 0) from a server without Range is no model', async () => {
    const store = new MemoryModelStore();
    server.files.set('/empty.gguf', { content: new Uint8Array(0) });
    server.rangeSupport = false;
    const err = await downloadModel(opts(store, { url: server.url('/empty.gguf') })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/not a GGUF model \(the body has 0 bytes\)/);
    expect(await store.listManifests()).toEqual([]);
  });
});

describe('manifest saves', () => {
  it('coalesce when the store is slower than the chunks arrive (one running, one waiting)', async () => {
    const store = new MemoryModelStore();
    let saves = 0;
    const slow = Object.assign(Object.create(store) as MemoryModelStore, {
      putManifest: async (m: ModelManifest) => {
        saves++;
        await new Promise((r) => setTimeout(r, 40));
        return store.putManifest(m);
      },
    });
    const m = await downloadModel(opts(slow, { sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect((await store.getManifest('model.gguf'))!.verified).toBe(true);
    // 41 chunks: one save each before; now the saves follow the store's pace.
    expect(saves).toBeLessThan(20);
  });
});

describe('timeouts and redirects', () => {
  it('a server that never answers times out, is retried, and the final error says it timed out', async () => {
    const store = new MemoryModelStore();
    server.hangNext = 10;
    const t0 = Date.now();
    const err = await downloadModel(opts(store, { idleTimeoutMs: 200, maxRetries: 2 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/failed after 3 attempts: timed out: no answer within 200 ms/);
    expect(server.requests).toBe(3);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a connection that stalls mid-body times out and the download completes on the retry', async () => {
    const store = new MemoryModelStore();
    server.stalls = [5 * CHUNK + 100];
    const m = await downloadModel(opts(store, { idleTimeoutMs: 200, sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(server.stalls).toEqual([]);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });

  it('a stalled stream from a server without Range times out and is restarted', async () => {
    const store = new MemoryModelStore();
    server.rangeSupport = false;
    server.stalls = [SIZE / 2];
    const m = await downloadModel(opts(store, { idleTimeoutMs: 200, sha256: dataSha }));
    expect(isPresent(m)).toBe(true);
    expect(server.requests).toBe(2);
  });

  /**
   * A server that answers at once and then drips `bytes` every `everyMs`, forever: each piece comes
   * well within the idle timeout, so only a minimum rate per idle window can end it.
   */
  function drip(bytes: number, everyMs: number) {
    let requests = 0;
    const fetchFn: typeof fetch = async (_url, init) => {
      requests++;
      const range = /^bytes=(\d+)-(\d*)$/.exec(new Headers(init?.headers).get('range') ?? '');
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Math.min(Number(range[2]), SIZE - 1) : SIZE - 1;
      let at = start;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, everyMs));
          controller.enqueue(data.slice(at, at + bytes));
          at += bytes;
        },
      });
      init?.signal?.addEventListener('abort', () => body.cancel().catch(() => {}));
      const headers: Record<string, string> = range ? { 'content-range': `bytes ${start}-${end}/${SIZE}` } : {};
      return new Response(body, { status: range ? 206 : 200, headers: { ...headers, 'content-length': String(end - start + 1) } });
    };
    return { fetch: fetchFn, requests: () => requests };
  }

  for (const ranged of [true, false]) {
    it(`a server that drips a few bytes per idle period is a stalled one (${ranged ? 'ranged' : 'whole-file'} answers)`, async () => {
      const dripper = drip(8, 20);
      // A server without Range support answers the probe with a plain 200.
      const fetchFn: typeof fetch = (url, init) => {
        const headers = new Headers(init?.headers);
        if (!ranged) headers.delete('range');
        return dripper.fetch(url, { ...init, headers });
      };
      const t0 = Date.now();
      const outcome = await Promise.race([
        downloadModel(opts(new MemoryModelStore(), { fetch: fetchFn, idleTimeoutMs: 300, maxRetries: 1, concurrency: 1 })).catch((e) => e),
        new Promise((r) => setTimeout(() => r('still downloading after 10 s'), 10_000)),
      ]);
      expect(outcome).toBeInstanceOf(DownloadError);
      expect((outcome as Error).message).toMatch(/failed after 2 attempts: timed out: \d+ bytes in 300 ms/);
      // Ranged: the probe's body is the chunk's first try, then the chunk's own two attempts.
      expect(dripper.requests()).toBe(ranged ? 3 : 2);
      expect(Date.now() - t0).toBeLessThan(5_000);
    });
  }

  it('the timers and abort forwarding of 41 requests leave no listeners behind (no leak warning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const ac = new AbortController();
      expect(isPresent(await downloadModel(opts(new MemoryModelStore(), { signal: ac.signal, concurrency: 3 })))).toBe(true);
      await new Promise((r) => setTimeout(r, 10)); // warnings are emitted on the next tick
      expect(getEventListeners(ac.signal, 'abort')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });

  it('a redirect to a non-HTTP scheme is final, not retried', async () => {
    const store = new MemoryModelStore();
    server.redirects.set('/model.gguf', 'file:///etc/passwd');
    const err = await downloadModel(opts(store, { maxRetries: 5 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/cannot follow a redirect: .*HTTP\(S\) scheme/);
    expect(server.requests).toBe(1);
  });

  it('a redirect loop is final too (fetch stops it after 20 hops; no retry multiplies it)', async () => {
    const store = new MemoryModelStore();
    server.redirects.set('/model.gguf', '/model.gguf');
    const err = await downloadModel(opts(store, { maxRetries: 5 })).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/cannot follow a redirect: .*redirect count exceeded/);
    expect(server.requests).toBe(21);
  });
});

describe('quota', () => {
  it('checks free space before downloading and names the bytes needed', async () => {
    const store = new MemoryModelStore(SIZE - 1);
    const err = await downloadModel(opts(store)).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err.neededBytes).toBe(SIZE);
    expect(err.availableBytes).toBe(SIZE - 1);
    expect(err.message).toMatch(/more needed/);
    expect(server.bytesServed).toBeLessThanOrEqual(CHUNK); // at most the probe's body was started
  });

  it('turns a QuotaExceededError DOMException mid-way into ours; the partial model resumes later', async () => {
    const store = new MemoryModelStore();
    let full = true;
    let written = 0;
    const limited = Object.assign(Object.create(store) as MemoryModelStore, {
      writeChunk: async (m: ModelManifest, i: number, b: Uint8Array) => {
        if (full && written >= 10) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        written++;
        return store.writeChunk(m, i, b);
      },
    });
    const err = await downloadModel(opts(limited, { concurrency: 1 })).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err.neededBytes).toBe(SIZE - 10 * CHUNK);
    expect(err.cause).toBeInstanceOf(DOMException);
    const partial = (await store.getManifest('model.gguf'))!;
    expect(completeBytes(partial)).toBe(10 * CHUNK);
    expect(partial.verified).toBe(false);

    full = false;
    server.resetCounters();
    const m = await downloadModel(opts(limited));
    expect(isPresent(m)).toBe(true);
    expect(server.bytesServed).toBe(SIZE - 10 * CHUNK);
    expect(sha256Hex(await storedBytes(store))).toBe(dataSha);
  });
});
