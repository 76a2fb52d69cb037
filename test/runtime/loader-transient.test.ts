// The weight stream's memory without the garbage collector's help: a 48 MB synthetic GGUF in an fs
// store of 4 MiB chunks is loaded through the store's file reader and through its chunked reader,
// into a sink that keeps nothing. No collection is forced during the load (the bench samples the
// same way), so a buffer allocated per piece or per chunk shows as growth until V8 happens to
// collect; the stream must instead reuse two buffers: live growth stays within 2 chunks + 2 MiB
// at every write, the ArrayBuffers the writes came from add up to 2 chunks + 1 MiB at most, and
// the bytes are intact.
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/gguf/reader.ts';
import { BufferByteSource, type ByteSource } from '../../src/io/byte-source.ts';
import { loadWeights } from '../../src/runtime/loader.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { ChunkedModelSource, openStoredModel } from '../../src/storage/model-source.ts';
import { liveBytes, settleGc } from '../helpers/live-memory.ts';
import { ChecksumSink } from './loader-helpers.ts';
import { writeSyntheticGGUF } from './synthetic-gguf.ts';
import { setFlagsFromString } from 'node:v8';

// Free dead ArrayBuffers' memory during the GC itself, so the settled baseline is what is live.
setFlagsFromString('--no-concurrent-array-buffer-sweeping');

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const MODEL_BYTES = 48 * 1000 * 1000;

let tmp: string;
let path: string;
let store: FsModelStore;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-loader-transient-'));
  path = join(tmp, 'synthetic.gguf');
  await writeSyntheticGGUF(path, MODEL_BYTES);
  store = new FsModelStore(join(tmp, 'store'));
  await importPath(store, path, { chunkSize: CHUNK });
}, 120_000);
afterAll(() => rm(tmp, { recursive: true, force: true }));

/** Per weight, the CRC-32 of each part, in order. */
function partCrcs(weights: Map<string, { parts: { buffer: { crc: number } }[] }>): Map<string, number[]> {
  return new Map([...weights].map(([name, w]) => [name, w.parts.map((p) => p.buffer.crc)]));
}

/**
 * Loads `source` (header read first, then a settled baseline) into a checksum sink, sampling live
 * bytes at every write with no forced collection, and adding up the sizes of the distinct
 * ArrayBuffers the writes came from (held weakly, so counting keeps nothing alive).
 */
async function streamWithoutGc(source: ByteSource) {
  const gguf = await readGGUF(source);
  await settleGc();
  const base = liveBytes();
  let peak = 0;
  const seen = new WeakSet<ArrayBufferLike>();
  let sourceBufferBytes = 0;
  const sink = new ChecksumSink(16 * MiB);
  const write = sink.write.bind(sink);
  sink.write = (buffer, offset, bytes) => {
    if (!seen.has(bytes.buffer)) {
      seen.add(bytes.buffer);
      sourceBufferBytes += bytes.buffer.byteLength;
    }
    write(buffer, offset, bytes);
    peak = Math.max(peak, liveBytes() - base);
  };
  const weights = await loadWeights(source, { sink, gguf });
  return { weights, sink, peak, sourceBufferBytes };
}

describe('weight stream memory without forced collections (48 MB model, 4 MiB chunks)', () => {
  let expected: Map<string, number[]>;
  beforeAll(async () => {
    const whole = new BufferByteSource(await readFile(path), 'synthetic.gguf');
    expected = partCrcs(await loadWeights(whole, { sink: new ChecksumSink(16 * MiB) }));
  });

  it('through the fs store file reader: two reused piece buffers, writes and growth within 2 chunks', async () => {
    const source = await openStoredModel(store, 'synthetic.gguf');
    const { weights, sink, peak, sourceBufferBytes } = await streamWithoutGc(source);
    await source.close?.();
    console.log(
      `file reader: peak growth ${(peak / MiB).toFixed(1)} MiB, written from ${(sourceBufferBytes / MiB).toFixed(1)} MiB of buffers`,
    );
    expect(sink.bytes).toBeGreaterThan(MODEL_BYTES - 1e6);
    expect(sourceBufferBytes).toBeLessThan(2 * CHUNK + MiB);
    expect(peak).toBeLessThan(2 * CHUNK + 2 * MiB);
    expect(partCrcs(weights)).toEqual(expected);
    expect(weights.get('ternary.weight')!.tensorScale).toBe(0.5);
  });

  it('through the chunked store reader: two reused chunk buffers, writes and growth within 2 chunks', async () => {
    const source = new ChunkedModelSource(store, (await store.getManifest('synthetic.gguf'))!);
    const { weights, sink, peak, sourceBufferBytes } = await streamWithoutGc(source);
    console.log(
      `chunked reader: peak growth ${(peak / MiB).toFixed(1)} MiB, written from ${(sourceBufferBytes / MiB).toFixed(1)} MiB of buffers`,
    );
    expect(sink.bytes).toBeGreaterThan(MODEL_BYTES - 1e6);
    expect(sourceBufferBytes).toBeLessThan(2 * CHUNK + MiB);
    expect(peak).toBeLessThan(2 * CHUNK + 2 * MiB);
    expect(partCrcs(weights)).toEqual(expected);
    expect(weights.get('ternary.weight')!.tensorScale).toBe(0.5);
  });
});
