/** Sinks and synthetic GGUF files for the loader tests and the memory benchmark. */
import type { GGUFTensorInput } from '../../src/gguf/writer.ts';
import type { WeightSink } from '../../src/runtime/loader.ts';
import { crc32 } from '../../src/storage/crc32.ts';

/** Keeps every buffer in memory (small models only). */
export class MemorySink implements WeightSink<Uint8Array> {
  writes = 0;
  unaligned = 0;
  constructor(readonly maxBufferBytes = 1 << 30) {}
  create(_label: string, size: number): Uint8Array {
    if (size % 4 !== 0) throw new Error(`buffer size ${size} not a multiple of 4`);
    return new Uint8Array(size);
  }
  write(buffer: Uint8Array, offset: number, bytes: Uint8Array): void {
    this.writes++;
    if (offset % 4 !== 0 || bytes.length % 4 !== 0) this.unaligned++;
    if (offset + bytes.length > buffer.length) throw new Error(`write past the end: ${offset}+${bytes.length} > ${buffer.length}`);
    buffer.set(bytes, offset);
  }
}

/** Holds nothing: a running CRC-32 per buffer, so memory stays the loader's own. */
export class ChecksumSink implements WeightSink<{ label: string; size: number; crc: number; written: number }> {
  bytes = 0;
  unaligned = 0;
  constructor(
    readonly maxBufferBytes: number,
    private readonly onWrite?: () => void,
  ) {}
  create(label: string, size: number) {
    return { label, size, crc: 0, written: 0 };
  }
  write(buffer: { crc: number; written: number; size: number }, offset: number, bytes: Uint8Array): void {
    if (offset !== buffer.written || offset % 4 !== 0 || bytes.length % 4 !== 0) this.unaligned++;
    buffer.crc = crc32(bytes, buffer.crc);
    buffer.written += bytes.length;
    this.bytes += bytes.length;
    this.onWrite?.();
  }
}

/** Deterministic bytes for tensor `seed` at offset: cheap to regenerate for checks. */
export function fillPattern(out: Uint8Array, seed: number, offset: number): Uint8Array {
  // A 251-byte period (prime) so rows and chunks never line up with it.
  for (let i = 0; i < out.length; i++) out[i] = (((offset + i) % 251) * 7 + seed * 13) & 0xff;
  return out;
}

/** Tensor data produced in 1 MiB pieces (never the whole tensor in memory). */
export function patternData(byteSize: number, seed: number): () => AsyncIterable<Uint8Array> {
  return async function* () {
    const piece = 1 << 20;
    for (let at = 0; at < byteSize; at += piece) yield fillPattern(new Uint8Array(Math.min(piece, byteSize - at)), seed, at);
  };
}

export function patternTensor(name: string, dims: number[], type: number, byteSize: number, seed: number): GGUFTensorInput {
  return { name, dims, type, data: patternData(byteSize, seed) };
}
