// The IndexedDB model store in a real Chromium: download in Range-requested chunks, list, read back,
// delete; resume after a failed download and after a page reload (server byte counters prove only
// the missing chunks travel); storage running out, before and during a download; and stored
// weights streamed onto the GPU (SwiftShader WebGPU), read back and compared with the file.
// The page (e2e/pages/storage.html) exposes the store's browser modules as window.lowbitStore.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { describe, expect, test } from 'vitest';
import { formatBytes } from '../src/format.ts';
import { localModel, sharedFixtures } from '../test/helpers/fixtures.ts';
import { useBrowserSuite } from './harness.ts';
import { chunkRecords } from './idb-records.ts';
import { TestFileServer } from '../test/storage/helpers.ts';

/** Small chunks, so the 2 MB bundled model is stored as 8 IndexedDB records (the last one short). */
const CHUNK = 256 * 1024;
const BUNDLED = '/models/tinystories-llama-3M-Q4_K_M.gguf';
const BUNDLED_ID = 'tinystories-llama-3M-Q4_K_M.gguf';
const SMALL = '/fixtures/stories260K-Q8_0.gguf';
const SMALL_ID = 'stories260K-Q8_0.gguf';

const bundledBytes = readFileSync(localModel(BUNDLED_ID));
const smallBytes = readFileSync(localModel(SMALL_ID));
const SIZE = bundledBytes.length;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bundledSha = sha256(bundledBytes);

const suite = useBrowserSuite({
  extraRoots: () => {
    const extra: Record<string, string> = { '/fixtures/': join(import.meta.dirname, '../test/fixtures/models') };
    if (sharedFixtures) extra['/shared/'] = join(sharedFixtures, 'models');
    return extra;
  },
});

const served = (path: string) => suite.server.bytesSent.get(path) ?? 0;

