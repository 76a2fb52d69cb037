import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLimitError, ModelFormatError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { writeGGUFToBytes, type GGUFTensorInput } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { planRowParts } from '../../src/gpu/weights.ts';
import { loadWeights } from '../../src/runtime/loader.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { importModel } from '../../src/storage/import.ts';
import { ChunkedModelSource, openStoredModel } from '../../src/storage/model-source.ts';
import type { ProgressReport } from '../../src/io/progress.ts';
import { localModel } from '../helpers/fixtures.ts';
import { MemorySink } from './loader-helpers.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-loader-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

function random(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

/** Checks every loaded weight against the file: each part holds its rows' bytes, zero-padded. */
async function expectMatchesFile(
  file: Uint8Array,
  weights: Map<
    string,
    {
      rows: number;
      cols: number;
      rowBytes: number;
      type: number;
      parts: { buffer: Uint8Array; rowStart: number; rowCount: number }[];
      tensorScale?: number;
    }
  >,
) {
  const gguf = await readGGUF(new BufferByteSource(file, 'f'));
  expect([...weights.keys()]).toEqual(gguf.tensors.map((t) => t.name));
  for (const t of gguf.tensors) {
    const w = weights.get(t.name)!;
    expect(w.cols).toBe(t.dims[0]);
    expect(w.rows * w.cols).toBe(t.nElements);
    let row = 0;
    for (const part of w.parts) {
      expect(part.rowStart).toBe(row);
      const from = t.absoluteOffset + part.rowStart * w.rowBytes;
      const want = file.subarray(from, from + part.rowCount * w.rowBytes);
      expect(Buffer.from(part.buffer.subarray(0, want.length)).equals(want), `${t.name} rows ${part.rowStart}+${part.rowCount}`).toBe(true);
      expect(part.buffer.length).toBe(Math.ceil(want.length / 4) * 4);
      expect(part.buffer.subarray(want.length).every((b) => b === 0)).toBe(true);
      row += part.rowCount;
    }
    expect(row).toBe(w.rows);
    if (t.typeId === GGMLType.I2_S) {
      const at = t.absoluteOffset + t.nElements / 4;
      expect(w.tensorScale).toBe(new DataView(file.buffer, file.byteOffset + at, 4).getFloat32(0, true));
    } else {
      expect(w.tensorScale).toBeUndefined();
    }
  }
}

// Odd block counts give tensor sizes that are not multiples of 4 (Q4_0: 18-byte blocks).
function oddTensors(): GGUFTensorInput[] {
  const i2s = random((128 * 6) / 4 + 32, 9);
  new DataView(i2s.buffer).setFloat32((128 * 6) / 4, 0.625, true);
  return [
    { name: 'a.q4_0', dims: [32 * 3, 7], type: GGMLType.Q4_0, data: random(18 * 3 * 7, 1) },
    { name: 'b.f32', dims: [5], type: GGMLType.F32, data: random(20, 2) },
    { name: 'c.f16', dims: [3, 3], type: GGMLType.F16, data: random(18, 3) },
    { name: 'd.q8_0', dims: [64, 33], type: GGMLType.Q8_0, data: random(34 * 2 * 33, 4) },
    { name: 'e.i2s', dims: [128, 6], type: GGMLType.I2_S, data: i2s },
    { name: 'f.q6_k', dims: [256, 3, 2], type: GGMLType.Q6_K, data: random(210 * 6, 5) },
  ];
}

describe('planRowParts', () => {
  it('keeps whole rows, fits each padded part under the limit, covers every row once', () => {
    expect(planRowParts(10, 100, 1000, 't')).toEqual([{ rowStart: 0, rowCount: 10 }]);
    expect(planRowParts(10, 100, 999, 't')).toEqual([
      { rowStart: 0, rowCount: 9 },
      { rowStart: 9, rowCount: 1 },
    ]);
    // 3 rows of 7 bytes = 21 → padded 24 > 22: split.
    expect(planRowParts(3, 7, 22, 't')).toEqual([
      { rowStart: 0, rowCount: 2 },
      { rowStart: 2, rowCount: 1 },
    ]);
    expect(() => planRowParts(2, 2000, 1024, 'big.weight')).toThrow(DeviceLimitError);
    expect(() => planRowParts(2, 2000, 1024, 'big.weight')).toThrow(/"big.weight".*2000 bytes.*1024/);
  });
});

describe('loadWeights into a memory sink', () => {
  it('copies every tensor exactly, with odd sizes, tiny pieces, forced row splits and I2_S scales', async () => {
    const file = await writeGGUFToBytes({ metadata: { 'general.architecture': 'test' }, tensors: oddTensors() });
    for (const pieceBytes of [4096, 4097, 1 << 20]) {
      for (const maxBufferBytes of [1 << 30, 256, 212]) {
        const sink = new MemorySink(maxBufferBytes);
        const weights = await loadWeights(new BufferByteSource(file, 'odd.gguf'), { sink, pieceBytes });
        await expectMatchesFile(file, weights);
        expect(sink.unaligned).toBe(0);
        if (maxBufferBytes === 212) expect(weights.get('d.q8_0')!.parts.length).toBe(11); // 68-byte rows, 3 per part
      }
    }
  });

  it('streams through small pieces: unaligned piece boundaries are carried, never written unaligned', async () => {
    // One tensor much larger than the piece, with a piece size that is not a multiple of 4.
    const big: GGUFTensorInput = { name: 'big', dims: [32 * 101, 37], type: GGMLType.Q4_0, data: random(18 * 101 * 37, 11) };
    const file = await writeGGUFToBytes({ tensors: [big] });
    const sink = new MemorySink();
    const reads: number[] = [];
    const src = new BufferByteSource(file, 'big.gguf');
    const spy = { name: src.name, size: src.size, read: (o: number, n: number) => (reads.push(n), src.read(o, n)) };
    const weights = await loadWeights(spy, { sink, pieceBytes: 4099 });
    await expectMatchesFile(file, weights);
    expect(sink.unaligned).toBe(0);
    expect(Math.max(...reads.slice(1))).toBeLessThanOrEqual(4099);
  });

  it('loads real fixtures through the fs store (file reader) and the chunked reader identically to the file', async () => {
    for (const name of ['tinystories-bitnet-3M-I2_S.gguf', 'stories260K-Q4_0.gguf', 'tinystories-bitnet-3M-TQ1_0.gguf']) {
      const path = localModel(name);
      const file = new Uint8Array(await readFile(path));
      const store = new FsModelStore(join(tmp, 'fixtures'));
      await importPath(store, path, { chunkSize: 64 * 1024 });
      const viaFile = await openStoredModel(store, name);
      const reports: ProgressReport[] = [];
      const w1 = await loadWeights(viaFile, { sink: new MemorySink(), onProgress: (r) => reports.push(r) });
      await viaFile.close?.();
      await expectMatchesFile(file, w1);
      expect(reports.at(-1)).toMatchObject({ phase: 'upload' });
      expect(reports.at(-1)!.bytesDone).toBe(reports.at(-1)!.bytesTotal);

      const chunked = new ChunkedModelSource(store, (await store.getManifest(name))!);
      const w2 = await loadWeights(chunked, { sink: new MemorySink(100_000) });
      await expectMatchesFile(file, w2);
      if (name.includes('I2_S')) {
        const scales = [...w2.values()].filter((w) => w.type === GGMLType.I2_S).map((w) => w.tensorScale!);
        expect(scales.length).toBeGreaterThan(0);
        for (const s of scales) expect(s).toBeGreaterThan(0);
      }
    }
  });

  it('loads only the tensors a filter selects, from a header the caller already parsed', async () => {
    const file = await writeGGUFToBytes({ tensors: oddTensors() });
    const src = new BufferByteSource(file);
    const gguf = await readGGUF(src);
    const w = await loadWeights(src, { sink: new MemorySink(), gguf, filter: (t) => t.name.startsWith('e') || t.name.startsWith('b') });
    expect([...w.keys()]).toEqual(['b.f32', 'e.i2s']);
    expect(w.get('e.i2s')!.tensorScale).toBe(0.625);
  });

  it('rejects bad input with typed errors naming the tensor, and destroys what it created', async () => {
    const file = await writeGGUFToBytes({ tensors: oddTensors() });
    const truncated = new BufferByteSource(file.subarray(0, file.length - 100), 'cut.gguf');
    const gguf = await readGGUF(new BufferByteSource(file));
    await expect(loadWeights(truncated, { sink: new MemorySink(), gguf })).rejects.toThrow(ModelFormatError);
    await expect(loadWeights(truncated, { sink: new MemorySink(), gguf })).rejects.toThrow(/"f.q6_k" ends at byte/);

    const unsupported = await writeGGUFToBytes({ tensors: [{ name: 'mx', dims: [32], type: GGMLType.MXFP4, data: new Uint8Array(17) }] });
    await expect(loadWeights(new BufferByteSource(unsupported), { sink: new MemorySink() })).rejects.toThrow(/tensor "mx".*MXFP4/);

    const destroyed: Uint8Array[] = [];
    const sink = Object.assign(new MemorySink(), { destroy: (b: Uint8Array) => destroyed.push(b) });
    let reads = 0;
    const src = new BufferByteSource(file);
    const failing = {
      name: 'x',
      size: src.size,
      read: (o: number, n: number) => (++reads > 4 ? Promise.reject(new Error('disk gone')) : src.read(o, n)),
    };
    await expect(loadWeights(failing, { sink, gguf })).rejects.toThrow('disk gone');
    expect(destroyed.length).toBeGreaterThan(0);
  });

  it('honours an AbortSignal', async () => {
    const file = await writeGGUFToBytes({ tensors: oddTensors() });
    const ac = new AbortController();
    ac.abort();
    await expect(loadWeights(new BufferByteSource(file), { sink: new MemorySink(), signal: ac.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});

describe('loadWeights over a chunked store', () => {
  it('reads pieces as views inside cached chunks (no copies) when the source is chunked', async () => {
    const file = await writeGGUFToBytes({
      tensors: [{ name: 'w', dims: [32 * 40, 64], type: GGMLType.Q8_0, data: random(34 * 40 * 64, 5) }],
    });
    const store = new MemoryModelStore();
    await importModel({ store, source: new BufferByteSource(file, 'm.gguf'), chunkSize: 8192 });
    const src = new ChunkedModelSource(store, (await store.getManifest('m.gguf'))!);
    const chunkBuffers = new Set<ArrayBufferLike>();
    const sink = Object.assign(new MemorySink(), {
      write(buffer: Uint8Array, offset: number, bytes: Uint8Array) {
        chunkBuffers.add(bytes.buffer);
        MemorySink.prototype.write.call(sink, buffer, offset, bytes);
      },
    });
    const w = await loadWeights(src, { sink });
    await expectMatchesFile(file, w);
    // Every write came from a stored chunk's own buffer (or the 4-byte carry): no piece copies.
    const stored = new Set<ArrayBufferLike>();
    for (let i = 0; i < 20; i++) {
      const c = store.rawChunk('m.gguf', i);
      if (c) stored.add(c.buffer);
    }
    for (const b of chunkBuffers) expect(stored.has(b) || b.byteLength === 4).toBe(true);
  });
});
