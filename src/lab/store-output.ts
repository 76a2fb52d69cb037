/**
 * A quantized model written straight into the model store as it is produced: the GGUF writer's
 * chunks feed the store's import path (chunk bookkeeping, space check, quota errors, integrity
 * pass) through a byte source that can only be read front to back. Memory stays at one store
 * chunk. A failure or a cancel deletes what was written, so no partial model is ever listed as
 * ready.
 */
import { IntegrityError } from '../errors.ts';
import { writeGGUF, type GGUFWritePlan } from '../gguf/writer.ts';
import { checkByteRange, type ByteSource } from '../io/byte-source.ts';
import type { ProgressCallback } from '../io/progress.ts';
import { importModel } from '../storage/import.ts';
import type { ModelManifest, ModelStore } from '../storage/store.ts';

/** Bytes of a stream of known length, read strictly in order (the store imports chunk after chunk). */
export class StreamByteSource implements ByteSource {
  private readonly chunks: AsyncIterator<Uint8Array>;
  private pending: Uint8Array = new Uint8Array(0);
  private position = 0;

  constructor(
    readonly name: string,
    readonly size: number,
    chunks: AsyncIterable<Uint8Array>,
  ) {
    this.chunks = chunks[Symbol.asyncIterator]();
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    if (offset !== this.position) {
      throw new RangeError(`${this.name} is a stream: read at ${offset}, but the next byte is ${this.position}`);
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      signal?.throwIfAborted();
      if (this.pending.length === 0) {
        const next = await this.chunks.next();
        if (next.done) throw new RangeError(`${this.name} ended after ${this.position + filled} of ${this.size} bytes`);
        this.pending = next.value;
      }
      const n = Math.min(length - filled, this.pending.length);
      out.set(this.pending.subarray(0, n), filled);
      this.pending = this.pending.subarray(n);
      filled += n;
    }
    this.position += length;
    return out;
  }

  /** Stops the producer (the quantizer) when the reader gives up early. */
  async close(): Promise<void> {
    await this.chunks.return?.(undefined);
  }
}

export interface StoreOutputOptions {
  store: ModelStore;
  /** Store name of the result (also its file name when downloaded). */
  name: string;
  plan: GGUFWritePlan;
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** Store chunk size (default: the store's). */
  chunkSize?: number;
}

/**
 * Writes the planned file into the store as `name`, replacing an earlier lab result of that name.
 * Refuses to replace a model that came from elsewhere (a download, another file).
 */
export async function storeQuantizedModel(options: StoreOutputOptions): Promise<ModelManifest> {
  const { store, name, plan, signal } = options;
  const existing = await store.getManifest(name);
  if (existing) {
    if (existing.origin.kind !== 'file' || existing.origin.fileName !== name) {
      throw new IntegrityError(`a model named '${name}' is already stored and did not come from the lab; delete it first`);
    }
    await store.deleteModel(name);
  }
  const source = new StreamByteSource(name, plan.totalSize, writeGGUF(plan));
  try {
    return await importModel({
      store,
      source,
      name,
      fileName: name,
      lastModified: `lab:${Date.now()}`,
      signal,
      onProgress: options.onProgress,
      chunkSize: options.chunkSize,
    });
  } catch (e) {
    await store.deleteModel(name).catch(() => undefined);
    throw e;
  } finally {
    await source.close().catch(() => undefined);
  }
}
