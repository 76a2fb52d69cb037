/**
 * Downloads a model into a ModelStore with HTTP Range requests, chunk by chunk, several chunks in
 * flight, resuming from the last complete chunk after a cut connection, a reload or a restart.
 *
 * - The first request (the "probe") asks for the first missing chunk. A 206 answer gives the size
 *   (Content-Range) and the validators (ETag, Last-Modified); they are compared with the stored
 *   manifest, and a changed file restarts cleanly from nothing. Every later 206 is compared too.
 *   Comparing instead of sending If-Range keeps cross-origin requests free of CORS preflights
 *   (a single-range `Range` header is CORS-safelisted, If-Range is not).
 * - A 200 answer means the server ignores Range: the body is streamed and still written chunk by
 *   chunk (chunks already stored are skipped); a cut connection restarts the stream.
 * - Transient failures (network errors, short bodies, 408/429/5xx) are retried with exponential
 *   backoff; 404 and other client errors raise DownloadError with the status.
 * - Storage running out becomes QuotaExceededError with the bytes still needed; the partial model
 *   stays resumable. Aborting (AbortSignal) keeps every complete chunk.
 * - After the last chunk, the integrity pass (verify.ts) makes the model present.
 */
import { DownloadError, IntegrityError, LowbitError } from '../errors.ts';
import { crc32 } from './crc32.ts';
import { ProgressTracker, type ProgressCallback } from '../io/progress.ts';
import { ensureSpace, isQuotaError, quotaError } from './quota.ts';
import { normalizeSha256 } from './sha256.ts';
import {
  checkModelName,
  chunkCount,
  chunkLength,
  completeBytes,
  DEFAULT_CHUNK_SIZE,
  defaultModelName,
  isComplete,
  isPresent,
  newManifest,
  type ModelManifest,
  type ModelStore,
} from './store.ts';
import { verifyAndMark } from './verify.ts';

export interface DownloadOptions {
  url: string;
  store: ModelStore;
  /** Store name; default: the URL's file name. */
  name?: string;
  /** Expected sha256 (hex) of the whole file. */
  sha256?: string;
  /** Bytes per chunk for a new download (default 16 MiB). A resumed one keeps its own. */
  chunkSize?: number;
  /** Chunks in flight (default 3). */
  concurrency?: number;
  /** Attempts per chunk after the first before giving up (default 5). */
  maxRetries?: number;
  /** First backoff delay; doubles per attempt, capped at 15 s (default 500 ms). */
  retryBaseMs?: number;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Record a CRC-32 per chunk to detect corruption at rest (default true). */
  chunkChecksums?: boolean;
  /** Largest file accepted (default 1 TiB): a hostile or broken server cannot make us plan more. */
  maxBytes?: number;
  /** Injected fetch (tests, custom auth); default globalThis.fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  progressIntervalMs?: number;
}

/** A failure worth retrying. */
class TransientError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The file on the server is not the one the stored chunks came from: start over. */
class FileChangedError extends Error {}

interface Validators {
  etag?: string;
  lastModified?: string;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
/** 1 TiB in the default 16 MiB chunks is 65,536; this leaves room for small chunks. */
const MAX_CHUNKS = 1 << 22;

export async function downloadModel(options: DownloadOptions): Promise<ModelManifest> {
  const { store, url } = options;
  const name = checkModelName(options.name ?? defaultModelName(url));
  const expectedSha = options.sha256 === undefined ? undefined : normalizeSha256(options.sha256);
  if (options.sha256 !== undefined && !expectedSha) {
    throw new IntegrityError(`--sha256 '${options.sha256}' is not 64 hexadecimal digits`);
  }
  const job = new DownloadJob(options, name, expectedSha);
  const release = await options.store.lock?.(name);
  try {
    return await job.run();
  } finally {
    await release?.();
  }
}

class DownloadJob {
  private readonly fetchFn: typeof fetch;
  private readonly chunkSize: number;
  private readonly concurrency: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly checksums: boolean;
  private manifest!: ModelManifest;
  private tracker!: ProgressTracker;
  /** Bytes received for chunks not yet committed, by chunk index. */
  private readonly inflight = new Map<number, number>();
  private manifestSaves: Promise<void> = Promise.resolve();
  private streaming = false;

