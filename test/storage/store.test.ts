import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, ModelFormatError } from '../../src/errors.ts';
import { crc32 } from '../../src/storage/crc32.ts';
import { defaultStoreDir, FsModelStore } from '../../src/storage/fs-store.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { ChunkedModelSource, openStoredModel } from '../../src/storage/model-source.ts';
import {
  checkModelName,
  chunkLength,
  defaultModelName,
  deleteAllModels,
  isPresent,
  listModels,
  newManifest,
  type ModelManifest,
  type ModelStore,
} from '../../src/storage/store.ts';
import { verifyAndMark } from '../../src/storage/verify.ts';
import { pseudoRandomBytes, sameBytes } from './helpers.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-store-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Writes `data` into the store as a complete, verified model. */
async function putModel(store: ModelStore, name: string, data: Uint8Array, chunkSize: number): Promise<ModelManifest> {
  const m = newManifest(name, { kind: 'file', fileName: `${name}.gguf` }, data.length, chunkSize, {}, undefined, Date.now());
  // Out of order on purpose: back ends must place chunks by index.
  const order = m.chunkDone.map((_, i) => i).reverse();
  for (const i of order) {
    const bytes = data.subarray(i * chunkSize, i * chunkSize + chunkLength(m, i));
    await store.writeChunk(m, i, bytes);
    m.chunkDone[i] = true;
    m.chunkCrc32[i] = crc32(bytes);
  }
  await store.putManifest(m);
  expect(await verifyAndMark(store, m)).toEqual([]);
  return m;
}

