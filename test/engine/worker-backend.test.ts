// The worker's store backend: URL → download into the store (with progress, resumable), File →
// import, stored id → as is; then the engine hook gets the stored bytes. Store in memory, a local
// HTTP server for downloads, a fake engine hook.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { IntegrityError, ModelNotFoundError, OfflineError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import { checkModelFile } from '../../src/engine/check-model.ts';
import { writeGGUFToBytes } from '../../src/gguf/index.ts';
import { GGMLType } from '../../src/quant/types.ts';
import type { LoadProgress } from '../../src/engine/types.ts';
import { storeBackend, type StoredModel } from '../../src/engine/worker-backend.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { pseudoRandomBytes, sha256Hex, TestFileServer } from '../storage/helpers.ts';
import { FakeEngine } from '../ui/fake-engine.ts';

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
      {
        id: 'story.gguf',
        name: 'story.gguf',
        url: server.url('/models/story.gguf'),
        bytes: content.length,
        complete: true,
        bytesStored: content.length,
        lastUsed: expect.any(Number),
      },
    ]);
  });

  test('a URL with a pinned sha256 (a catalogue entry) refuses a file the server swapped, and never opens or lists it as ready', async () => {
    const { backend, opened } = setup();
    const swapped = pseudoRandomBytes(content.length, 8);
    server.files.set('/models/swapped.gguf', { content: swapped, etag: '"v1"' });
    const source = { kind: 'url' as const, url: server.url('/models/swapped.gguf'), sha256: sha256Hex(content) };
    await expect(backend.load(source, {})).rejects.toThrow(IntegrityError);
    expect(opened).toHaveLength(0);
    expect((await backend.listModels()).filter((m) => m.complete)).toEqual([]);
    // The refused bytes stay unverified (the error says to delete them); once deleted, the file
    // the hash names downloads and opens.
    await expect(backend.load(source, {})).rejects.toThrow(IntegrityError);
    await backend.deleteModel('swapped.gguf');
    server.files.set('/models/swapped.gguf', { content, etag: '"v2"' });
    await backend.load(source, {});
    expect(opened).toHaveLength(1);
    expect(opened[0].head).toEqual([...content.subarray(0, 4)]);
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
    const first = backend.load(
      { kind: 'url', url: server.url('/models/story.gguf') },
      {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'download' && p.bytesDone >= 2 * CHUNK) controller.abort();
        },
      },
    );
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    const partial = (await backend.listModels())[0];
    expect(partial.complete).toBe(false);
    expect(partial.bytesStored).toBeGreaterThan(0);
    expect(partial.bytesStored).toBeLessThan(content.length);
    server.cuts = [];
    await server.idle(); // the first load's last requests may reach the server after its abort
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