async function openPage(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${suite.server.url}/e2e/pages/storage.html`);
  await page.waitForFunction(() => !!window.lowbitStore);
  return page;
}

/** Range headers of the requests the page makes for `path`, in order. */
function recordRanges(page: Page, path: string): string[] {
  const ranges: string[] = [];
  page.on('request', (r: Request) => {
    if (new URL(r.url()).pathname === path) ranges.push(r.headers().range ?? '(none)');
  });
  return ranges;
}

const rangeStart = (range: string) => Number(/^bytes=(\d+)-/.exec(range)?.[1] ?? NaN);

interface DownloadArgs {
  path: string;
  chunkSize?: number;
  concurrency?: number;
  maxRetries?: number;
  sha256?: string;
}
interface PageError {
  name: string;
  message: string;
  ours: { quota: boolean; download: boolean; format: boolean };
  neededBytes?: number;
  availableBytes?: number;
  causeName?: string;
}
type DownloadResult = { ok: true; ms: number } | { ok: false; ms: number; error: PageError };

/** downloadModel into the page's IndexedDB store; errors come back as plain data. */
function download(page: Page, args: DownloadArgs): Promise<DownloadResult> {
  return page.evaluate(async (a) => {
    const s = window.lowbitStore;
    const store = new s.IdbModelStore();
    const t0 = performance.now();
    try {
      await s.downloadModel({
        store,
        url: a.path,
        chunkSize: a.chunkSize,
        concurrency: a.concurrency,
        maxRetries: a.maxRetries,
        retryBaseMs: 20,
        sha256: a.sha256,
      });
      return { ok: true as const, ms: performance.now() - t0 };
    } catch (e) {
      const err = e as Error & { neededBytes?: number; availableBytes?: number; cause?: unknown };
      const error = {
        name: err.name,
        message: err.message,
        ours: {
          quota: e instanceof s.errors.QuotaExceededError,
          download: e instanceof s.errors.DownloadError,
          format: e instanceof s.errors.ModelFormatError,
        },
        neededBytes: err.neededBytes,
        availableBytes: err.availableBytes,
        causeName: (err.cause as Error | undefined)?.name,
      };
      return { ok: false as const, ms: performance.now() - t0, error };
    }
  }, args);
}

interface Listed {
  id: string;
  size: number;
  storedBytes: number;
  complete: boolean;
  verified: boolean;
  present: boolean;
  sha256?: string;
  chunkDone: boolean[];
}

/** listModels() plus each manifest's per-chunk flags. */
function list(page: Page): Promise<Listed[]> {
  return page.evaluate(async () => {
    const s = window.lowbitStore;
    const store = new s.IdbModelStore();
    const rows = await s.listModels(store);
    return Promise.all(
      rows.map(async (r) => ({
        id: r.id,
        size: r.size,
        storedBytes: r.storedBytes,
        complete: r.complete,
        verified: r.verified,
        present: r.present,
        sha256: r.sha256,
        chunkDone: (await store.getManifest(r.id))!.chunkDone,
      })),
    );
  });
}

/** sha256 (WebCrypto, independent of our own hasher) of bytes [offset, offset+length) read through openStoredModel. */
function storedSha(page: Page, id: string, offset = 0, length?: number): Promise<string> {
  return page.evaluate(
    async ({ id, offset, length }) => {
      const s = window.lowbitStore;
      const src = await s.openStoredModel(new s.IdbModelStore(), id);
      const bytes = await src.read(offset, length ?? src.size - offset);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
      return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
    },
    { id, offset, length },
  );
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/**
 * A page whose IndexedDB runs out after `chunks` chunk records: from then on every chunk put
 * ('chunks' mode) or every put whatever the object store ('all' mode: a full disk refuses the
 * manifest updates too) throws the DOMException IndexedDB raises when the origin is out of quota.
 */
async function pageRunningOut(ctx: BrowserContext, chunks: number, mode: 'chunks' | 'all'): Promise<Page> {
  const page = await ctx.newPage();
  await page.addInitScript(
    ({ chunks, mode }) => {
      const put = IDBObjectStore.prototype.put;
      let chunkWrites = 0;
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
        const full = chunkWrites >= chunks;
        if (this.name === 'chunks') chunkWrites++;
        if (full && (mode === 'all' || this.name === 'chunks'))
          throw new DOMException('simulated: the origin is out of quota', 'QuotaExceededError');
        return put.apply(this, args);
      };
    },
    { chunks, mode },
  );
  await page.goto(`${suite.server.url}/e2e/pages/storage.html`);
  await page.waitForFunction(() => !!window.lowbitStore);
  return page;
}

describe('IndexedDB model store in Chromium', () => {
  test('downloads in 256 KiB chunks, lists, reads back byte-exact, survives a reload, deletes one, deletes all', async () => {
    const context = await suite.newContext();
    const page = await openPage(context);
    const ranges = recordRanges(page, BUNDLED);
    const before = served(BUNDLED);
    const got = await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha });
    expect(got).toMatchObject({ ok: true });
    // Every byte crossed the wire exactly once, in chunk-sized Range requests.
    expect(served(BUNDLED) - before).toBe(SIZE);
    expect(ranges).toHaveLength(8);
    expect(ranges.map(rangeStart).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => i * CHUNK));
    console.log(
      `browser download of ${BUNDLED_ID} from 127.0.0.1 into IndexedDB (8 chunks, sha256 verified): ${got.ms.toFixed(0)} ms, ${mbps(SIZE, got.ms).toFixed(1)} MB/s`,
    );

    expect(await download(page, { path: SMALL, chunkSize: CHUNK })).toMatchObject({ ok: true });
    expect(await list(page)).toEqual([
      // Without an expected digest the integrity pass checks lengths and CRC-32s but records no sha256.
      {
        id: SMALL_ID,
        size: smallBytes.length,
        storedBytes: smallBytes.length,
        complete: true,
        verified: true,
        present: true,
        sha256: undefined,
        chunkDone: [true, true],
      },
      {
        id: BUNDLED_ID,
        size: SIZE,
        storedBytes: SIZE,
        complete: true,
        verified: true,
        present: true,
        sha256: bundledSha,
        chunkDone: new Array(8).fill(true),
      },
    ]);
    expect(await chunkRecords(page)).toBe(8 + 2);

    // Read back through openStoredModel: whole files, and a range straddling two chunk boundaries.
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
    expect(await storedSha(page, SMALL_ID)).toBe(sha256(smallBytes));
    expect(await storedSha(page, BUNDLED_ID, CHUNK - 100, CHUNK + 200)).toBe(sha256(bundledBytes.subarray(CHUNK - 100, 2 * CHUNK + 100)));

    // The store outlives the page; a present model is not fetched again.
    await page.reload();
    await page.waitForFunction(() => !!window.lowbitStore);
    const afterFirst = served(BUNDLED);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK })).toMatchObject({ ok: true });
    expect(served(BUNDLED)).toBe(afterFirst);
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);

    // Delete one: its manifest and chunk records go, the other model stays readable.
    await page.evaluate((id) => new window.lowbitStore.IdbModelStore().deleteModel(id), SMALL_ID);
    expect((await list(page)).map((m) => m.id)).toEqual([BUNDLED_ID]);
    expect(await chunkRecords(page)).toBe(8);
    const gone = await page.evaluate(async (id) => {
      const s = window.lowbitStore;
      return s.openStoredModel(new s.IdbModelStore(), id).then(
        () => 'opened',
        (e: Error) => `${e instanceof s.errors.ModelFormatError}: ${e.message}`,
      );
    }, SMALL_ID);
    expect(gone).toMatch(/^true: no model named 'stories260K-Q8_0\.gguf' in the indexeddb store/);
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);

    // Delete all.
    expect(await page.evaluate(() => window.lowbitStore.deleteAllModels(new window.lowbitStore.IdbModelStore()))).toBe(1);
    expect(await list(page)).toEqual([]);
    expect(await chunkRecords(page)).toBe(0);
  });
});

describe('resuming', () => {
  test('a download cut by network errors resumes after a page reload, fetching only the missing chunks', async () => {
    const context = await suite.newContext();
    const page = await openPage(context);
    // Requests for chunk 3 onwards fail at the network level (connection reset) until `failing` is cleared.
    let failing = true;
    await page.route(`**${BUNDLED}`, (route) => {
      if (failing && rangeStart(route.request().headers().range ?? '') >= 3 * CHUNK) return route.abort('connectionreset');
      return route.continue();
    });
    const before = served(BUNDLED);
    // One chunk at a time and no retries: chunks 0-2 land, chunk 3's failure ends the download.
    const first = await download(page, { path: BUNDLED, chunkSize: CHUNK, concurrency: 1, maxRetries: 0, sha256: bundledSha });
    expect(first.ok).toBe(false);
    if (!first.ok) {
      expect(first.error.ours.download).toBe(true);
      expect(first.error.message).toContain('chunk 3 (bytes 786432-1048575) failed after 1 attempts');
    }
    const firstVisit = served(BUNDLED) - before;
    expect(firstVisit).toBe(3 * CHUNK);

    failing = false;
    await page.reload();
    await page.waitForFunction(() => !!window.lowbitStore);
    // After the reload: the partial model is listed, resumable, not usable.
    expect(await list(page)).toEqual([
      expect.objectContaining({
        id: BUNDLED_ID,
        storedBytes: 3 * CHUNK,
        complete: false,
        present: false,
        chunkDone: [true, true, true, false, false, false, false, false],
      }),
    ]);
    const ranges = recordRanges(page, BUNDLED);
    const second = await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha });
    expect(second).toMatchObject({ ok: true });
    expect(served(BUNDLED) - before - firstVisit).toBe(SIZE - 3 * CHUNK);
    expect(Math.min(...ranges.map(rangeStart)), ranges.join(', ')).toBe(3 * CHUNK);
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
    expect(await list(page)).toEqual([
      expect.objectContaining({ id: BUNDLED_ID, storedBytes: SIZE, complete: true, present: true, sha256: bundledSha }),
    ]);
  });

  test('a page reloaded in the middle of a download keeps the chunks already stored and fetches the rest', async () => {
    const context = await suite.newContext();
    const page = await openPage(context);
    // Chunks 4+ are held (never answered) until the page goes away: the reload cuts them off mid-flight.
    let holding = true;
    await page.route(`**${BUNDLED}`, (route) => {
      if (holding && rangeStart(route.request().headers().range ?? '') >= 4 * CHUNK) return; // left hanging
      return route.continue();
    });
    const before = served(BUNDLED);
    void download(page, { path: BUNDLED, chunkSize: CHUNK }).catch(() => {}); // dies with the page
    await expect.poll(async () => (await list(page))[0]?.storedBytes ?? 0, { timeout: 20_000, interval: 100 }).toBe(4 * CHUNK);
    await page.reload();
    await page.waitForFunction(() => !!window.lowbitStore);
    const firstVisit = served(BUNDLED) - before;
    expect(firstVisit).toBe(4 * CHUNK);
    holding = false;

    const ranges = recordRanges(page, BUNDLED);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha })).toMatchObject({ ok: true });
    expect(served(BUNDLED) - before - firstVisit).toBe(SIZE - 4 * CHUNK);
    expect(ranges.map(rangeStart).sort((a, b) => a - b)).toEqual([4, 5, 6, 7].map((i) => i * CHUNK));
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
  });
});

describe('cut connections', () => {
  test('six random cuts cost at most 2x the file with default options (3.49x if nothing of a cut chunk were kept)', async () => {
    // A second server (another origin, CORS) that drops the connection at given offsets.
    const cutter = await new TestFileServer().start();
    try {
      cutter.cors = true;
      cutter.files.set(BUNDLED, { content: new Uint8Array(bundledBytes), etag: '"cut"' });
      let x = 12345;
      const cuts: number[] = [];
      for (let i = 0; i < 6; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        cuts.push(1 + (x % (SIZE - 2)));
      }
      cutter.cuts = cuts.sort((a, b) => a - b);
      const context = await suite.newContext();
      const page = await openPage(context);
      // Default chunk size (16 MiB: the whole 2 MB file is one chunk), concurrency and retries.
      const got = await download(page, { path: cutter.url(BUNDLED), sha256: bundledSha });
      expect(got).toMatchObject({ ok: true });
      expect(cutter.cuts).toEqual([]);
      console.log(`6 cuts in Chromium: ${cutter.requests} requests, the server sent ${(cutter.bytesServed / SIZE).toFixed(3)}x the file`);
      // A downloader that kept nothing of a cut chunk would be served 1 + Σ cuts / SIZE = 3.49x the
      // file here. What one that keeps every byte it received still loses is what Chromium had
      // buffered but not yet handed to the page when the cut's error arrived: 1.23–1.31x on an
      // idle machine, up to 1.55x with the machine's cores busy (a fresh-clone npm test beside a
      // long evaluation), so the bound sits between the two.
      expect(cutter.bytesServed / SIZE).toBeLessThanOrEqual(2);
      expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
    } finally {
      await cutter.stop();
    }
  });
});

describe('storage running out', () => {
  test('estimate() reports too little free space: QuotaExceededError naming the bytes, before any chunk is stored', async () => {
    const context = await suite.newContext();
    const storage = { quota: 1_500_000, usage: 500_000 };
    await context.addInitScript((s) => {
      navigator.storage.estimate = async () => s;
    }, storage);
    const page = await openPage(context);
    const ranges = recordRanges(page, BUNDLED);
    const before = served(BUNDLED);
    const got = await download(page, { path: BUNDLED, chunkSize: CHUNK });
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.error.ours.quota).toBe(true);
    expect(got.error).toMatchObject({ name: 'QuotaExceededError', neededBytes: SIZE, availableBytes: 1_000_000 });
    expect(got.error.message).toContain(
      `not enough storage for ${BUNDLED_ID}: ${formatBytes(SIZE)} more needed in IndexedDB lowbit-* (${formatBytes(1_000_000)} free)`,
    );
    // The size comes from the first Range answer (Content-Range), so exactly one request is made;
    // its body is cancelled and nothing is stored.
    expect(ranges).toEqual([`bytes=0-${CHUNK - 1}`]);
    const probeBytes = served(BUNDLED) - before;
    expect(probeBytes).toBeLessThanOrEqual(CHUNK);
    console.log(`quota pre-check: 1 probe request, ${probeBytes} bytes left the server before its body was cancelled`);
    expect(await chunkRecords(page)).toBe(0);
    expect(await list(page)).toEqual([expect.objectContaining({ id: BUNDLED_ID, storedBytes: 0, complete: false, present: false })]);
  });

  test('IndexedDB writes fail with QuotaExceededError mid-way: typed error, partial model resumable, completes once space is back', async () => {
    const context = await suite.newContext();
    // The 4th chunk write and every one after it throw.
    const patched = await pageRunningOut(context, 3, 'chunks');
    // One chunk in flight, so the bytes still needed at the failure are exactly the unstored chunks
    // (with several in flight the count is taken while the others are still being written).
    const got = await download(patched, { path: BUNDLED, chunkSize: CHUNK, concurrency: 1, sha256: bundledSha });
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.error.ours.quota).toBe(true);
    expect(got.error.causeName).toBe('QuotaExceededError');
    const [partial] = await list(patched);
    expect(partial).toMatchObject({ id: BUNDLED_ID, storedBytes: 3 * CHUNK, complete: false, verified: false, present: false });
    expect(partial!.chunkDone.filter(Boolean)).toHaveLength(3);
    expect(got.error.neededBytes).toBe(SIZE - 3 * CHUNK);
    expect(got.error.message).toContain(`${formatBytes(SIZE - 3 * CHUNK)} more needed`);
    expect(got.error.message).toContain('the download resumes where it stopped');
    // Never usable while partial.
    const refused = await patched.evaluate(async (id) => {
      const s = window.lowbitStore;
      return s.openStoredModel(new s.IdbModelStore(), id).then(
        () => 'opened',
        (e: Error) => e.message,
      );
    }, BUNDLED_ID);
    expect(refused).toBe(`model '${BUNDLED_ID}' is not ready: only ${3 * CHUNK} of ${SIZE} bytes are downloaded; pull it again to finish`);
    await patched.close();

    // Space is back (a page without the patch, same origin and database): only the missing chunks are fetched.
    const page = await openPage(context);
    const ranges = recordRanges(page, BUNDLED);
    const before = served(BUNDLED);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha })).toMatchObject({ ok: true });
    expect(served(BUNDLED) - before).toBe(SIZE - 3 * CHUNK);
    const fetched = ranges.map(rangeStart).sort((a, b) => a - b);
    expect(fetched.map((s) => s / CHUNK)).toEqual(partial!.chunkDone.flatMap((done, i) => (done ? [] : [i])));
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
    expect(await list(page)).toEqual([expect.objectContaining({ complete: true, present: true, sha256: bundledSha })]);
  });

  test("Chromium's own quota (CDP Storage.overrideQuotaForOrigin): IndexedDB refuses mid-way, the partial model stays resumable", async () => {
    const context = await suite.newContext();
    const page = await openPage(context);
    const cdp = await context.newCDPSession(page);
    // Room for a few chunks above what the page already uses (the store's databases exist once opened).
    await page.evaluate(() => window.lowbitStore.listModels(new window.lowbitStore.IdbModelStore()));
    const { usage } = await cdp.send('Storage.getUsageAndQuota', { origin: suite.server.url });
    const quotaSize = usage + 4 * CHUNK;
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: suite.server.url, quotaSize });
    expect(await cdp.send('Storage.getUsageAndQuota', { origin: suite.server.url })).toMatchObject({
      quota: quotaSize,
      overrideActive: true,
    });
    // Chromium's estimate() reports a fixed quota (usage + 10 GiB), not the override, so our
    // up-front check passes and the writes themselves run into the quota. Pin estimate() to
    // "plenty" so this stays a test of the write path whatever a later Chromium reports.
    const reported = await page.evaluate(async () => {
      const native = await navigator.storage.estimate();
      navigator.storage.estimate = async () => ({ quota: 1e12, usage: 0 });
      return native.quota;
    });

    const before = served(BUNDLED);
    const got = await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha });
    const firstVisit = served(BUNDLED) - before;
    expect(got.ok).toBe(false);
    if (got.ok) return;
    // Ours or the raw DOMException (see the known bug below): both are named QuotaExceededError.
    expect(got.error.name).toBe('QuotaExceededError');
    const [partial] = await list(page);
    console.log(
      `CDP quota ${quotaSize} bytes (estimate() said ${reported}): ${partial!.chunkDone.filter(Boolean).length} chunks / ${partial!.storedBytes} bytes recorded ` +
        `before IndexedDB refused; ${firstVisit} bytes fetched; thrown: ${got.error.ours.quota ? 'our QuotaExceededError' : 'raw DOMException'} '${got.error.message}'`,
    );
    expect(partial).toMatchObject({ complete: false, verified: false, present: false });
    expect(partial!.storedBytes).toBeLessThan(4 * CHUNK);

    // Quota back to the default: the download resumes with only the missing chunks.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: suite.server.url });
    await page.reload();
    await page.waitForFunction(() => !!window.lowbitStore);
    const ranges = recordRanges(page, BUNDLED);
    const resumeFrom = served(BUNDLED);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha })).toMatchObject({ ok: true });
    expect(served(BUNDLED) - resumeFrom).toBe(SIZE - partial!.storedBytes);
    expect(
      ranges
        .map(rangeStart)
        .sort((a, b) => a - b)
        .map((s) => s / CHUNK),
    ).toEqual(partial!.chunkDone.flatMap((done, i) => (done ? [] : [i])));
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
  });

  /** What the full-disk run below threw, for the known-bug check after it. */
  let fullDiskError: PageError | undefined;
  let fullDiskStored = 0;

  test('a full disk refuses manifest updates too: the download stops, nothing is marked complete, the rest is fetched later', async () => {
    const context = await suite.newContext();
    const patched = await pageRunningOut(context, 3, 'all');
    const got = await download(patched, { path: BUNDLED, chunkSize: CHUNK, concurrency: 1, sha256: bundledSha });
    expect(got.ok).toBe(false);
    if (got.ok) return;
    expect(got.error.name).toBe('QuotaExceededError');
    fullDiskError = got.error;
    await patched.close();
    // Chunk 2's record was written but its manifest update was refused: it counts as missing.
    const page = await openPage(context);
    const [partial] = await list(page);
    expect(partial).toMatchObject({ storedBytes: 2 * CHUNK, complete: false, verified: false, present: false });
    fullDiskStored = partial!.storedBytes;
    const before = served(BUNDLED);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha })).toMatchObject({ ok: true });
    expect(served(BUNDLED) - before).toBe(SIZE - 2 * CHUNK);
    expect(await storedSha(page, BUNDLED_ID)).toBe(bundledSha);
  });

  // KNOWN BUG in src/storage/download.ts (expected to fail until fixed; then make it a plain test):
  // when the manifest update after a chunk is refused for quota, rangedDownload awaits the
  // manifest-save chain before it looks at the workers' failure (already our typed error), so the
  // raw DOMException escapes: empty message in Chromium, no byte count. The real-quota run above
  // hits this whenever Chromium's limit falls between a chunk write and its manifest update.
  test('a refused manifest update still surfaces as our QuotaExceededError naming the bytes still needed', () => {
    expect(fullDiskError).toBeDefined();
    expect(fullDiskError!.ours.quota).toBe(true);
    expect(fullDiskError!.neededBytes).toBe(SIZE - fullDiskStored);
  });
});

interface GpuCheck {
  name: string;
  offset: number;
  length: number;
  sha: string;
  /** Bytes after the tensor in its (4-byte padded) buffer that are not zero. */
  nonZeroPad: number;
  /** Buffers the weight was split into (only the first is read back; these tensors fit in one). */
  parts: number;
}

/** Loads a stored model onto navigator.gpu with loadGpuWeights, then reads every tensor buffer back. */
function storeToGpu(page: Page, id: string): Promise<{ ms: number; bytes: number; adapter: string; checks: GpuCheck[] }> {
  return page.evaluate(async (id) => {
    const s = window.lowbitStore;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    const device = await adapter.requestDevice();
    try {
      const store = new s.IdbModelStore();
      const t0 = performance.now();
      const src = await s.openStoredModel(store, id);
      const weights = await s.loadGpuWeights(device, src);
      await device.queue.onSubmittedWorkDone();
      const ms = performance.now() - t0;
      const gguf = await s.readGGUF(src);
      const checks = [];
      let bytes = 0;
      for (const t of gguf.tensors) {
        const w = weights.get(t.name)!;
        const length = w.rows * w.rowBytes;
        bytes += length;
        const buffer = w.parts[0]!.buffer;
        const read = device.createBuffer({ size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(buffer, 0, read, 0, buffer.size);
        device.queue.submit([enc.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const back = new Uint8Array(read.getMappedRange().slice(0));
        read.destroy();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', back.subarray(0, length)));
        checks.push({
          name: t.name,
          offset: t.absoluteOffset,
          length,
          sha: [...digest].map((b) => b.toString(16).padStart(2, '0')).join(''),
          nonZeroPad: back.subarray(length).filter((b) => b !== 0).length,
          parts: w.parts.length,
        });
      }
      return { ms, bytes, adapter: `${adapter.info.vendor} ${adapter.info.architecture}`, checks };
    } finally {
      device.destroy();
    }
  }, id);
}

function expectGpuMatchesFile(checks: GpuCheck[], file: Uint8Array): void {
  for (const c of checks) {
    expect(c.sha, c.name).toBe(sha256(file.subarray(c.offset, c.offset + c.length)));
    expect(c.nonZeroPad, c.name).toBe(0);
    expect(c.parts, c.name).toBe(1);
  }
}

describe('store → GPU', () => {
  test('loadGpuWeights over openStoredModel puts the file bytes of every tensor into GPU buffers', async () => {
    const context = await suite.newContext();
    const page = await openPage(context);
    expect(await download(page, { path: BUNDLED, chunkSize: CHUNK, sha256: bundledSha })).toMatchObject({ ok: true });
    const gpu = await storeToGpu(page, BUNDLED_ID);
    // Every tensor (Q4_K, Q6_K, F32; several span 256 KiB chunk boundaries) read back equals the file.
    expect(gpu.checks.length).toBeGreaterThan(30);
    expectGpuMatchesFile(gpu.checks, bundledBytes);
    const spanning = gpu.checks.filter((c) => Math.floor(c.offset / CHUNK) !== Math.floor((c.offset + c.length - 1) / CHUNK));
    expect(spanning.length).toBeGreaterThan(0);
    console.log(
      `store → GPU (${gpu.adapter}) in Chromium: ${gpu.checks.length} tensors, ${(gpu.bytes / 1e6).toFixed(2)} MB in ${gpu.ms.toFixed(0)} ms = ${mbps(gpu.bytes, gpu.ms).toFixed(1)} MB/s (IndexedDB read + writeBuffer, 256 KiB chunks)`,
    );
  });

  const F32 = 'trained-here/tinystories-llama-3M-F32.gguf';
  test.skipIf(!sharedFixtures || !existsSync(join(sharedFixtures, 'models', F32)))(
    'throughput on a 13.7 MB model: download into IndexedDB and store → GPU',
    async () => {
      const file = readFileSync(join(sharedFixtures!, 'models', F32));
      const path = `/shared/${F32}`;
      const context = await suite.newContext();
      const page = await openPage(context);
      const got = await download(page, { path, chunkSize: 4 * CHUNK, sha256: sha256(file) });
      expect(got).toMatchObject({ ok: true });
      const gpu = await storeToGpu(page, 'tinystories-llama-3M-F32.gguf');
      expectGpuMatchesFile(gpu.checks, file);
      console.log(
        `13.7 MB F32 model: download ${mbps(file.length, got.ms).toFixed(1)} MB/s (1 MiB chunks, 3 in flight, sha256 verified); ` +
          `store → GPU ${mbps(gpu.bytes, gpu.ms).toFixed(1)} MB/s (${(gpu.bytes / 1e6).toFixed(1)} MB in ${gpu.ms.toFixed(0)} ms)`,
      );
    },
  );
});