  constructor(
    private readonly options: DownloadOptions,
    private readonly name: string,
    private readonly expectedSha: string | undefined,
  ) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 4096 || this.chunkSize % 4096 !== 0) {
      throw new RangeError(`chunkSize ${this.chunkSize} must be a positive multiple of 4096`);
    }
    this.concurrency = Math.max(1, Math.min(16, options.concurrency ?? 3));
    this.maxRetries = Math.max(0, options.maxRetries ?? 5);
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.checksums = options.chunkChecksums ?? true;
  }

  async run(): Promise<ModelManifest> {
    const { store, url, signal } = this.options;
    let changes = 0;
    for (let round = 0; ; round++) {
      signal?.throwIfAborted();
      let m = await store.getManifest(this.name);
      if (m && (m.origin.kind !== 'url' || m.origin.url !== url)) {
        const from = m.origin.kind === 'url' ? m.origin.url : `file ${m.origin.fileName}`;
        throw new DownloadError(`a model named '${this.name}' is already stored (from ${from}); choose another name or delete it first`);
      }
      if (m && this.expectedSha && m.sha256 !== this.expectedSha) {
        m.sha256 = this.expectedSha;
        m.verified = false;
        await store.putManifest(m);
      }
      if (m && isPresent(m)) {
        this.options.onProgress?.({ phase: 'download', name: this.name, bytesDone: m.size, bytesTotal: m.size, bytesPerSecond: 0, etaSeconds: 0 });
        return m;
      }
      if (!m || !isComplete(m)) {
        try {
          m = await this.fetchMissing(m);
        } catch (e) {
          if (!(e instanceof FileChangedError)) throw e;
          if (++changes > 3) throw new DownloadError(`${url} keeps changing while it downloads (ETag/Last-Modified differ on every try)`);
          // Chunks of another version of the file are worthless: start over cleanly.
          const stale = await store.getManifest(this.name);
          if (stale) await store.deleteModel(stale.id);
          continue;
        }
      }
      const bad = await verifyAndMark(store, m, {
        signal,
        onProgress: this.options.onProgress,
        progressIntervalMs: this.options.progressIntervalMs,
      });
      if (bad.length === 0) return m;
      if (round >= 3) throw new IntegrityError(`${this.name}: chunks ${bad.join(', ')} still fail their checks after fetching them again`);
    }
  }

  // ---- fetching -------------------------------------------------------------------------------

  /** Fetches every missing chunk of `existing` (or of a new manifest). */
  private async fetchMissing(existing: ModelManifest | undefined): Promise<ModelManifest> {
    const chunkSize = existing?.chunkSize ?? this.chunkSize;
    const first = existing ? existing.chunkDone.indexOf(false) : 0;
    const start = Math.max(0, first) * chunkSize;
    let probe: Response;
    try {
      probe = await this.withRetries(`bytes ${start}-`, (signal) => this.request(signal, start, start + chunkSize - 1));
    } catch (e) {
      if (e instanceof FileChangedError && start === 0) {
        throw new DownloadError(`${this.options.url}: the server refuses the range bytes=0- (416): the file is empty`, 416);
      }
      throw e;
    }
    try {
      if (probe.status === 206) return await this.rangedDownload(existing, probe, first, chunkSize);
      return await this.streamedDownload(existing, probe, chunkSize);
    } finally {
      // A body we did not consume must not keep the connection busy.
      probe.body?.cancel().catch(() => {});
    }
  }

