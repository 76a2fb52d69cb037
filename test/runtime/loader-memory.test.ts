// The loader's memory bound: a ~300 MB synthetic GGUF goes file → fs store (4 MiB chunks) →
// loader → a sink that keeps nothing. Live JS memory (heap + ArrayBuffers after a forced GC,
// sampled at every other write) must stay within 2 chunks + 4 MB: nothing holds the file or a
// tensor. By design the loader holds the piece being written and the one being read (each at most
// a chunk); over the chunked reader those pieces are views into its 2 cached chunks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/gguf/reader.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { loadWeights } from '../../src/runtime/loader.ts';
import { crc32 } from '../../src/storage/crc32.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { ChunkedModelSource, openStoredModel } from '../../src/storage/model-source.ts';
import { ChecksumSink } from './loader-helpers.ts';
import { writeSyntheticGGUF } from './synthetic-gguf.ts';

setFlagsFromString('--expose-gc');
// Free dead ArrayBuffers' memory during the GC itself, so a forced GC shows what is really live.
setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;
const MODEL_BYTES = 300 * 1000 * 1000;

let tmp: string;
let path: string;
let store: FsModelStore;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-loader-mem-'));
  path = join(tmp, 'synthetic.gguf');
  await writeSyntheticGGUF(path, MODEL_BYTES);
  store = new FsModelStore(join(tmp, 'store'));
  await importPath(store, path, { chunkSize: CHUNK });
}, 300_000);
afterAll(() => rm(tmp, { recursive: true, force: true }));

const live = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Loads through `source` into a checksum sink, sampling live memory after a GC at every write. */
async function measure(source: ConstructorParameters<typeof Object>[0]) {
  // Backing stores of dead ArrayBuffers are released shortly after a GC: settle before the baseline.
  gc();
  await new Promise((r) => setTimeout(r, 100));
  gc();
  const base = live();
  let peak = 0;
  let writes = 0;
  const sink = new ChecksumSink(16 * MiB, () => {
    if (++writes % 2 === 0) return; // every other write keeps the test quick
    gc();
    peak = Math.max(peak, live() - base);
  });
  const t0 = performance.now();
  const weights = await loadWeights(source, { sink });
  const seconds = (performance.now() - t0) / 1000;
  return { weights, sink, peak, seconds };
}

/** CRC-32 of each part's expected bytes (the file's rows, zero-padded to 4) read straight from the file. */
async function expectedCrcs(partsOf: Map<string, { rowBytes: number; parts: { rowStart: number; rowCount: number }[] }>) {
  const file = await FileByteSource.open(path);
  const gguf = await readGGUF(file);
  const out = new Map<string, number[]>();
  for (const t of gguf.tensors) {
    const w = partsOf.get(t.name)!;
    const crcs = [];
    for (const p of w.parts) {
      let crc = 0;
      const start = t.absoluteOffset + p.rowStart * w.rowBytes;
      const len = p.rowCount * w.rowBytes;
      for (let at = 0; at < len; at += CHUNK) crc = crc32(await file.read(start + at, Math.min(CHUNK, len - at)), crc);
      if (len % 4) crc = crc32(new Uint8Array(4 - (len % 4)), crc);
      crcs.push(crc);
    }
    out.set(t.name, crcs);
  }
  await file.close();
  return out;
}

describe('loader memory bound (300 MB synthetic model)', () => {
  it('through the chunked store reader: live memory stays under 2 chunks + 4 MB, bytes intact', async () => {
    const source = new ChunkedModelSource(store, (await store.getManifest('synthetic.gguf'))!);
    const { weights, sink, peak, seconds } = await measure(source);
    console.log(
      `chunked: ${(source.size / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s, peak live growth ${(peak / MiB).toFixed(1)} MiB`,
    );
    expect(sink.bytes).toBeGreaterThan(MODEL_BYTES - 1e6);
    expect(sink.unaligned).toBe(0);
    expect(peak).toBeLessThan(2 * CHUNK + 4 * MiB);
    // Several tensors were split into parts (16 MiB limit), and every part holds the right bytes.
    expect([...weights.values()].some((w) => w.parts.length > 1)).toBe(true);
    const want = await expectedCrcs(weights);
    for (const [name, w] of weights)
      expect(
        w.parts.map((p) => p.buffer.crc),
        name,
      ).toEqual(want.get(name));
    expect(weights.get('ternary.weight')!.tensorScale).toBe(0.5);
  });

  it('through the fs store file reader (4 MiB pieces): live memory stays under 2 chunks + 4 MB', async () => {
    const source = await openStoredModel(store, 'synthetic.gguf');
    const { sink, peak, seconds } = await measure(source);
    await source.close?.();
    console.log(`file: ${(source.size / 1e6).toFixed(0)} MB in ${seconds.toFixed(2)} s, peak live growth ${(peak / MiB).toFixed(1)} MiB`);
    expect(sink.bytes).toBeGreaterThan(MODEL_BYTES - 1e6);
    expect(peak).toBeLessThan(2 * CHUNK + 4 * MiB);
  });
});

describe('offsets past 2 GiB and 4 GiB', () => {
  it('loads the last tensors of a 4.6 GB model generated on the fly, bytes intact', async () => {
    const { SyntheticGGUFSource } = await import('./synthetic-gguf.ts');
    const { fillPattern } = await import('./loader-helpers.ts');
    const source = new SyntheticGGUFSource(4.6e9);
    const gguf = await readGGUF(source);
    const last = gguf.tensors.slice(-2);
    expect(last[0]!.absoluteOffset).toBeGreaterThan(2 ** 32);
    const sink = new ChecksumSink(8 * MiB);
    const weights = await loadWeights(source, { sink, gguf, filter: (t) => last.includes(t) });
    expect([...weights.keys()]).toEqual(last.map((t) => t.name));
    for (const t of last) {
      const w = weights.get(t.name)!;
      expect(w.parts.length).toBeGreaterThan(1);
      const seed = gguf.tensors.indexOf(t); // matrices use their tensor index as the pattern seed
      for (const p of w.parts) {
        const len = p.rowCount * w.rowBytes;
        const want = fillPattern(new Uint8Array(Math.ceil(len / 4) * 4), seed, p.rowStart * w.rowBytes);
        want.fill(0, len);
        expect(p.buffer.crc, `${t.name} rows ${p.rowStart}`).toBe(crc32(want));
      }
    }
  });
});
