// The worker's store backend: URL → download into the store (with progress, resumable), File →
// import, stored id → as is; then the engine hook gets the stored bytes. Store in memory, a local
// HTTP server for downloads, a fake engine hook.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ModelNotFoundError } from '../../src/errors.ts';
import type { LoadProgress } from '../../src/engine/types.ts';
import { storeBackend, type StoredModel } from '../../src/engine/worker-backend.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { pseudoRandomBytes, TestFileServer } from '../storage/helpers.ts';
import { FakeEngine } from './fake-engine.ts';

const CHUNK = 64 * 1024;
const content = pseudoRandomBytes(5 * CHUNK + 1234, 7);
let server: TestFileServer;

beforeAll(async () => {
  server = await new TestFileServer().start();
  server.files.set('/models/story.gguf', { content, etag: '"v1"' });
});
afterAll(async () => {
  await server.stop();
});

function setup() {
  const store = new MemoryModelStore();
  const opened: { model: StoredModel; head: number[] }[] = [];
  const backend = storeBackend({
    store,
    chunkSize: CHUNK,
    openEngine: async (model) => {
      opened.push({ model, head: [...(await model.source.read(0, 4))] });
      return new FakeEngine({ info: { name: model.id } });
    },
  });
  return { store, backend, opened };
}

describe('storeBackend', () => {
  test('a URL is downloaded into the store with progress, then opened from the store', async () => {
    const { backend, opened } = setup();
    const progress: LoadProgress[] = [];
    const engine = await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, { onProgress: (p) => progress.push(p) });
    expect(engine.info.name).toBe('story.gguf');
    expect(opened).toHaveLength(1);
    expect(opened[0].model.source.size).toBe(content.length);
    expect(opened[0].head).toEqual([...content.subarray(0, 4)]);
    const download = progress.filter((p) => p.phase === 'download');
    expect(download.at(-1)).toMatchObject({ bytesDone: content.length, bytesTotal: content.length });
    const listed = await backend.listModels();
    expect(listed).toEqual([
      { id: 'story.gguf', name: 'story.gguf', url: server.url('/models/story.gguf'), bytes: content.length, complete: true, bytesStored: content.length, lastUsed: expect.any(Number) },
    ]);
  });

  test('a stored model loads without any request; a second URL load does not download again', async () => {
    const { backend } = setup();
    await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
    server.resetCounters();
    await backend.load({ kind: 'stored', id: 'story.gguf' }, {});
    expect(server.requests).toBe(0);
    await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
    expect(server.bytesServed).toBe(0);
  });

  test('a cut download is partial in the listing and resumes from the stored id without refetching', async () => {
    const { backend } = setup();
    server.resetCounters();
    server.cuts = [3 * CHUNK + 100];
    // The downloader retries transient failures itself; an abort stops it for good.
    const controller = new AbortController();
    const first = backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'download' && p.bytesDone >= 2 * CHUNK) controller.abort();
      },
    });
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    const partial = (await backend.listModels())[0];
    expect(partial.complete).toBe(false);
    expect(partial.bytesStored).toBeGreaterThan(0);
    expect(partial.bytesStored).toBeLessThan(content.length);
    server.cuts = [];
    const servedBefore = server.bytesServed;
    await backend.load({ kind: 'stored', id: 'story.gguf' }, {});
    // Only the missing part came over the wire the second time.
    expect(server.bytesServed - servedBefore).toBeLessThanOrEqual(content.length - partial.bytesStored);
    expect((await backend.listModels())[0].complete).toBe(true);
  });

  test('a File is imported into the store and listed without a URL', async () => {
    const { backend, opened } = setup();
    const file = new File([content.slice(0, 2 * CHUNK) as Uint8Array<ArrayBuffer>], 'local-model.gguf');
    await backend.load({ kind: 'file', file, name: 'local-model.gguf' }, {});
    expect(opened[0].model.id).toBe('local-model.gguf');
    const listed = await backend.listModels();
    expect(listed[0]).toMatchObject({ id: 'local-model.gguf', complete: true, bytes: 2 * CHUNK });
    expect(listed[0].url).toBeUndefined();
  });

  test('an unknown stored id is a ModelNotFoundError naming it; delete removes a model', async () => {
    const { backend } = setup();
    await expect(backend.load({ kind: 'stored', id: 'nope.gguf' }, {})).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(backend.load({ kind: 'stored', id: 'nope.gguf' }, {})).rejects.toThrow(/nope\.gguf/);
    await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
    await backend.deleteModel('story.gguf');
    expect(await backend.listModels()).toEqual([]);
  });

  test('an engine failure closes the stored source and propagates', async () => {
    const store = new MemoryModelStore();
    let closed = 0;
    const backend = storeBackend({
      store,
      chunkSize: CHUNK,
      openEngine: async (model) => {
        const close = model.source.close?.bind(model.source);
        model.source.close = async () => {
          closed++;
          await close?.();
        };
        throw new RangeError('engine says no');
      },
    });
    await expect(backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {})).rejects.toThrow('engine says no');
    expect(closed).toBe(1);
  });
});

test('the precheck runs before any download and its error stops the load', async () => {
  const store = new MemoryModelStore();
  const backend = storeBackend({
    store,
    chunkSize: CHUNK,
    openEngine: async () => new FakeEngine(),
    precheck: async () => {
      throw new (await import('../../src/errors.ts')).WebGPUUnavailableError('no adapter');
    },
  });
  server.resetCounters();
  await expect(backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {})).rejects.toThrow('no adapter');
  expect(server.requests).toBe(0);
  expect(await backend.listModels()).toEqual([]);
});