  private async rangedDownload(existing: ModelManifest | undefined, probe: Response, first: number, chunkSize: number): Promise<ModelManifest> {
    const range = parseContentRange(probe.headers.get('content-range'));
    if (!range || range.total === undefined) {
      const header = probe.headers.get('content-range');
      // Cross-origin, a header the server does not expose reads as null.
      const why = header === null ? 'no Content-Range header the page can read: the server must expose Content-Range, Content-Length, ETag (CORS Access-Control-Expose-Headers); see README' : `a Content-Range it cannot use (${header})`;
      throw new DownloadError(`${this.options.url}: 206 answer with ${why}`, 206);
    }
    const validators = readValidators(probe);
    const m = await this.adopt(existing, range.total, validators, chunkSize);
    this.tracker = new ProgressTracker('download', this.name, m.size, this.options.onProgress, this.options.progressIntervalMs);
    this.tracker.update(completeBytes(m), true);
    await this.checkSpace(m);

    const pending: number[] = [];
    for (let i = 0; i < m.chunkDone.length; i++) if (!m.chunkDone[i]) pending.push(i);
    // The probe's bytes serve for its chunk when the manifest survived (same file, same chunking).
    const probeChunk =
      m.chunkSize === chunkSize && first >= 0 && first < m.chunkDone.length && range.start === first * chunkSize && !m.chunkDone[first] ? first : -1;
    if (probeChunk < 0) probe.body?.cancel().catch(() => {});

    const jobs = new AbortController();
    const onAbort = () => jobs.abort(this.options.signal?.reason);
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    let failure: unknown;
    const fail = (e: unknown) => {
      failure ??= e;
      jobs.abort(e);
    };
    let next = 0;
    const worker = async (useProbe: boolean) => {
      try {
        if (useProbe) await this.receiveChunk(m, probeChunk, probe, jobs.signal).catch(async (e) => {
          if (!(e instanceof TransientError)) throw e;
          await this.fetchChunk(m, probeChunk, jobs.signal); // the probe's body was cut: fetch again
        });
        while (next < pending.length && !jobs.signal.aborted) {
          const i = pending[next++]!;
          if (i !== probeChunk) await this.fetchChunk(m, i, jobs.signal);
        }
      } catch (e) {
        fail(e);
      }
    };
    const workers = Array.from({ length: this.concurrency }, (_, w) => worker(w === 0 && probeChunk >= 0));
    await Promise.all(workers);
    this.options.signal?.removeEventListener('abort', onAbort);
    // A refused manifest save (quota) is a failure like a refused chunk: record it, typed, rather
    // than letting the raw DOMException escape ahead of the chunk workers' typed error.
    await this.manifestSaves.catch(async (e) => {
      if (isQuotaError(e)) {
        const space = await this.options.store.space().catch(() => ({ availableBytes: undefined }));
        // What is still needed is what the stored manifest lacks: chunks whose manifest update
        // was refused will be fetched again.
        const saved = await this.options.store.getManifest(m.id).catch(() => undefined);
        e = quotaError(this.name, m.size - completeBytes(saved ?? m), space.availableBytes, this.options.store.location, e);
      }
      failure = e;
    });
    if (failure !== undefined) throw this.options.signal?.aborted ? this.options.signal.reason : failure;
    this.tracker.update(completeBytes(m), true);
    return m;
  }

  /** One chunk by Range request, with retries. */
  private async fetchChunk(m: ModelManifest, i: number, signal: AbortSignal): Promise<void> {
    const start = i * m.chunkSize;
    const end = start + chunkLength(m, i) - 1;
    await this.withRetries(`chunk ${i} (bytes ${start}-${end})`, async (sig) => {
      const res = await this.request(sig, start, end);
      if (res.status !== 206) {
        res.body?.cancel().catch(() => {});
        // The server stopped honouring Range, or serves another file: start over with a new probe.
        throw new FileChangedError(`${this.options.url} answered ${res.status} to a Range request`);
      }
      await this.receiveChunk(m, i, res, sig);
    }, signal);
  }

