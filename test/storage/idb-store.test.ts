// IndexedDB store in Node through fake-indexeddb (an in-memory IndexedDB). The real-browser run of
// the same flows belongs to the Playwright suite (e2e/).
import 'fake-indexeddb/auto';
import { createStore, set } from 'idb-keyval';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, QuotaExceededError } from '../../src/errors.ts';
import { downloadModel } from '../../src/storage/download.ts';
import { IdbModelStore } from '../../src/storage/idb-store.ts';
import { importBlob } from '../../src/storage/import.ts';
import { openStoredModel } from '../../src/storage/model-source.ts';
import { completeBytes, deleteAllModels, isPresent, listModels, storedBytes, type ModelManifest } from '../../src/storage/store.ts';
import { pseudoRandomBytes, sha256Hex, TestFileServer } from './helpers.ts';

const CHUNK = 16 * 1024;
const data = pseudoRandomBytes(20 * CHUNK + 777, 12);
const dataSha = sha256Hex(data);
let server: TestFileServer;
let dbCount = 0;

function storage(quota = 1e12, usage = 0, persisted: boolean[] = []) {
  return {
    estimate: async () => ({ quota, usage }),
    persist: async () => (persisted.push(true), true),
  };
}

beforeAll(async () => {
  server = await new TestFileServer().start();
  server.files.set('/m.gguf', { content: data, etag: '"e1"' });
});
afterAll(() => server.stop());

describe('IndexedDB model store (fake-indexeddb)', () => {
  it('keeps records (autotune choices) apart from the models; a stored non-string or oversized value reads as absent', async () => {
    const prefix = `t${dbCount++}`;
    const store = new IdbModelStore({ prefix, storage: storage() });
    expect(await store.readRecord('k')).toBeUndefined();
    await store.writeRecord('k', 'choice');
    expect(await store.readRecord('k')).toBe('choice');
    expect(await store.listManifests()).toEqual([]);
    await expect(store.writeRecord('k', 'y'.repeat(70 * 1024))).rejects.toThrow(RangeError);
    // What another page (or a damaged database) may have put there.
    const raw = createStore(`${prefix}-records`, 'records');
    await set('k', { evil: true }, raw);
    expect(await store.readRecord('k')).toBeUndefined();
    await set('k', 'y'.repeat(70 * 1024), raw);
    expect(await store.readRecord('k')).toBeUndefined();
  });

  it('downloads into IndexedDB chunk records, resumes after a cut, serves reads, deletes', async () => {
    const persisted: boolean[] = [];
    const store = new IdbModelStore({ prefix: `t${dbCount++}`, storage: storage(1e12, 0, persisted) });
    server.cuts = [9 * CHUNK + 100];
    await expect(downloadModel({ store, url: server.url('/m.gguf'), chunkSize: CHUNK, maxRetries: 0, concurrency: 1 })).rejects.toThrow(
      DownloadError,
    );
    const partial = (await store.getManifest('m.gguf'))!;
    expect(completeBytes(partial)).toBe(9 * CHUNK);
    expect(storedBytes(partial)).toBe(9 * CHUNK + 100); // what arrived of chunk 9 before the cut is kept
    expect(persisted.length).toBe(1); // persistence was requested before writing

    // A reload: a new store object over the same databases.
    const reopened = new IdbModelStore({ prefix: `t${dbCount - 1}`, storage: storage() });
    server.resetCounters();
    const m = await downloadModel({ store: reopened, url: server.url('/m.gguf'), chunkSize: CHUNK, sha256: dataSha });
    expect(isPresent(m)).toBe(true);
    expect(server.bytesServed).toBe(data.length - 9 * CHUNK - 100);

    const src = await openStoredModel(reopened, 'm.gguf');
    expect(sha256Hex(await src.read(0, src.size))).toBe(dataSha);
    expect(sha256Hex(await src.read(CHUNK - 5, 3 * CHUNK))).toBe(sha256Hex(data.subarray(CHUNK - 5, 4 * CHUNK - 5)));
    expect((await listModels(reopened)).map((x) => [x.name, x.size, x.present])).toEqual([['m.gguf', data.length, true]]);

    await reopened.deleteModel('m.gguf');
    expect(await reopened.getManifest('m.gguf')).toBeUndefined();
    expect(await reopened.readChunk(m, 0)).toBeUndefined();
    expect(await reopened.readChunk(m, 20)).toBeUndefined();
  });

  it('stores chunks as exact-size values even when given a view into a larger buffer', async () => {
    const store = new IdbModelStore({ prefix: `t${dbCount++}`, storage: storage() });
    const big = pseudoRandomBytes(3 * CHUNK, 1);
    const m = { id: 'v', size: CHUNK, chunkSize: CHUNK } as ModelManifest;
    await store.writeChunk(m, 0, big.subarray(CHUNK, 2 * CHUNK));
    const back = (await store.readChunk(m, 0))!;
    expect(back.buffer.byteLength).toBe(CHUNK);
    expect(sha256Hex(back)).toBe(sha256Hex(big.subarray(CHUNK, 2 * CHUNK)));
  });

  it('estimate() too small: QuotaExceededError before downloading; free space: resumes', async () => {
    const store = new IdbModelStore({ prefix: `t${dbCount++}`, storage: storage(1000 + data.length, 2000) });
    const err = await downloadModel({ store, url: server.url('/m.gguf'), chunkSize: CHUNK }).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err.neededBytes).toBe(data.length);
    expect(err.availableBytes).toBe(data.length - 1000);
    const ok = new IdbModelStore({ prefix: `t${dbCount - 1}`, storage: storage() });
    expect(isPresent(await downloadModel({ store: ok, url: server.url('/m.gguf'), chunkSize: CHUNK }))).toBe(true);
  });

  it('imports a Blob/File chunk by chunk and lists it; delete all', async () => {
    const store = new IdbModelStore({ prefix: `t${dbCount++}`, storage: storage() });
    const file = new File([data as Uint8Array<ArrayBuffer>], 'local model.gguf', { lastModified: 1700000000000 });
    const m = await importBlob(store, file, { chunkSize: CHUNK, sha256: dataSha });
    expect(m.name).toBe('local_model.gguf');
    expect(m.origin).toEqual({ kind: 'file', fileName: 'local model.gguf' });
    expect(m.lastModified).toBe('1700000000000');
    const src = await openStoredModel(store, 'local_model.gguf');
    expect(sha256Hex(await src.read(0, src.size))).toBe(dataSha);
    expect(await deleteAllModels(store)).toBe(1);
    expect(await listModels(store)).toEqual([]);
  });
});
