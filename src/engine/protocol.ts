/**
 * Messages between the page (worker-client.ts) and the engine's Web Worker (worker-host.ts).
 *
 * Every request carries an `id` chosen by the page. The worker answers a request with zero or more
 * `progress` (load) or `tokens` (generate) messages, then exactly one `result` or `error`. An
 * `abort` message names the id of the request to abort and gets no answer of its own: the aborted
 * request ends as it normally would (a generation ends with finishReason 'abort', a load with an
 * AbortError). Everything here is structured-clone safe; a File/Blob source is cloned, not copied
 * into memory.
 */
import * as errorClasses from '../errors.ts';
import { LowbitError } from '../errors.ts';
import type { DeviceProbe } from '../gpu/device.ts';
import type {
  CachedModel,
  ChatMessage,
  GeneratedToken,
  GenerateOptions,
  GenerationStats,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  ModelSource,
} from './types.ts';

export type { DeviceProbe } from '../gpu/device.ts';

/** GenerateOptions without the signal (aborts travel as their own message). */
export type WireGenerateOptions = Omit<GenerateOptions, 'signal'>;

export type GenerateInput = { kind: 'prompt'; prompt: string | number[] } | { kind: 'chat'; messages: ChatMessage[] };

/** Arguments of each request type (besides `type` and `id`). */
export interface RequestArgs {
  /** The LoadOptions that cross the boundary (no signal, no callback). */
  load: { source: ModelSource } & Pick<LoadOptions, 'contextSize' | 'limits' | 'maxGpuBytes' | 'activations' | 'autotune'>;
  generate: { input: GenerateInput; options: WireGenerateOptions };
  countTokens: { text: string };
  reset: object;
  unload: object;
  listModels: object;
  deleteModel: { modelId: string };
  probe: object;
}

/** What each request type resolves to. */
export interface RequestResults {
  load: ModelInfo;
  generate: GenerationStats;
  countTokens: number;
  reset: void;
  unload: void;
  listModels: CachedModel[];
  deleteModel: void;
  probe: DeviceProbe;
}

export type RequestType = keyof RequestArgs;

export type Request = { [K in RequestType]: { type: K; id: number } & RequestArgs[K] }[RequestType];

/** Aborts the request whose id is `id` (a load or a generation); no-op when it already ended. */
export interface AbortMessage {
  type: 'abort';
  id: number;
}

export type PageToWorker = Request | AbortMessage;

/** An error as it crosses the worker boundary: class name, message and the class's own fields. */
export interface WireError {
  name: string;
  message: string;
  /** Own enumerable primitive fields (offset, field, neededBytes, status, …). */
  fields?: Record<string, string | number | boolean | null>;
  stack?: string;
}

export type WorkerToPage =
  | { type: 'progress'; id: number; progress: LoadProgress }
  /** Tokens are batched: several may arrive in one message when the page is slower than the GPU. */
  | { type: 'tokens'; id: number; tokens: GeneratedToken[] }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: WireError }
  /**
   * The engine that the load request `id` produced can no longer run: its GPU device was lost
   * (a DeviceLostError). The worker stays up; the next load gets a new device.
   */
  | { type: 'lost'; id: number; error: WireError }
  /** A failure not tied to a request that leaves the worker unusable. */
  | { type: 'fatal'; error: WireError };

export function serializeError(err: unknown): WireError {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    const e = err as Error & Record<string, unknown>;
    const fields: Record<string, string | number | boolean | null> = {};
    for (const key of Object.keys(e)) {
      if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
      const v = e[key];
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[key] = v;
    }
    const name = typeof e.name === 'string' && e.name ? e.name : 'Error';
    return {
      name,
      message: String(e.message),
      ...(Object.keys(fields).length ? { fields } : {}),
      ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

type ErrorCtor = new (message: string) => Error;

// Every LowbitError subclass exported by src/errors.ts, by class name: an error re-thrown on the
// page is an instance of the same class the worker threw, so `instanceof` checks work across it.
const LOWBIT_ERRORS: Map<string, ErrorCtor> = new Map(
  (Object.values(errorClasses) as unknown[])
    .filter((v): v is ErrorCtor => typeof v === 'function' && (v === LowbitError || v.prototype instanceof LowbitError))
    .map((cls) => [cls.name, cls]),
);

const BUILTIN_ERRORS: Record<string, ErrorCtor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
};

// DOMException names the engine and storage throw (fetch, IndexedDB, abort).
const DOM_EXCEPTION_NAMES = new Set([
  'AbortError',
  'InvalidStateError',
  'NotFoundError',
  'NotSupportedError',
  'NetworkError',
  'DataError',
  'UnknownError',
  'OperationError',
  'TimeoutError',
  'NotAllowedError',
]);

export function deserializeError(wire: WireError): Error {
  let err: Error;
  const lowbit = LOWBIT_ERRORS.get(wire.name);
  if (lowbit) {
    err = new lowbit(wire.message);
  } else if (DOM_EXCEPTION_NAMES.has(wire.name)) {
    return new DOMException(wire.message, wire.name);
  } else {
    const builtin = BUILTIN_ERRORS[wire.name];
    err = new (builtin ?? Error)(wire.message);
    if (!builtin) err.name = wire.name;
  }
  // Constructor arguments differ per class (offset/field, neededBytes, status…), so fields are
  // restored by assignment after construction.
  if (wire.fields) Object.assign(err, wire.fields);
  if (wire.stack) err.stack = `${wire.stack}\n    (in the engine worker)`;
  return err;
}

export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}
