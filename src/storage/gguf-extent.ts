/**
 * Where a GGUF file ends, by its own header: the downloader's check of a body whose length the
 * server did not state (a close-delimited or chunked 200), which could otherwise be cut short or
 * never end without anyone noticing.
 */
import { alignUp } from '../gguf/reader.ts';
import type { GGUFFile } from '../gguf/file.ts';
import { checkByteRange, type ByteSource } from '../io/byte-source.ts';
import { ChunkedModelSource } from './model-source.ts';
import type { ModelManifest, ModelStore } from './store.ts';

export interface GgufExtent {
  /** End of the last tensor's data (the data offset when there are no tensors). */
  end: number;
  /** `end` rounded up to the file's alignment: writers pad the last tensor too, or not. */
  paddedEnd: number;
}

/** A complete file has between `end` and `paddedEnd` bytes. */
export function ggufExtent(file: GGUFFile): GgufExtent {
  let end = file.dataOffset;
  for (const t of file.tensors) end = Math.max(end, t.absoluteOffset + t.byteSize);
  return { end, paddedEnd: file.tensors.length ? alignUp(end, file.alignment) : end };
}

/** The bytes of a download so far: its stored chunks [0, storedBytes), then the part not yet stored. */
export class StreamPrefixSource implements ByteSource {
  readonly size: number;
  private readonly stored: ChunkedModelSource;

  constructor(
    store: ModelStore,
    manifest: ModelManifest,
    storedBytes: number,
    private readonly tail: Uint8Array,
  ) {
    this.stored = new ChunkedModelSource(store, { ...manifest, size: storedBytes });
    this.size = storedBytes + tail.length;
  }

  get name(): string {
    return this.stored.name;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    const split = this.stored.size;
    if (offset + length <= split) return this.stored.read(offset, length, signal);
    if (offset >= split) return this.tail.subarray(offset - split, offset - split + length);
    const out = new Uint8Array(length);
    out.set(await this.stored.read(offset, split - offset, signal));
    out.set(this.tail.subarray(0, offset + length - split), split - offset);
    return out;
  }
}
