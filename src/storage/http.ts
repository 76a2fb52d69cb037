/**
 * HTTP utilities of the downloader: one request with the headers a byte-exact download needs,
 * retries with exponential backoff, reading a body into a buffer, and the headers that describe a
 * ranged answer (Content-Range, ETag, Last-Modified). download.ts holds the download logic.
 */
import { DownloadError, LowbitError } from '../errors.ts';

/** A failure worth retrying. */
export class TransientError extends Error {
  /** The attempt stored a useful part of what it fetched: the retry continues, it starts no count. */
  madeProgress = false;
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The file on the server is not the one the stored chunks came from: start over. */
export class FileChangedError extends Error {}

/**
 * A Range request was answered with the whole file (a CDN node that missed its cache, a server
 * that stopped honouring Range) by what still looks like the same file: ask again from a new probe,
 * keeping what is stored (a whole-file answer is compared with the stored chunks as it streams).
 */
export class RangeIgnoredError extends Error {}

export interface Validators {
  etag?: string;
  lastModified?: string;
}

/** Where and how to ask: the URL, the fetch to use and extra headers. */
export interface HttpTarget {
  url: string;
  fetch: typeof fetch;
  headers?: Record<string, string>;
  /** Longest wait for the response headers, and then for each piece of the body. */
  idleTimeoutMs: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** How often and how patiently to retry transient failures. */
export interface RetryPolicy {
  url: string;
  /** Attempts after the first before giving up. */
  maxRetries: number;
  /** First backoff delay; doubles per attempt, capped at 15 s. */
  retryBaseMs: number;
  /** Called before waiting to retry after failed attempt `attempt` (0-based), e.g. to show "retrying (2/6)…". */
  onRetry?(attempt: number): void;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * One GET, for bytes [start, end] when `start` is given. Answers other than 200/206 become
 * TransientError (retryable statuses), FileChangedError (416) or DownloadError (the rest).
 */
export async function request(target: HttpTarget, signal: AbortSignal, start?: number, end?: number): Promise<Response> {
  const headers: Record<string, string> = { ...target.headers };
  // Browsers ignore Accept-Encoding from scripts; Node's fetch would otherwise negotiate gzip,
  // and a compressed body's length is not the file's.
  if (typeof window === 'undefined') headers['accept-encoding'] = 'identity';
  if (start !== undefined) headers.range = `bytes=${start}-${end ?? ''}`;
  // The request gets its own controller: the idle timer aborts it (closing the connection) without
  // aborting the caller's signal, whose abort is forwarded until the headers are in. Body reads
  // race the caller's signal themselves (readPiece), and the callers cancel a body they abandon.
  const attempt = new AbortController();
  const forward = () => attempt.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    attempt.abort();
  }, target.idleTimeoutMs);
  let res: Response;
  try {
    res = await target.fetch(target.url, { headers, signal: attempt.signal, cache: 'no-store' });
  } catch (e) {
    if (timedOut && !signal.aborted) throw new TransientError(`timed out: no answer within ${target.idleTimeoutMs} ms`);
    throw asTransient(e, signal);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', forward);
  }
  if (res.status === 200 || res.status === 206) return res;
  res.body?.cancel().catch(() => {});
  if (RETRYABLE_STATUS.has(res.status)) {
    throw new TransientError(`${target.url}: HTTP ${res.status}`, res.status, retryAfterMs(res));
  }
  if (res.status === 416) {
    // The range starts past the end: the file shrank since the stored chunks were fetched.
    throw new FileChangedError(`${target.url}: range not satisfiable`);
  }
  const hint =
    res.status === 404 ? ' (no such file)' : res.status === 401 || res.status === 403 ? ' (access denied: the model may be gated)' : '';
  throw new DownloadError(`${target.url}: HTTP ${res.status} ${res.statusText}${hint}`, res.status);
}

/** Runs `op` until it succeeds, retrying TransientError with backoff up to `policy.maxRetries` times. */
export async function withRetries<T>(
  policy: RetryPolicy,
  what: string,
  op: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await op(signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (!(e instanceof TransientError) || attempt >= policy.maxRetries) throw finalError(policy, e, what, attempt);
      policy.onRetry?.(attempt);
      await sleep(backoffMs(policy, attempt, e), signal);
      if (e.madeProgress) attempt = -1;
    }
  }
}