describe('files that cannot load are not kept as models', () => {
  const ggufFile = async (name: string, type: number, dims: number[], cut = 0) => {
    const bytes = await writeGGUFToBytes({
      metadata: { 'general.architecture': 'llama' },
      tensors: [{ name: 'token_embd.weight', dims, type }],
    });
    return new File([bytes.slice(0, bytes.length - cut) as Uint8Array<ArrayBuffer>], name);
  };
  const checkedBackend = () => {
    const store = new MemoryModelStore();
    let opened = 0;
    const backend = storeBackend({
      store,
      chunkSize: CHUNK,
      checkFile: checkModelFile,
      openEngine: async (model) => {
        opened++;
        return new FakeEngine({ info: { name: model.id } });
      },
    });
    return { store, backend, opened: () => opened };
  };

  test('a text file renamed .gguf, a truncated file and an unsupported tensor type fail before anything is stored', async () => {
    const { backend, opened } = checkedBackend();
    const cases: [File, string, RegExp][] = [
      [new File(['just some notes, not a model\n'], 'notes.gguf'), 'GGUFFormatError', /magic/],
      [await ggufFile('cut.gguf', GGMLType.F32, [64, 64], 4096), 'GGUFFormatError', /runs past the end/],
      [await ggufFile('mxfp4.gguf', GGMLType.MXFP4, [256, 4]), 'UnsupportedTensorTypeError', /MXFP4/],
    ];
    for (const [file, name, message] of cases) {
      const failure = backend.load({ kind: 'file', file, name: file.name }, {});
      await expect(failure).rejects.toMatchObject({ name });
      await expect(failure).rejects.toThrow(message);
    }
    expect(opened()).toBe(0);
    expect(await backend.listModels()).toEqual([]);
  });

  test('a good file is checked, then stored and listed', async () => {
    const { backend, opened } = checkedBackend();
    const file = await ggufFile('good.gguf', GGMLType.F32, [64, 4]);
    await backend.load({ kind: 'file', file, name: 'good.gguf' }, {});
    expect(opened()).toBe(1);
    expect((await backend.listModels()).map((m) => [m.id, m.complete])).toEqual([['good.gguf', true]]);
  });

  test('a stored local file the engine rejects as unloadable is removed; other failures, and downloads, keep it', async () => {
    const store = new MemoryModelStore();
    let failWith: Error = new UnsupportedTensorTypeError('tensor type MXFP4 (id 39) is not supported yet', 39);
    // No checkFile: as a file stored before the check existed.
    const backend = storeBackend({
      store,
      chunkSize: CHUNK,
      openEngine: async () => {
        throw failWith;
      },
    });
    const file = new File([content.slice(0, CHUNK) as Uint8Array<ArrayBuffer>], 'old.gguf');
    await expect(backend.load({ kind: 'file', file, name: 'old.gguf' }, {})).rejects.toBeInstanceOf(UnsupportedTensorTypeError);
    expect(await backend.listModels()).toEqual([]);
    await expect(backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {})).rejects.toBeInstanceOf(
      UnsupportedTensorTypeError,
    );
    expect((await backend.listModels()).map((m) => m.id)).toEqual(['story.gguf']);
    failWith = new RangeError('out of GPU memory');
    await expect(backend.load({ kind: 'file', file, name: 'old.gguf' }, {})).rejects.toThrow('out of GPU memory');
    expect((await backend.listModels()).map((m) => m.id).sort()).toEqual(['old.gguf', 'story.gguf']);
  });
});

describe('network failures', () => {
  test('offline, a model that is not stored fails at once with OfflineError; a stored one still loads', async () => {
    const { backend } = setup();
    await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
    server.resetCounters();
    vi.stubGlobal('navigator', { onLine: false });
    try {
      const started = performance.now();
      const other = backend.load({ kind: 'url', url: server.url('/models/other.gguf') }, {});
      await expect(other).rejects.toBeInstanceOf(OfflineError);
      await expect(other).rejects.toThrow(/^You're offline — this model isn't downloaded yet \(http:.*other\.gguf\)$/);
      expect(performance.now() - started).toBeLessThan(1000);
      await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
      expect(server.requests).toBe(0);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  test('a failed request that will be retried is reported as retry {attempt, of} in the progress', async () => {
    const { backend } = setup();
    server.failNext = [503];
    const progress: LoadProgress[] = [];
    await backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, { onProgress: (p) => progress.push(p) });
    const retries = progress.filter((p) => p.retry);
    expect(retries[0]).toMatchObject({ phase: 'download', retry: { attempt: 2, of: 6 } });
    // Once bytes flow again the notice is gone.
    expect(progress.at(-1)?.retry).toBeUndefined();
  });

  test('a 206 whose Content-Range the page cannot read (cross-origin, not exposed) names the header and the CORS setting', async () => {
    const store = new MemoryModelStore();
    const hidingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const headers = new Headers(res.headers);
      headers.delete('content-range');
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    };
    const backend = storeBackend({ store, chunkSize: CHUNK, fetch: hidingFetch, openEngine: async () => new FakeEngine() });
    const failure = backend.load({ kind: 'url', url: server.url('/models/story.gguf') }, {});
    await expect(failure).rejects.toMatchObject({ name: 'DownloadError', status: 206 });
    await expect(failure).rejects.toThrow(
      'the server must expose Content-Range, Content-Length, ETag (CORS Access-Control-Expose-Headers); see README',
    );
  });
});