  /** Reads a 206 body for chunk `i`, checks it, stores it and marks it done. */
  private async receiveChunk(m: ModelManifest, i: number, res: Response, signal: AbortSignal): Promise<void> {
    const want = chunkLength(m, i);
    const start = i * m.chunkSize;
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== start || range.end !== start + want - 1) {
      res.body?.cancel().catch(() => {});
      throw new TransientError(`${this.options.url}: asked for bytes ${start}-${start + want - 1}, got '${res.headers.get('content-range')}'`);
    }
    if (range.total !== m.size || changed(m, readValidators(res))) {
      res.body?.cancel().catch(() => {});
      throw new FileChangedError(`${this.options.url} changed on the server`);
    }
    const bytes = new Uint8Array(want);
    try {
      await readBodyInto(res, bytes, (n) => {
        this.inflight.set(i, n);
        this.reportProgress(m);
      }, signal);
      await this.commit(m, i, bytes);
    } finally {
      this.inflight.delete(i); // a failed attempt's bytes no longer count
    }
  }

  /** The server ignores Range (200): stream the whole body, storing it chunk by chunk. */
  private async streamedDownload(existing: ModelManifest | undefined, first: Response, chunkSize: number): Promise<ModelManifest> {
    let res: Response | undefined = first;
    this.streaming = true;
    this.tracker = new ProgressTracker('download', this.name, 0, this.options.onProgress, this.options.progressIntervalMs);
    for (let attempt = 0; ; attempt++) {
      const r = res ?? (await this.withRetries('whole file', (sig) => this.request(sig)));
      res = undefined;
      if (r.status !== 200) {
        r.body?.cancel().catch(() => {});
        throw new TransientError(`${this.options.url} answered ${r.status} to a plain GET`, r.status);
      }
      const encoded = (r.headers.get('content-encoding') ?? 'identity') !== 'identity';
      const lengthHeader = Number(r.headers.get('content-length'));
      const size = !encoded && Number.isSafeInteger(lengthHeader) && lengthHeader > 0 ? lengthHeader : undefined;
      const m = await this.adopt(existing, size ?? existing?.size ?? 0, readValidators(r), chunkSize, size === undefined);
      existing = m;
      this.tracker.bytesTotal = size ?? 0;
      if (size !== undefined) await this.checkSpace(m);
      try {
        await this.streamInto(m, r, size);
        await this.manifestSaves;
        return m;
      } catch (e) {
        r.body?.cancel().catch(() => {});
        await this.manifestSaves;
        if (!(e instanceof TransientError) || attempt >= this.maxRetries) throw this.final(e, 'whole file', attempt);
        this.reportRetry(attempt);
        await sleep(this.backoff(attempt, e), this.options.signal);
      }
    }
  }

  private async streamInto(m: ModelManifest, res: Response, size: number | undefined): Promise<void> {
    if (!res.body) throw new TransientError(`${this.options.url}: empty body`);
    const reader = res.body.getReader();
    const cs = m.chunkSize;
    let buffer = new Uint8Array(cs);
    let fill = 0;
    let index = 0;
    let position = 0;
    const flush = async () => {
      if (fill === 0) return;
      if (size === undefined) {
        // Unknown length: grow the manifest as chunks arrive.
        m.size = index * cs + fill;
        this.checkSize(m.size, cs);
        while (m.chunkDone.length <= index) {
          m.chunkDone.push(false);
          m.chunkCrc32.push(null);
        }
      }
      if (!m.chunkDone[index]) await this.commit(m, index, buffer.subarray(0, fill));
      index++;
      fill = 0;
      buffer = new Uint8Array(cs);
    };
    try {
      for (;;) {
        const { done, value } = await raceAbort(reader.read(), this.options.signal);
        if (done) break;
        let off = 0;
        while (off < value.length) {
          if (size !== undefined && position + (value.length - off) > size) {
            throw new TransientError(`${this.options.url}: body longer than its Content-Length ${size}`);
          }
          const take = Math.min(cs - fill, value.length - off);
          buffer.set(value.subarray(off, off + take), fill);
          fill += take;
          off += take;
          position += take;
          if (fill === cs) await flush();
        }
        this.tracker.update(position);
      }
    } catch (e) {
      throw asTransient(e, this.options.signal);
    } finally {
      reader.releaseLock();
    }
    if (size !== undefined && position !== size) {
      throw new TransientError(`${this.options.url}: body ended after ${position} of ${size} bytes`);
    }
    await flush();
    if (size === undefined) {
      m.size = position;
      m.chunkDone.length = m.chunkCrc32.length = chunkCount(position, cs);
      this.queueSave(m);
    }
    this.tracker.bytesTotal = m.size;
    this.tracker.update(position, true);
  }

  // ---- manifest bookkeeping -------------------------------------------------------------------

  /** The manifest to fill: the stored one when the file is unchanged, else a fresh one. */
  private async adopt(existing: ModelManifest | undefined, size: number, v: Validators, chunkSize: number, sizeUnknown = false): Promise<ModelManifest> {
    const { store } = this.options;
    this.checkSize(size, chunkSize);
    if (existing && !changed(existing, v) && (sizeUnknown || existing.size === size)) {
      this.manifest = existing;
      return existing;
    }
    if (existing) await store.clearChunks(existing);
    const m = newManifest(this.name, { kind: 'url', url: this.options.url }, size, chunkSize, v, this.expectedSha, Date.now());
    if (existing) m.created = existing.created;
    await store.putManifest(m);
    this.manifest = m;
    return m;
  }

  /** Bounds the bookkeeping a server's claimed size can cause (the manifest has a flag per chunk). */
  private checkSize(size: number, chunkSize: number): void {
    const max = this.options.maxBytes ?? 2 ** 40;
    if (size > max) throw new DownloadError(`${this.options.url} is ${size} bytes, more than the ${max}-byte limit`);
    if (size / chunkSize > MAX_CHUNKS) {
      throw new DownloadError(`${this.options.url}: ${size} bytes in ${chunkSize}-byte chunks is more than ${MAX_CHUNKS} chunks; use a larger chunk size`);
    }
  }

  private async checkSpace(m: ModelManifest): Promise<void> {
    await ensureSpace(this.options.store, this.name, m.size - completeBytes(m));
    await this.options.store.persist?.();
  }

  private async commit(m: ModelManifest, i: number, bytes: Uint8Array): Promise<void> {
    const want = chunkLength(m, i);
    if (bytes.length !== want) throw new TransientError(`chunk ${i}: ${bytes.length} bytes, expected ${want}`);
    try {
      await this.options.store.writeChunk(m, i, bytes);
    } catch (e) {
      if (isQuotaError(e)) {
        const space = await this.options.store.space().catch(() => ({ availableBytes: undefined }));
        throw quotaError(this.name, m.size - completeBytes(m), space.availableBytes, this.options.store.location, e);
      }
      throw e;
    }
    m.chunkCrc32[i] = this.checksums ? crc32(bytes) : null;
    m.chunkDone[i] = true;
    this.inflight.delete(i); // now counted as complete
    this.queueSave(m);
    // The streamed path reports its stream position instead (stored chunks are streamed past again).
    if (!this.streaming) this.reportProgress(m);
  }

  /** Manifest writes in order, one at a time; each writes the latest state. */
  private queueSave(m: ModelManifest): void {
    this.manifestSaves = this.manifestSaves.then(() => this.options.store.putManifest(m));
  }

  private reportProgress(m: ModelManifest): void {
    let n = completeBytes(m);
    for (const b of this.inflight.values()) n += b;
    this.tracker.update(n);
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async request(signal: AbortSignal, start?: number, end?: number): Promise<Response> {
    const headers: Record<string, string> = { ...this.options.headers };
    // Browsers ignore Accept-Encoding from scripts; Node's fetch would otherwise negotiate gzip,
    // and a compressed body's length is not the file's.
    if (typeof window === 'undefined') headers['accept-encoding'] = 'identity';
    if (start !== undefined) headers.range = `bytes=${start}-${end ?? ''}`;
    let res: Response;
    try {
      res = await this.fetchFn(this.options.url, { headers, signal, cache: 'no-store' });
    } catch (e) {
      throw asTransient(e, signal);
    }
    if (res.status === 200 || res.status === 206) return res;
    res.body?.cancel().catch(() => {});
    if (RETRYABLE_STATUS.has(res.status)) {
      throw new TransientError(`${this.options.url}: HTTP ${res.status}`, res.status, retryAfterMs(res));
    }
    if (res.status === 416) {
      // The range starts past the end: the file shrank since the stored chunks were fetched.
      throw new FileChangedError(`${this.options.url}: range not satisfiable`);
    }
    const hint = res.status === 404 ? ' (no such file)' : res.status === 401 || res.status === 403 ? ' (access denied: the model may be gated)' : '';
    throw new DownloadError(`${this.options.url}: HTTP ${res.status} ${res.statusText}${hint}`, res.status);
  }

  private async withRetries<T>(what: string, op: (signal: AbortSignal) => Promise<T>, signal = this.options.signal ?? new AbortController().signal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      try {
        return await op(signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (!(e instanceof TransientError) || attempt >= this.maxRetries) throw this.final(e, what, attempt);
        this.reportRetry(attempt);
        await sleep(this.backoff(attempt, e), signal);
      }
    }
  }

  /** Tells the progress listener that attempt `attempt` failed and another comes ("retrying (2/6)…"). */
  private reportRetry(attempt: number): void {
    const retry = { attempt: attempt + 2, of: this.maxRetries + 1 };
    if (this.tracker) this.tracker.retrying(retry);
    else this.options.onProgress?.({ phase: 'download', name: this.name, bytesDone: 0, bytesTotal: 0, bytesPerSecond: 0, retry });
  }

  private final(e: unknown, what: string, attempt: number): unknown {
    if (!(e instanceof TransientError)) return e;
    return new DownloadError(`${this.options.url}: ${what} failed after ${attempt + 1} attempts: ${e.message}`, e.status);
  }

  private backoff(attempt: number, e: TransientError): number {
    if (e.retryAfterMs !== undefined) return Math.min(e.retryAfterMs, 30_000);
    const base = Math.min(15_000, this.retryBaseMs * 2 ** attempt);
    return base * (0.75 + Math.random() * 0.5);
  }
}

