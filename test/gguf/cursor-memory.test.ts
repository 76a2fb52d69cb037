// What the GGUF header cursor allocates on a Qwen-sized header (151,936 tokens and as many merges,
// ~4 MiB): its window must be one buffer it reuses, not a fresh read plus a new copy per window
// (~5 times the header size in dead ArrayBuffers before, which the load's peak JS heap counted as
// long as V8 had not collected them). Counted exactly, without the garbage collector: every buffer
// a source read allocates, and every distinct buffer the cursor's windows live in.
import { describe, expect, it } from 'vitest';
import { GGUFFormatError } from '../../src/errors.ts';
import { ByteCursor } from '../../src/gguf/cursor.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { BufferByteSource, type ByteSource } from '../../src/io/byte-source.ts';

const MiB = 1024 * 1024;
const VOCAB = 151936;

/** Deterministic token texts of 1–24 bytes, some multi-byte (so strings straddle window ends). */
function tokenTexts(n: number, salt: string): string[] {
  const out: string[] = [];
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const pad = 'ĠabcdéfghijklmnopqЖ'.slice(0, x % 19);
    out.push(`${salt}${i.toString(36)}${pad}`);
  }
  return out;
}

async function bigHeaderFile(): Promise<Uint8Array> {
  return writeGGUFToBytes({
    metadata: {
      'general.architecture': 'llama',
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.tokens': tokenTexts(VOCAB, 't'),
      'tokenizer.ggml.token_type': new Int32Array(VOCAB).fill(1),
      'tokenizer.ggml.merges': tokenTexts(VOCAB - 256, 'm '),
    },
  });
}

/** A source over `bytes` that counts what it allocates; `readInto` only when `withReadInto`. */
function countingSource(bytes: Uint8Array, withReadInto: boolean) {
  const stats = { requested: 0, allocatedByReads: 0, windowBuffers: 0 };
  const windows = new Set<ArrayBufferLike>();
  const source: ByteSource = {
    name: 'big-header.gguf',
    size: bytes.length,
    async read(offset, length) {
      stats.requested += length;
      stats.allocatedByReads += length;
      return bytes.slice(offset, offset + length); // a file or Blob read allocates its result
    },
  };
  if (withReadInto) {
    source.readInto = async (offset, target) => {
      stats.requested += target.length;
      if (!windows.has(target.buffer)) {
        windows.add(target.buffer);
        stats.windowBuffers += target.buffer.byteLength;
      }
      target.set(bytes.subarray(offset, offset + target.length));
      return target.length;
    };
  }
  return { source, stats, filled: windows };
}

describe('header cursor memory on a 151,936-token header', () => {
  it('reads through one reused window: allocations stay near the 256 KiB read size, not the header size', async () => {
    const bytes = await bigHeaderFile();
    const expected = await readGGUF(new BufferByteSource(bytes));
    expect(expected.headerSize).toBeGreaterThan(3.5 * MiB);

    const { source, stats, filled } = countingSource(bytes, true);
    const f = await readGGUF(source);
    // the same header, every string intact across the window boundaries
    expect(f.headerSize).toBe(expected.headerSize);
    const tokens = f.getArray('tokenizer.ggml.tokens')!.items as string[];
    expect(tokens).toEqual(expected.getArray('tokenizer.ggml.tokens')!.items);
    expect(f.getArray('tokenizer.ggml.merges')!.items).toEqual(expected.getArray('tokenizer.ggml.merges')!.items);
    expect(tokens[VOCAB - 1]).toBe(tokenTexts(VOCAB, 't')[VOCAB - 1]);
    // only header bytes, each once (what the fuzz test holds on hostile files)
    expect(stats.requested).toBe(f.headerBytesRead);
    expect(stats.requested).toBeLessThanOrEqual(bytes.length);
    expect(stats.allocatedByReads).toBe(0);
    // The 594 KiB token_type array, larger than a read, is read straight into the array the
    // header keeps (growing the window for it and copying it out left ~1 MiB behind).
    const types = f.getArray('tokenizer.ggml.token_type')!.items as Int32Array;
    expect(types).toEqual(new Int32Array(VOCAB).fill(1));
    expect(types.buffer.byteLength).toBe(4 * VOCAB);
    expect(filled.has(types.buffer)).toBe(true);
    // Otherwise 64 KiB doubling to 256 KiB: under 0.5 MiB whatever the header size (~16 MiB in
    // fresh reads and copies before)
    expect(stats.windowBuffers - types.buffer.byteLength).toBeLessThan(0.5 * MiB);
  });

  it('over a source without readInto, the read results are the only per-window buffers', async () => {
    const bytes = await bigHeaderFile();
    const { source, stats } = countingSource(bytes, false);
    const header = (await readGGUF(new BufferByteSource(bytes))).headerSize;
    const cursor = new ByteCursor(source);
    const windows = new Set<ArrayBufferLike>();
    let windowBytes = 0;
    // Walk the header in the parser's way: small fields, and now and then a larger one.
    let step = 0;
    while (cursor.pos < header) {
      const n = Math.min(header - cursor.pos, step % 97 === 0 ? 70_000 : 1 + (step % 23));
      step++;
      if (!cursor.has(n)) await cursor.fill(n, 'field');
      const at = cursor.pos;
      const view = cursor.take(n);
      expect(view[0]).toBe(bytes[at]);
      expect(view[n - 1]).toBe(bytes[at + n - 1]);
      if (!windows.has(view.buffer)) {
        windows.add(view.buffer);
        windowBytes += view.buffer.byteLength;
      }
    }
    expect(stats.requested).toBe(cursor.bytesRequested);
    expect(stats.requested).toBeLessThanOrEqual(bytes.length);
    expect(windowBytes).toBeLessThan(MiB);
  });

  it('an array larger than a read, cut short or declared past the file, is a typed error and requests nothing past the end', async () => {
    const bytes = await bigHeaderFile();
    const key = new TextEncoder().encode('tokenizer.ggml.token_type');
    const countAt = Buffer.from(bytes).indexOf(Buffer.from(key)) + key.length + 4 + 4; // value type, item type
    expect(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(countAt, true)).toBe(BigInt(VOCAB));
    // Cut inside the 594 KiB array (which would be read straight into its own array) and before it.
    for (const cutAt of [countAt + 8 + 300_000, countAt - 1_000_000]) {
      const { source, stats } = countingSource(bytes.subarray(0, cutAt), true);
      const err = await readGGUF(source).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GGUFFormatError);
      expect((err as Error).message).toMatch(/cannot fit in the \d+ bytes left in the file|truncated/);
      expect(stats.requested).toBeLessThanOrEqual(cutAt);
      expect(stats.windowBuffers).toBeLessThan(MiB);
    }
    // A count patched to 2^31 entries: refused from the count, before any buffer of that size.
    const hostile = bytes.slice();
    new DataView(hostile.buffer).setBigUint64(countAt, 2n ** 31n, true);
    const { source, stats } = countingSource(hostile, true);
    const err = await readGGUF(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GGUFFormatError);
    expect((err as Error).message).toMatch(/token_type"\] count .*2147483648 entries/);
    expect(stats.windowBuffers).toBeLessThan(MiB);
  });
});
