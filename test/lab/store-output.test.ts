// Quantized models written straight into the store: byte-identical to llama-quantize's file, and a
// cancel or failure leaves nothing behind.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/reader.ts';
import { planGGUF } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { StreamByteSource, storeQuantizedModel } from '../../src/lab/store-output.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { quantizeModel } from '../../src/quant/quantize-model.ts';
import { inlineRunner } from '../../src/quant/quantize-stream.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { openStoredModel } from '../../src/storage/model-source.ts';
import { isPresent } from '../../src/storage/store.ts';
import { haveShared, sharedPath } from '../helpers/fixtures.ts';

const CHUNK = 256 * 1024;

async function quantizedPlan(inFile: string, type: string, signal?: AbortSignal) {
  const source = new BufferByteSource(new Uint8Array(await readFile(inFile)), inFile);
  const file = await readGGUF(source);
  return planGGUF(quantizeModel(file, source, { fileType: fileTypeByName(type), runner: inlineRunner, signal }).spec);
}

describe('StreamByteSource', () => {
  async function* parts() {
    yield Uint8Array.of(1, 2, 3);
    yield Uint8Array.of(4);
    yield Uint8Array.of(5, 6);
  }

  it('reads a stream front to back across its chunk boundaries', async () => {
    const s = new StreamByteSource('s', 6, parts());
    expect([...(await s.read(0, 2))]).toEqual([1, 2]);
    expect([...(await s.read(2, 3))]).toEqual([3, 4, 5]);
    expect([...(await s.read(5, 1))]).toEqual([6]);
  });

  it('refuses reads out of order and a stream shorter than announced', async () => {
    const s = new StreamByteSource('s', 6, parts());
    await expect(s.read(1, 2)).rejects.toThrow(/read at 1, but the next byte is 0/);
    const short = new StreamByteSource('short', 7, parts());
    await expect(short.read(0, 7)).rejects.toThrow(/ended after 6 of 7 bytes/);
  });
});

describe.skipIf(!haveShared())('quantizing into the model store', () => {
  it('stores a present model byte-identical to llama-quantize Q8_0 of the F32 fixture, over many chunks', async () => {
    const store = new MemoryModelStore();
    const plan = await quantizedPlan(sharedPath('models/trained-here/tinystories-llama-3M-F32.gguf'), 'Q8_0');
    const m = await storeQuantizedModel({ store, name: 'lab-Q8_0.gguf', plan, chunkSize: CHUNK });
    expect(isPresent(m)).toBe(true);
    expect(m.chunkDone.length).toBeGreaterThan(10);
    const src = await openStoredModel(store, 'lab-Q8_0.gguf');
    const stored = await src.read(0, src.size);
    const oracle = new Uint8Array(await readFile(sharedPath('models/trained-here/tinystories-llama-3M-Q8_0.gguf')));
    expect(stored.length).toBe(oracle.length);
    expect(Buffer.compare(Buffer.from(stored), Buffer.from(oracle))).toBe(0);
  });

  it('a cancel part-way leaves no model in the store, not even a partial one', async () => {
    const store = new MemoryModelStore();
    const ac = new AbortController();
    const plan = await quantizedPlan(sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf'), 'Q4_K_M', ac.signal);
    let chunks = 0;
    const orig = store.writeChunk.bind(store);
    store.writeChunk = async (...args) => {
      if (++chunks === 3) ac.abort();
      return orig(...args);
    };
    await expect(storeQuantizedModel({ store, name: 'lab-Q4_K_M.gguf', plan, chunkSize: CHUNK, signal: ac.signal })).rejects.toThrow();
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(await store.listManifests()).toEqual([]);
  });

  it('replaces an earlier lab result of the same name, never a model from elsewhere', async () => {
    const store = new MemoryModelStore();
    const plan = await quantizedPlan(sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf'), 'Q8_0');
    await storeQuantizedModel({ store, name: 'r.gguf', plan, chunkSize: CHUNK });
    const again = await storeQuantizedModel({
      store,
      name: 'r.gguf',
      plan: await quantizedPlan(sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf'), 'Q8_0'),
      chunkSize: CHUNK,
    });
    expect(isPresent(again)).toBe(true);
    const downloaded = { ...again, id: 'd.gguf', name: 'd.gguf', origin: { kind: 'url' as const, url: 'https://example.org/d.gguf' } };
    await store.putManifest(downloaded);
    await expect(storeQuantizedModel({ store, name: 'd.gguf', plan, chunkSize: CHUNK })).rejects.toThrow(IntegrityError);
    expect((await store.getManifest('d.gguf'))?.origin.kind).toBe('url');
  });
});
