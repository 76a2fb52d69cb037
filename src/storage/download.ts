/**
 * Downloads a model into a ModelStore with HTTP Range requests, chunk by chunk, several chunks in
 * flight, resuming where it stopped after a cut connection, a reload or a restart.
 *
 * - The first request (the "probe") asks for the first missing chunk. A 206 answer gives the size
 *   (Content-Range) and the validators (ETag, Last-Modified); they are compared with the stored
 *   manifest, and a changed file restarts cleanly from nothing. Every later 206 is compared too;
 *   a validator the manifest recorded that is missing from an answer counts as a change. A 200
 *   to a later Range request (a CDN cache miss) is no proof of a change: a new probe goes on,
 *   keeping what is stored.
 *   Comparing instead of sending If-Range keeps cross-origin requests free of CORS preflights
 *   (a single-range `Range` header is CORS-safelisted, If-Range is not).
 * - A chunk is stored in parts of at most 1 MiB as it arrives, each recorded in the manifest
 *   (partialChunks, with the CRC-32 of the stored prefix): a cut keeps what arrived, a crash loses
 *   at most one part, and a resume checks the stored prefix before asking for the rest.
 * - A 200 answer means the server ignores Range: the body is streamed and still written chunk by
 *   chunk (stored chunks are compared with the re-sent bytes); a cut connection restarts the
 *   stream. Without a stated length the body must be a GGUF: its own header bounds it and tells
 *   whether it is complete; maxBytes caps it and free space is checked as it grows.
 * - Transient failures (network errors, timeouts, short bodies, 408/429/5xx) are retried with
 *   exponential backoff; an attempt that stored a good share of a chunk does not use up a retry.
 *   404 and other client errors, and redirects that cannot be followed, raise DownloadError.
 * - Storage running out becomes QuotaExceededError with the bytes still needed; the partial model
 *   stays resumable. Aborting (AbortSignal) keeps everything stored.
 * - After the last chunk, the integrity pass (verify.ts) makes the model present.
 * HTTP requests, retries, backoff and timeouts live in http.ts.
 */
import { DownloadError, GGUFFormatError, IntegrityError, InvalidModelUrlError, UnsupportedTensorTypeError } from '../errors.ts';
import { readGGUF } from '../gguf/reader.ts';
import { crc32 } from './crc32.ts';
import {
  asTransient,
  BodyPace,
  DEFAULT_IDLE_TIMEOUT_MS,
  backoffMs,
  FileChangedError,
  finalError,
  parseContentRange,
  RangeIgnoredError,
  readPiece,
  readValidators,
  request,
  sleep,
  TransientError,
  withRetries,
  type HttpTarget,
  type RetryPolicy,
  type Validators,
} from './http.ts';
import { ggufExtent, StreamPrefixSource, type GgufExtent } from './gguf-extent.ts';
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
  storedBytes,
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
  /**
   * Largest file accepted: a hostile or broken server cannot make us plan or store more. Default
   * 1 TiB when the server states the size; 64 GiB when it does not (a 200 without Content-Length).
   */
  maxBytes?: number;
  /**
   * Longest wait for an answer's headers, and then for each piece of its body, and for each 64 KiB
   * of it (default 60 s): a server that never answers, stalls or drips mid-body counts as a
   * transient failure and is retried.
   */
  idleTimeoutMs?: number;
  /** Injected fetch (tests, custom auth); default globalThis.fetch. */
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  progressIntervalMs?: number;
}

/** Largest part of a chunk stored at once: what a cut or a crash can lose. */
const PART_BYTES = 1 << 20;
/** Bytes an attempt must store to count as progress rather than as a failed try. */
const PROGRESS_BYTES = 64 * 1024;
/** Largest download whose size the server does not state, unless maxBytes says otherwise. */
const DEFAULT_MAX_UNKNOWN_SIZE_BYTES = 64 * 2 ** 30;
/** 1 TiB in the default 16 MiB chunks is 65,536; this leaves room for small chunks. */
const MAX_CHUNKS = 1 << 22;

export { parseContentRange };

/**
 * Refuses a URL that is not http(s) before any request: whoever hands the engine a model URL
 * (a page, a CLI argument, a stored manifest) must not make it read `file:`, `data:` or `blob:`
 * contents into the store. Relative URLs resolve against the page or worker, as fetch would.
 */
function checkDownloadUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url, globalThis.location?.href);
  } catch {
    throw new InvalidModelUrlError(`${JSON.stringify(url.slice(0, 200))} is not a URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new InvalidModelUrlError(`models download over http(s) only, not ${parsed.protocol.slice(0, 20)}`);
  }
  if (parsed.username || parsed.password) throw new InvalidModelUrlError('a model URL must not carry a user name or password');
}

export async function downloadModel(options: DownloadOptions): Promise<ModelManifest> {
  const { url } = options;
  checkDownloadUrl(url);
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
  private readonly http: HttpTarget;
  private readonly retry: RetryPolicy;
  private readonly checksums: boolean;
  private manifest!: ModelManifest;
  private tracker!: ProgressTracker;
  /** Bytes received for chunks not yet committed, by chunk index. */
  private readonly inflight = new Map<number, number>();
  private manifestSaves: Promise<void> = Promise.resolve();
  private savePending = false;
  private streaming = false;
  /** The body turned out not to be a GGUF model: its stored bytes are worthless. */
  private notGguf = false;

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
    this.http = {
      url: options.url,
      fetch: this.fetchFn,
      headers: options.headers,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    };
    this.retry = {
      url: options.url,
      maxRetries: Math.max(0, options.maxRetries ?? 5),
      retryBaseMs: options.retryBaseMs ?? 500,
      onRetry: (attempt) => this.reportRetry(attempt),
    };
    this.checksums = options.chunkChecksums ?? true;
  }

  async run(): Promise<ModelManifest> {
    const { store, url, signal } = this.options;
    let changes = 0;
    let rangeIgnored = 0;
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
        this.options.onProgress?.({
          phase: 'download',
          name: this.name,
          bytesDone: m.size,
          bytesTotal: m.size,
          bytesPerSecond: 0,
          etaSeconds: 0,
        });
        return m;
      }
      if (!m || !isComplete(m)) {
        try {
          m = await this.fetchMissing(m);
        } catch (e) {
          if (e instanceof RangeIgnoredError) {
            if (++rangeIgnored > 3) throw new DownloadError(`${url} keeps answering Range requests with the whole file`);
            round--; // no integrity round was spent
            continue;
          }
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
    if (existing) await this.checkPartials(existing);
    if (existing && !existing.sizeUnknown) {
      // A resumed download's first report says what is stored already, before the first answer
      // (which retries may hold up): it does not start over from 0 % and then jump.
      this.tracker = new ProgressTracker('download', this.name, existing.size, this.options.onProgress, this.options.progressIntervalMs);
      this.tracker.update(storedBytes(existing), true);
    }
    const first = existing ? existing.chunkDone.indexOf(false) : 0;
    const chunkStart = Math.max(0, first) * chunkSize;
    const start = chunkStart + (existing && first >= 0 ? storedPrefix(existing, first) : 0);
    let probe: Response;
    try {
      probe = await this.withRetries(`bytes ${start}-`, (signal) => this.request(signal, start, chunkStart + chunkSize - 1));
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

  private async rangedDownload(
    existing: ModelManifest | undefined,
    probe: Response,
    first: number,
    chunkSize: number,
  ): Promise<ModelManifest> {
    const range = parseContentRange(probe.headers.get('content-range'));
    if (!range || range.total === undefined) {
      const header = probe.headers.get('content-range');
      // Cross-origin, a header the server does not expose reads as null.
      const why =
        header === null
          ? 'no Content-Range header the page can read: the server must expose Content-Range, Content-Length, ETag (CORS Access-Control-Expose-Headers); see README'
          : `a Content-Range it cannot use (${header})`;
      throw new DownloadError(`${this.options.url}: 206 answer with ${why}`, 206);
    }
    const validators = readValidators(probe);
    const m = await this.adopt(existing, range.total, validators, chunkSize);
    this.tracker = new ProgressTracker('download', this.name, m.size, this.options.onProgress, this.options.progressIntervalMs);
    this.tracker.update(storedBytes(m), true);
    await this.checkSpace(m);

    const pending: number[] = [];
    for (let i = 0; i < m.chunkDone.length; i++) if (!m.chunkDone[i]) pending.push(i);
    // The probe's bytes serve for its chunk when the manifest survived (same file, same chunking).
    const probeChunk =
      m.chunkSize === chunkSize &&
      first >= 0 &&
      first < m.chunkDone.length &&
      !m.chunkDone[first] &&
      range.start === first * chunkSize + storedPrefix(m, first)
        ? first
        : -1;
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
        if (useProbe)
          await this.receiveChunk(m, probeChunk, probe, jobs.signal).catch(async (e) => {
            // The probe's body was its chunk's first attempt: with no retries allowed, that is all.
            if (!(e instanceof TransientError) || this.retry.maxRetries === 0) throw this.final(e, `chunk ${probeChunk}`, 0);
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

  /** One chunk (what of it is not stored yet) by Range request, with retries. */
  private async fetchChunk(m: ModelManifest, i: number, signal: AbortSignal): Promise<void> {
    const chunkStart = i * m.chunkSize;
    const end = chunkStart + chunkLength(m, i) - 1;
    await this.withRetries(
      `chunk ${i} (bytes ${chunkStart}-${end})`,
      async (sig) => {
        const res = await this.request(sig, chunkStart + storedPrefix(m, i), end);
        if (res.status !== 206) {
          res.body?.cancel().catch(() => {});
          // The server stopped honouring Range: a new probe decides how to go on, keeping the
          // stored chunks unless the answer proves another file.
          if (changed(m, readValidators(res))) throw new FileChangedError(`${this.options.url} changed on the server`);
          throw new RangeIgnoredError(`${this.options.url} answered ${res.status} to a Range request`);
        }
        await this.receiveChunk(m, i, res, sig);
      },
      signal,
    );
  }

  /**
   * Reads a 206 body for the rest of chunk `i`, storing it in parts of at most 1 MiB as it arrives
   * and recording each in the manifest (partialChunks), so a cut or a crash loses at most the part
   * in flight. The CRC-32 runs on over the parts; the complete chunk is marked done.
   */
  private async receiveChunk(m: ModelManifest, i: number, res: Response, signal: AbortSignal): Promise<void> {
    const want = chunkLength(m, i);
    const chunkStart = i * m.chunkSize;
    const have = storedPrefix(m, i);
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== chunkStart + have || range.end !== chunkStart + want - 1) {
      res.body?.cancel().catch(() => {});
      throw new TransientError(
        `${this.options.url}: asked for bytes ${chunkStart + have}-${chunkStart + want - 1}, got '${res.headers.get('content-range')}'`,
      );
    }
    if (range.total !== m.size || changed(m, readValidators(res))) {
      res.body?.cancel().catch(() => {});
      throw new FileChangedError(`${this.options.url} changed on the server`);
    }
    if (!res.body) throw new TransientError(`${this.options.url}: empty body`);
    const reader = res.body.getReader();
    let stored = have;
    let crc = m.partialChunks?.[i]?.crc32 ?? 0;
    let part = new Uint8Array(Math.min(PART_BYTES, want - stored));
    let fill = 0;
    const pace = new BodyPace();
    const storePart = async () => {
      if (fill === 0) return;
      const bytes = part.subarray(0, fill);
      await this.write(m, i, bytes, stored);
      crc = crc32(bytes, crc);
      stored += fill;
      fill = 0;
      if (stored < want) {
        (m.partialChunks ??= {})[i] = { bytes: stored, crc32: this.checksums ? crc : null };
        this.queueSave(m);
        part = new Uint8Array(Math.min(PART_BYTES, want - stored));
      }
    };
    // Bytes that arrived before a network failure are worth keeping; a protocol violation's are not.
    let keep = true;
    try {
      for (;;) {
        const { done, value } = await readPiece(reader, signal, this.http.idleTimeoutMs, pace);
        if (done) break;
        if (stored + fill + value.length > want) {
          keep = false;
          throw new TransientError(`body longer than the ${want - have} bytes asked for`);
        }
        for (let off = 0; off < value.length;) {
          const take = Math.min(part.length - fill, value.length - off);
          part.set(value.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === part.length) await storePart();
        }
        this.inflight.set(i, stored + fill);
        this.reportProgress(m);
      }
      if (stored + fill !== want) throw new TransientError(`connection closed after ${stored + fill - have} of ${want - have} bytes`);
    } catch (e) {
      reader.cancel().catch(() => {});
      if (keep && !isQuotaError(e)) await storePart().catch(() => {});
      const err = asTransient(e, signal);
      // Progress is not failure: an attempt that stored a good share of the chunk does not use up a retry.
      if (err instanceof TransientError && stored - have >= Math.min(PROGRESS_BYTES, want - have)) err.madeProgress = true;
      throw err;
    } finally {
      reader.releaseLock();
      this.inflight.delete(i); // a failed attempt's unstored bytes no longer count
    }
    if (m.partialChunks) delete m.partialChunks[i];
    this.markDone(m, i, this.checksums ? crc : null);
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
      else await this.options.store.persist?.(); // space is checked as the body grows
      try {
        await this.streamInto(m, r, size);
        await this.manifestSaves;
        return m;
      } catch (e) {
        r.body?.cancel().catch(() => {});
        await this.manifestSaves;
        if (this.notGguf) await this.options.store.deleteModel(m.id); // its bytes can never become a model
        if (!(e instanceof TransientError) || attempt >= this.retry.maxRetries) throw this.final(e, 'whole file', attempt);
        this.retry.onRetry?.(attempt);
        await sleep(this.backoff(attempt, e), this.options.signal);
      }
    }
  }

  private async streamInto(m: ModelManifest, res: Response, size: number | undefined): Promise<void> {
    if (!res.body) throw new TransientError(`${this.options.url}: empty body`);
    const reader = res.body.getReader();
    const cs = m.chunkSize;
    const unknown = size === undefined;
    // Without a stated length nothing else bounds the body: the GGUF header's extent once it has
    // arrived, else the limit for downloads of unknown size.
    const cap = this.options.maxBytes ?? DEFAULT_MAX_UNKNOWN_SIZE_BYTES;
    let extent: GgufExtent | undefined;
    let nextHeaderTry = 0;
    let buffer = new Uint8Array(cs);
    let fill = 0;
    let index = 0;
    let position = 0;
    const pace = new BodyPace();
    const flush = async () => {
      if (fill === 0) return;
      if (unknown) {
        // Unknown length: grow the manifest as chunks arrive.
        m.size = index * cs + fill;
        this.checkSize(m.size, cs);
        while (m.chunkDone.length <= index) {
          m.chunkDone.push(false);
          m.chunkCrc32.push(null);
        }
      }
      if (!m.chunkDone[index]) {
        await this.commit(m, index, buffer.subarray(0, fill));
      } else if (m.chunkCrc32[index] != null && crc32(buffer.subarray(0, fill)) !== m.chunkCrc32[index]) {
        // The whole file is sent again anyway: a stored chunk that differs proves another version.
        throw new FileChangedError(`${this.options.url} changed on the server (chunk ${index} differs from the stored one)`);
      }
      index++;
      fill = 0;
      buffer = new Uint8Array(cs);
    };
    try {
      for (;;) {
        const { done, value } = await readPiece(reader, this.options.signal, this.http.idleTimeoutMs, pace);
        if (done) break;
        if (size !== undefined && position + value.length > size) {
          throw new TransientError(`${this.options.url}: body longer than its Content-Length ${size}`);
        }
        if (unknown && position + value.length > (extent?.paddedEnd ?? cap)) {
          if (extent) throw this.beyondHeader(extent);
          throw new DownloadError(
            `${this.options.url}: more than ${cap} bytes without a stated length (the limit for such downloads; raise maxBytes / --max-bytes if the model is larger)`,
          );
        }
        for (let off = 0; off < value.length;) {
          const take = Math.min(cs - fill, value.length - off);
          buffer.set(value.subarray(off, off + take), fill);
          fill += take;
          off += take;
          position += take;
          if (fill === cs) {
            await flush();
            if (unknown && !extent && position >= nextHeaderTry) {
              extent = await this.headerExtent(m, position, new Uint8Array(0), false);
              nextHeaderTry = 2 * position; // a header that needs more bytes is tried again at double
              if (extent && position > extent.paddedEnd) throw this.beyondHeader(extent);
              if (extent) this.checkExtentCap(extent, cap);
            }
            // Room for what is still to come: the rest of the file when its header says, else the next chunk.
            if (unknown) await ensureSpace(this.options.store, this.name, extent ? extent.paddedEnd - position : cs);
          }
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
    if (unknown) {
      // A close-delimited body cut short looks complete: only the file's own header can tell.
      const tail = buffer.subarray(0, fill);
      const whole = await this.headerExtent(m, position - fill, tail, true);
      if (whole) this.checkExtentCap(whole, cap);
      if (whole && position < whole.end) {
        throw new TransientError(
          `${this.options.url}: body ended after ${position} bytes, but its GGUF header says the file has ${whole.end}`,
        );
      }
      if (whole && position > whole.paddedEnd) throw this.beyondHeader(whole);
    }
    await flush();
    if (unknown) {
      m.size = position;
      m.chunkDone.length = m.chunkCrc32.length = chunkCount(position, cs);
      delete m.sizeUnknown;
      this.queueSave(m);
    }
    this.tracker.bytesTotal = m.size;
    this.tracker.update(position, true);
  }

  /** The header narrows the cap on a body of unstated length, never widens it: a header is as hostile as the body. */
  private checkExtentCap(extent: GgufExtent, cap: number): void {
    if (extent.paddedEnd <= cap) return;
    throw new DownloadError(
      `${this.options.url}: its GGUF header describes ${extent.paddedEnd} bytes, more than the ${cap}-byte limit for downloads without a stated length (raise maxBytes / --max-bytes if the model is larger)`,
    );
  }

  private beyondHeader(extent: GgufExtent): DownloadError {
    return new DownloadError(`${this.options.url}: the server sends more than the ${extent.paddedEnd} bytes its GGUF header describes`);
  }

  /**
   * The GGUF extent from the first bytes of a body of unknown length: `storedBytes` in the store,
   * then `tail`. Undefined while the header is still incomplete; at the end of the body (`final`)
   * an incomplete header is a cut body. A body that is no GGUF is refused: the store holds models,
   * and without a stated length only a GGUF's header can tell where it ends.
   */
  private async headerExtent(m: ModelManifest, storedBytes: number, tail: Uint8Array, final: boolean): Promise<GgufExtent | undefined> {
    const source = new StreamPrefixSource(this.options.store, m, storedBytes, tail);
    const notGguf = (why: string) => {
      this.notGguf = true;
      return new DownloadError(
        `${this.options.url}: not a GGUF model (${why}); without a stated length only a GGUF's own header can tell where the file ends`,
      );
    };
    if (final && source.size < 8) throw notGguf(`the body has ${source.size} bytes`);
    try {
      return ggufExtent(await readGGUF(source, { allowTruncatedData: true, signal: this.options.signal }));
    } catch (e) {
      if (e instanceof GGUFFormatError && (e.field === 'magic' || e.field === 'version') && source.size >= 8) throw notGguf(e.message);
      if (e instanceof UnsupportedTensorTypeError) throw notGguf(e.message);
      if (!(e instanceof GGUFFormatError)) throw e;
      if (!final) return undefined;
      throw new TransientError(`${this.options.url}: body ended after ${source.size} bytes, before its GGUF header did (${e.message})`);
    }
  }

  // ---- manifest bookkeeping -------------------------------------------------------------------

  /** The manifest to fill: the stored one when the file is unchanged, else a fresh one. */
  private async adopt(
    existing: ModelManifest | undefined,
    size: number,
    v: Validators,
    chunkSize: number,
    sizeUnknown = false,
  ): Promise<ModelManifest> {
    const { store } = this.options;
    this.checkSize(size, chunkSize);
    if (existing && !changed(existing, v) && (sizeUnknown || (existing.size === size && !existing.sizeUnknown))) {
      if (sizeUnknown && !existing.sizeUnknown) {
        existing.sizeUnknown = true;
        await store.putManifest(existing);
      }
      this.manifest = existing;
      return existing;
    }
    if (existing) await store.clearChunks(existing);
    const m = newManifest(this.name, { kind: 'url', url: this.options.url }, size, chunkSize, v, this.expectedSha, Date.now());
    if (existing) m.created = existing.created;
    if (sizeUnknown) m.sizeUnknown = true;
    await store.putManifest(m);
    this.manifest = m;
    return m;
  }

  /** Bounds the bookkeeping a server's claimed size can cause (the manifest has a flag per chunk). */
  private checkSize(size: number, chunkSize: number): void {
    const max = this.options.maxBytes ?? 2 ** 40;
    if (size > max) throw new DownloadError(`${this.options.url} is ${size} bytes, more than the ${max}-byte limit`);
    if (size / chunkSize > MAX_CHUNKS) {
      throw new DownloadError(
        `${this.options.url}: ${size} bytes in ${chunkSize}-byte chunks is more than ${MAX_CHUNKS} chunks; use a larger chunk size`,
      );
    }
  }

  private async checkSpace(m: ModelManifest): Promise<void> {
    await ensureSpace(this.options.store, this.name, m.size - completeBytes(m));
    await this.options.store.persist?.();
  }

  /** Stores a whole chunk and marks it done. */
  private async commit(m: ModelManifest, i: number, bytes: Uint8Array): Promise<void> {
    const want = chunkLength(m, i);
    if (bytes.length !== want) throw new TransientError(`chunk ${i}: ${bytes.length} bytes, expected ${want}`);
    await this.write(m, i, bytes, 0);
    this.markDone(m, i, this.checksums ? crc32(bytes) : null);
  }

  /** Writes (part of) chunk `i`; storage running out becomes QuotaExceededError. */
  private async write(m: ModelManifest, i: number, bytes: Uint8Array, offset: number): Promise<void> {
    try {
      await this.options.store.writeChunk(m, i, bytes, offset);
    } catch (e) {
      if (isQuotaError(e)) {
        const space = await this.options.store.space().catch(() => ({ availableBytes: undefined }));
        throw quotaError(this.name, m.size - completeBytes(m), space.availableBytes, this.options.store.location, e);
      }
      throw e;
    }
  }

  private markDone(m: ModelManifest, i: number, crc: number | null): void {
    m.chunkCrc32[i] = crc;
    m.chunkDone[i] = true;
    this.inflight.delete(i); // now counted as complete
    this.queueSave(m);
    // The streamed path reports its stream position instead (stored chunks are streamed past again).
    if (!this.streaming) this.reportProgress(m);
  }

  /**
   * Drops the partial chunks whose stored prefix is missing, short or fails its recorded CRC-32,
   * so a resumed chunk is integrity-checked from its first byte.
   */
  private async checkPartials(m: ModelManifest): Promise<void> {
    const partials = m.partialChunks;
    if (!partials) return;
    for (const key of Object.keys(partials)) {
      const i = Number(key);
      const p = partials[key]!;
      let good = Number.isInteger(i) && i >= 0 && i < m.chunkDone.length && !m.chunkDone[i] && p.bytes > 0 && p.bytes < chunkLength(m, i);
      if (good) {
        const bytes = await this.options.store.readChunk(m, i, this.options.signal);
        // Without a recorded CRC (chunkChecksums off) a prefix cannot be checked, so it is not reused.
        good = !!bytes && bytes.length >= p.bytes && p.crc32 !== null && crc32(bytes.subarray(0, p.bytes)) === p.crc32;
      }
      if (!good) delete partials[key];
    }
  }

  /**
   * Manifest writes in order, one at a time; each writes the latest state, so a save not yet
   * started covers every later change: at most one runs and one waits, however fast parts arrive.
   */
  private queueSave(m: ModelManifest): void {
    if (this.savePending) return;
    this.savePending = true;
    this.manifestSaves = this.manifestSaves.then(() => {
      this.savePending = false;
      return this.options.store.putManifest(m);
    });
  }

  private reportProgress(m: ModelManifest): void {
    // In-flight counts include the chunk's stored prefix.
    let n = storedBytes(m);
    for (const [i, b] of this.inflight) n += b - storedPrefix(m, i);
    this.tracker.update(n);
  }

  // ---- HTTP (http.ts) ------------------------------------------------------------------------

  private request(signal: AbortSignal, start?: number, end?: number): Promise<Response> {
    return request(this.http, signal, start, end);
  }

  private withRetries<T>(
    what: string,
    op: (signal: AbortSignal) => Promise<T>,
    signal = this.options.signal ?? new AbortController().signal,
  ): Promise<T> {
    return withRetries(this.retry, what, op, signal);
  }

  /** Tells the progress listener that attempt `attempt` failed and another comes ("retrying (2/6)…"). */
  private reportRetry(attempt: number): void {
    const retry = { attempt: attempt + 2, of: this.retry.maxRetries + 1 };
    if (this.tracker) this.tracker.retrying(retry);
    else this.options.onProgress?.({ phase: 'download', name: this.name, bytesDone: 0, bytesTotal: 0, bytesPerSecond: 0, retry });
  }

  private final(e: unknown, what: string, attempt: number): unknown {
    return finalError(this.retry, e, what, attempt);
  }

  private backoff(attempt: number, e: TransientError): number {
    return backoffMs(this.retry, attempt, e);
  }
}

// ---- helpers ----------------------------------------------------------------------------------

/** Bytes of chunk `i` already stored (its recorded prefix), 0 when none. */
function storedPrefix(m: ModelManifest, i: number): number {
  return m.partialChunks?.[i]?.bytes ?? 0;
}

/**
 * True unless the response proves it is the file the manifest's chunks came from: a validator the
 * manifest recorded must come back unchanged, and one that is missing counts as a change (a server
 * or CDN node that stopped sending it may serve another version). Without recorded validators
 * only the size can tell, which the callers compare.
 */
function changed(m: ModelManifest, v: Validators): boolean {
  if (m.etag) return m.etag !== v.etag;
  if (m.lastModified) return m.lastModified !== v.lastModified;
  return false;
}