/** The error to give up with: a TransientError becomes a DownloadError saying how many attempts failed. */
export function finalError(policy: RetryPolicy, e: unknown, what: string, attempt: number): unknown {
  if (!(e instanceof TransientError)) return e;
  return new DownloadError(`${policy.url}: ${what} failed after ${attempt + 1} attempts: ${e.message}`, e.status);
}

export function backoffMs(policy: RetryPolicy, attempt: number, e: TransientError): number {
  if (e.retryAfterMs !== undefined) return Math.min(e.retryAfterMs, 30_000);
  const base = Math.min(15_000, policy.retryBaseMs * 2 ** attempt);
  return base * (0.75 + Math.random() * 0.5);
}

export function readValidators(res: Response): Validators {
  return { etag: res.headers.get('etag') ?? undefined, lastModified: res.headers.get('last-modified') ?? undefined };
}

export function parseContentRange(header: string | null): { start: number; end: number; total?: number } | undefined {
  const match = header && /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === '*' ? undefined : Number(match[3]);
  if (![start, end, total ?? 0].every(Number.isSafeInteger)) return undefined;
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

function retryAfterMs(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const s = Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/**
 * Least a body must deliver per idle timeout of waiting (64 KiB: about 1 KiB/s at the default
 * 60 s). A server dripping a few bytes just inside the idle timeout would otherwise hold a
 * download open for ever: a model at that pace takes years.
 */
export const MIN_BYTES_PER_IDLE_PERIOD = 64 * 1024;

/**
 * A body's pace: the time spent waiting for it and the bytes it brought since it last delivered
 * MIN_BYTES_PER_IDLE_PERIOD. Only the wait in readPiece counts, not the time spent storing.
 */
export class BodyPace {
  waitedMs = 0;
  bytes = 0;
}

/**
 * The next piece of a body, waiting at most `idleTimeoutMs` for it (a stalled connection is a
 * TransientError; the caller cancels the reader) and no longer than `signal` allows. With `pace`
 * (one per body), the idle timeout bounds the wait for each MIN_BYTES_PER_IDLE_PERIOD bytes too,
 * so a dripping connection counts as stalled.
 */
export async function readPiece(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number,
  pace: BodyPace = new BodyPace(),
): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    const why =
      pace.bytes > 0 ? `${pace.bytes} bytes in ${idleTimeoutMs} ms (a stalled or dripping connection)` : `no data for ${idleTimeoutMs} ms`;
    timer = setTimeout(() => reject(new TransientError(`timed out: ${why}`)), Math.max(0, idleTimeoutMs - pace.waitedMs));
  });
  const t0 = Date.now();
  try {
    const piece = await raceAbort(Promise.race([reader.read(), idle]), signal);
    if (piece.done) return piece;
    pace.waitedMs += Date.now() - t0;
    pace.bytes += piece.value.length;
    if (pace.bytes >= MIN_BYTES_PER_IDLE_PERIOD) pace.waitedMs = pace.bytes = 0;
    return piece;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why Node's fetch (undici) refused to follow a redirect: a Location with another scheme (file:,
 * ftp:, data:), an unparsable one, or a loop past its 20-redirect limit. Retrying cannot help.
 * Browsers report these like any network failure, so there they are retried (and then given up).
 */
const FINAL_FETCH_FAILURE = /URL scheme must be a HTTP\(S\) scheme|redirect count exceeded|Invalid URL/i;

/** Network-level failures (TypeError from fetch, socket resets) become TransientError. */
export function asTransient(e: unknown, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (e instanceof TransientError || e instanceof FileChangedError || e instanceof LowbitError) return e;
  if (e instanceof Error && e.name === 'AbortError') return e;
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : '';
  const msg = e instanceof Error ? `${e.message}${cause ? `: ${cause}` : ''}` : String(e);
  if (e instanceof TypeError && FINAL_FETCH_FAILURE.test(cause)) return new DownloadError(`cannot follow a redirect: ${msg}`);
  return new TransientError(msg);
}

export function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
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

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    const onAbort = () => (clearTimeout(t), reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
