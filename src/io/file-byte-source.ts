import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { AlternatingBuffers, checkByteRange, type ByteSource, type TransientReader } from './byte-source.ts';

/** A file on disk (Node only). Reads with positioned reads; never loads the whole file. */
export class FileByteSource implements ByteSource {
  /** Buffers of closed transient readers, for the next one. */
  private spareBuffers: Uint8Array[] = [];

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  static async open(path: string): Promise<FileByteSource> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      return new FileByteSource(handle, size, basename(path));
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    signal?.throwIfAborted();
    return this.readAt(offset, new Uint8Array(length));
  }

  async readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<number> {
    checkByteRange(this, offset, target.length);
    signal?.throwIfAborted();
    await this.readAt(offset, target);
    return target.length;
  }

  /** Reads into two reused buffers (see ByteSource.transientReader). */
  transientReader(): TransientReader {
    const buffers = new AlternatingBuffers(this.spareBuffers.splice(0));
    return {
      read: async (offset, length, signal) => {
        checkByteRange(this, offset, length);
        signal?.throwIfAborted();
        return buffers.fill(length, (into) => this.readAt(offset, into));
      },
      close: () => {
        void buffers.release().then((spare) => (this.spareBuffers = spare));
      },
    };
  }

  /** Fills `out` with the file's bytes from `offset`. */
  private async readAt(offset: number, out: Uint8Array): Promise<Uint8Array> {
    const length = out.length;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new RangeError(`${this.name}: unexpected end of file at ${offset + done}`);
      done += bytesRead;
    }
    return out;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