// ---- helpers ----------------------------------------------------------------------------------

function readValidators(res: Response): Validators {
  return { etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
}

/** True when the response's validators say it is another file than the manifest's. */
function changed(m: ModelManifest, v: Validators): boolean {
  if (m.etag && v.etag) return m.etag !== v.etag;
  if (m.lastModified && v.lastModified) return m.lastModified !== v.lastModified;
  return false;
}

export function parseContentRange(header: string | null): { start: number; end: number; total?: number } | undefined {
  const match = header && /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/** Fills `into` from the body exactly; short or long bodies are transient errors. */
async function readBodyInto(res: Response, into: Uint8Array, onBytes: (n: number) => void, signal: AbortSignal): Promise<void> {
  if (!res.body) throw new TransientError('empty body');
  const reader = res.body.getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await raceAbort(reader.read(), signal);
      if (done) break;
      if (n + value.length > into.length) throw new TransientError(`body longer than the ${into.length} bytes asked for`);
      into.set(value, n);
      n += value.length;
      onBytes(n);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw asTransient(e, signal);
  } finally {
    reader.releaseLock();
  }
  if (n !== into.length) throw new TransientError(`connection closed after ${n} of ${into.length} bytes`);
}

/** Network-level failures (TypeError from fetch, socket resets) become TransientError. */
function asTransient(e: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (e instanceof TransientError || e instanceof FileChangedError || e instanceof LowbitError) return e;
  if (e instanceof Error && e.name === 'AbortError') return e;
  const msg = e instanceof Error ? `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}` : String(e);
  return new TransientError(msg);
}

function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  p.catch(() => {}); // a rejection after we stopped waiting (abort) is not unhandled
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