describe('model names', () => {
  it('accepts file-like names and rejects path tricks', () => {
    expect(checkModelName('SmolLM2-135M-Instruct-Q4_K_M.gguf')).toBe('SmolLM2-135M-Instruct-Q4_K_M.gguf');
    for (const bad of ['', '.hidden', '../x', 'a/b', 'a\\b', 'a..b', 'x'.repeat(201), 'sp ace']) {
      expect(() => checkModelName(bad), bad).toThrow(RangeError);
    }
  });
  it('derives a safe default name from URLs and paths', () => {
    expect(defaultModelName('https://h.example/org/repo/resolve/main/Model%20v2.gguf?download=true')).toBe('Model_v2.gguf');
    expect(defaultModelName('/tmp/x/../weights.gguf')).toBe('weights.gguf');
    expect(defaultModelName('https://h.example/')).toBe('model');
    // A leading '-' would read as a CLI option and is not a valid name: stripped, like leading dots.
    expect(defaultModelName('https://h.example/-m.gguf')).toBe('m.gguf');
    expect(defaultModelName('--.-x.gguf')).toBe('x.gguf');
    expect(defaultModelName('https://h.example/---')).toBe('model');
    expect(() => checkModelName(defaultModelName('https://h.example/..%2F..%2Fetc'))).not.toThrow();
  });
  it('uses LOWBIT_STORE, then XDG_CACHE_HOME, then ~/.cache for the default store', () => {
    expect(defaultStoreDir({ LOWBIT_STORE: '/a/b', XDG_CACHE_HOME: '/c' })).toBe('/a/b');
    expect(defaultStoreDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/lowbit');
    expect(defaultStoreDir({})).toMatch(/\.cache\/lowbit$/);
  });
});

for (const kind of ['fs', 'memory'] as const) {
  describe(`${kind} store`, () => {
    let store: FsModelStore | MemoryModelStore;
    beforeAll(async () => {
      store = kind === 'fs' ? new FsModelStore(await mkdtemp(join(tmp, 'fs-'))) : new MemoryModelStore();
    });

    it('keeps manifests and chunks, lists, reads across chunk boundaries, deletes', async () => {
      const data = pseudoRandomBytes(3 * 8192 + 123, 5);
      const m = await putModel(store, 'model-a', data, 8192);
      expect(m.chunkDone).toEqual([true, true, true, true]);
      const back = await store.getManifest('model-a');
      expect(back).toEqual(m);
      expect(isPresent(back)).toBe(true);

      const src = await openStoredModel(store, 'model-a');
      expect(src.size).toBe(data.length);
      // Random ranges, many spanning 2-4 chunks, compared with the original bytes.
      let seed = 11;
      for (let k = 0; k < 200; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const off = seed % data.length;
        seed = (seed * 1103515245 + 12345) >>> 0;
        const len = seed % Math.min(20000, data.length - off + 1);
        expect(sameBytes(await src.read(off, len), data.subarray(off, off + len)), `read ${off}+${len}`).toBe(true);
      }
      await expect(src.read(data.length - 1, 2)).rejects.toThrow(RangeError);
      await src.close?.();

      await putModel(store, 'model-b', pseudoRandomBytes(100, 1), 4096);
      const listed = await listModels(store);
      expect(listed.map((x) => [x.name, x.size, x.present, x.storedBytes])).toEqual([
        ['model-a', data.length, true, data.length],
        ['model-b', 100, true, 100],
      ]);
      await store.deleteModel('model-a');
      expect(await store.getManifest('model-a')).toBeUndefined();
      await store.deleteModel('model-a'); // absent: no error
      expect(await deleteAllModels(store)).toBe(1);
      expect(await listModels(store)).toEqual([]);
    });

    it('readInto fills the caller’s buffer with what read() gives, across chunk boundaries, and checks ranges', async () => {
      const data = pseudoRandomBytes(3 * 8192 + 321, 6);
      await putModel(store, 'into', data, 8192);
      const src = await openStoredModel(store, 'into');
      expect(src.readInto).toBeDefined(); // the header cursor reads through it (no buffer per read)
      const target = new Uint8Array(20000);
      let seed = 17;
      for (let k = 0; k < 100; k++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const off = seed % data.length;
        seed = (seed * 1103515245 + 12345) >>> 0;
        const len = seed % Math.min(target.length, data.length - off + 1);
        const into = target.subarray(0, len);
        expect(await src.readInto!(off, into)).toBe(len);
        expect(sameBytes(into, data.subarray(off, off + len)), `readInto ${off}+${len}`).toBe(true);
      }
      await expect(src.readInto!(data.length - 1, new Uint8Array(2))).rejects.toThrow(RangeError);
      await expect(src.readInto!(-1, new Uint8Array(2))).rejects.toThrow(RangeError);
      await src.close?.();
      await store.deleteModel('into');
    });

    it('refuses to open an incomplete or unverified model, naming it', async () => {
      const data = pseudoRandomBytes(10000, 2);
      const m = newManifest('partial', { kind: 'url', url: 'http://x/partial' }, data.length, 4096, {}, undefined, 0);
      await store.writeChunk(m, 0, data.subarray(0, 4096));
      m.chunkDone[0] = true;
      await store.putManifest(m);
      await expect(openStoredModel(store, 'partial')).rejects.toThrow(/'partial' is not ready: only 4096 of 10000 bytes/);
      await expect(openStoredModel(store, 'nothing')).rejects.toThrow(ModelFormatError);
      m.chunkDone = [true, true, true];
      await store.putManifest(m);
      await expect(openStoredModel(store, 'partial')).rejects.toThrow(/integrity check has not passed/);
      await store.deleteModel('partial');
    });

    it('finds a corrupt or short chunk in the integrity pass and marks it for re-fetch', async () => {
      const data = pseudoRandomBytes(5 * 4096, 3);
      const m = await putModel(store, 'corrupt', data, 4096);
      if (store instanceof FsModelStore) {
        const p = store.dataPath('corrupt');
        const bytes = new Uint8Array(await readFile(p));
        bytes[2 * 4096 + 17]! ^= 1;
        await writeFile(p, bytes.subarray(0, 5 * 4096 - 10)); // also cut the last chunk short
      } else {
        store.rawChunk('corrupt', 2)![17]! ^= 1;
        await store.writeChunk(m, 4, data.subarray(4 * 4096, 5 * 4096 - 10));
      }
      expect(await verifyAndMark(store, m)).toEqual([2, 4]);
      const after = (await store.getManifest('corrupt'))!;
      expect(after.verified).toBe(false);
      expect(after.chunkDone).toEqual([true, true, false, true, false]);
      await store.deleteModel('corrupt');
    });

    it('clearChunks drops the bytes of a changed file', async () => {
      const m = await putModel(store, 'clear-me', pseudoRandomBytes(9000, 4), 4096);
      await store.clearChunks(m);
      const got = await store.readChunk(m, 0);
      expect(got === undefined || got.length === 0).toBe(true);
      await store.deleteModel('clear-me');
    });

    it('reports free space', async () => {
      const space = await store.space();
      if (kind === 'fs') expect(space.availableBytes).toBeGreaterThan(0);
      else expect(space).toEqual({});
    });
  });
}

describe('ChunkedModelSource', () => {
  it('checks CRC-32 and length of chunks as it reads them, and caches at most 2 chunks', async () => {
    const store = new MemoryModelStore();
    const data = pseudoRandomBytes(6 * 4096, 8);
    const m = await putModel(store, 'src', data, 4096);
    let reads = 0;
    const counting = Object.assign(Object.create(store) as MemoryModelStore, {
      readChunk: (mm: ModelManifest, i: number) => {
        reads++;
        return store.readChunk(mm, i);
      },
    });
    const src = new ChunkedModelSource(counting, m);
    for (let off = 0; off < 4096; off += 64) await src.read(off, 64); // header-style small reads
    expect(reads).toBe(1);
    await src.read(4096 * 3 - 10, 20); // spans chunks 2 and 3
    expect(reads).toBe(3);
    await src.read(0, 4); // chunk 0 was evicted (cache of 2)
    expect(reads).toBe(4);

    store.rawChunk('src', 5)![0]! ^= 0xff;
    await expect(src.readInto(5 * 4096 + 100, new Uint8Array(10))).rejects.toThrow(/chunk 5 is corrupt/); // readInto checks as read does
    await expect(src.read(5 * 4096, 10)).rejects.toThrow(IntegrityError);
    await expect(src.read(5 * 4096, 10)).rejects.toThrow(/chunk 5 is corrupt/); // not cached after failure
    // The bad chunk is recorded, so the next download fetches it again.
    const marked = (await store.getManifest('src'))!;
    expect(marked.verified).toBe(false);
    expect(marked.chunkDone).toEqual([true, true, true, true, true, false]);
    await store.writeChunk(m, 4, data.subarray(4 * 4096, 4 * 4096 + 100));
    await expect(src.read(4 * 4096, 10)).rejects.toThrow(/chunk 4 has 100 bytes, expected 4096/);
  });
});

describe('transient readers of a stored model', () => {
  it('fs store: each reader holds two chunk buffers of its own, and a closed reader hands them to the next', async () => {
    const store = new FsModelStore(join(tmp, 'transient'));
    const data = pseudoRandomBytes(6 * 4096, 12);
    const m = await putModel(store, 'streamed', data, 4096);
    const src = new ChunkedModelSource(store, m);
    const a = src.transientReader();
    const b = src.transientReader();
    const a0 = await a.read(0, 4096);
    const b5 = await b.read(5 * 4096, 4096); // another stream: must not touch a's buffers
    const a1 = await a.read(4096 + 10, 100);
    expect(sameBytes(a0, data.subarray(0, 4096))).toBe(true);
    expect(sameBytes(b5, data.subarray(5 * 4096))).toBe(true);
    expect(sameBytes(a1, data.subarray(4096 + 10, 4096 + 110))).toBe(true);
    expect(a0.buffer).not.toBe(b5.buffer);
    // The next-but-one chunk reuses the older buffer: a view stays intact until then.
    const a2 = await a.read(2 * 4096, 4096);
    expect(a2.buffer).toBe(a0.buffer);
    expect(sameBytes(a2, data.subarray(2 * 4096, 3 * 4096))).toBe(true);
    expect(sameBytes(a1, data.subarray(4096 + 10, 4096 + 110))).toBe(true);
    a.close();
    await expect(a.read(0, 4)).rejects.toThrow(/closed/);
    await new Promise((r) => setTimeout(r, 0)); // the buffers return once the reads have settled
    const c = src.transientReader();
    const c3 = await c.read(3 * 4096, 4096);
    expect([a1.buffer, a2.buffer]).toContain(c3.buffer);
    expect(sameBytes(c3, data.subarray(3 * 4096, 4 * 4096))).toBe(true);
    // A range across chunks is a copy, right as read() gives it.
    expect(sameBytes(await c.read(4096 - 7, 20), data.subarray(4096 - 7, 4096 + 13))).toBe(true);
    b.close();
    c.close();
  });

  it('checks each chunk as read() does: a corrupt or short chunk is an IntegrityError and is marked for re-fetch', async () => {
    const store = new FsModelStore(join(tmp, 'transient-bad'));
    const data = pseudoRandomBytes(4 * 4096, 13);
    const m = await putModel(store, 'bad', data, 4096);
    const bytes = new Uint8Array(await readFile(store.dataPath('bad')));
    bytes[4096 + 5]! ^= 1;
    await writeFile(store.dataPath('bad'), bytes.subarray(0, 4 * 4096 - 10));
    const reader = new ChunkedModelSource(store, m).transientReader();
    await expect(reader.read(4096, 100)).rejects.toThrow(/chunk 1 is corrupt/);
    await expect(reader.read(3 * 4096, 100)).rejects.toThrow(/chunk 3 has 4086 bytes, expected 4096/);
    expect(sameBytes(await reader.read(2 * 4096, 4096), data.subarray(2 * 4096, 3 * 4096))).toBe(true);
    const marked = (await store.getManifest('bad'))!;
    expect(marked.chunkDone).toEqual([true, false, true, false]);
    reader.close();
  });

  it('a store without readChunkInto (memory, like IndexedDB) streams views of the chunks it returns', async () => {
    const store = new MemoryModelStore();
    const data = pseudoRandomBytes(3 * 4096, 14);
    const m = await putModel(store, 'mem', data, 4096);
    const reader = new ChunkedModelSource(store, m).transientReader();
    const piece = await reader.read(4096 + 1, 50);
    expect(piece.buffer).toBe(store.rawChunk('mem', 1)!.buffer);
    expect(sameBytes(piece, data.subarray(4096 + 1, 4096 + 51))).toBe(true);
    reader.close();
  });
});

describe('fs store layout', () => {
  it('writes one sparse data file and an atomically replaced manifest', async () => {
    const dir = await mkdtemp(join(tmp, 'layout-'));
    const store = new FsModelStore(dir);
    const m = newManifest('sparse', { kind: 'url', url: 'http://x/sparse' }, 64 * 4096, 4096, {}, undefined, 0);
    await store.writeChunk(m, 63, pseudoRandomBytes(4096, 1));
    await store.putManifest(m);
    expect((await stat(store.dataPath('sparse'))).size).toBe(64 * 4096);
    expect(JSON.parse(await readFile(join(dir, 'sparse', 'manifest.json'), 'utf8')).name).toBe('sparse');
    await writeFile(join(dir, 'sparse', 'manifest.json'), '{ torn');
    expect(await store.getManifest('sparse')).toBeUndefined();
    expect(await store.listManifests()).toEqual([]);
  });

  it('a manifest that parses but is not one (hand-edited, damaged, another version) counts as no model', async () => {
    // One such file used to crash `lowbit ls` (origin.kind of undefined) for every model, and
    // `rm` after deleting; chunkSize 0 or a null partial chunk broke a resume the same way.
    const dir = await mkdtemp(join(tmp, 'damaged-'));
    const store = new FsModelStore(dir);
    const good = newManifest('good', { kind: 'url', url: 'http://x/good' }, 3 * 4096, 4096, { etag: '"e"' }, undefined, 0);
    good.partialChunks = { 1: { bytes: 100, crc32: 7 } };
    await store.putManifest(good);
    const base = { ...newManifest('bad', { kind: 'url', url: 'http://x/bad' }, 4096, 4096, {}, undefined, 0) } as Record<string, unknown>;
    const damaged: unknown[] = [
      { id: 'bad', chunkDone: [] },
      { ...base, origin: undefined },
      { ...base, origin: { kind: 'url' } },
      { ...base, name: 'other' },
      { ...base, chunkSize: 0 },
      { ...base, size: -1 },
      { ...base, size: 1e300 },
      { ...base, chunkDone: ['yes'] },
      { ...base, chunkCrc32: [] },
      { ...base, verified: 'true' },
      { ...base, partialChunks: { 0: null } },
      { ...base, etag: 5 },
      [],
      null,
    ];
    for (const record of damaged) {
      await mkdir(join(dir, 'bad'), { recursive: true });
      await writeFile(join(dir, 'bad', 'manifest.json'), JSON.stringify(record));
      expect(await store.getManifest('bad'), JSON.stringify(record)).toBeUndefined();
      expect((await listModels(store)).map((m) => m.name)).toEqual(['good']);
    }
    expect(await store.getManifest('good')).toEqual(good);
  });
});
