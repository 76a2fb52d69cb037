/**
 * A Web Worker entry serving the engine protocol with the fake engine, for browser tests of the
 * real worker path (bundling, structured cloning, typed errors) without a GPU engine.
 *
 * Source URLs steer it: '…webgpu-missing…' fails with WebGPUUnavailableError, '…too-big…' with
 * DeviceLimitError, '…slow…' (a URL or a file name) loads slowly enough to watch the progress bar, '…partial…' (a
 * URL) holds its download at 10 % until cancelled, leaving a partial model in the list; a File source must
 * start with the GGUF magic.
 */
import { DeviceLimitError, GGUFFormatError, WebGPUUnavailableError } from '../../src/errors.ts';
import type { CachedModel } from '../../src/engine/types.ts';
import { serveEngine, type MessageEndpoint } from '../../src/engine/worker-host.ts';
import { FakeEngine, fakeLoader, toTokens } from './fake-engine.ts';

const stored: CachedModel[] = [];

serveEngine(self as unknown as MessageEndpoint, {
  async load(source, options) {
    if (source.kind === 'url' && source.url.includes('webgpu-missing')) {
      throw new WebGPUUnavailableError('navigator.gpu is undefined in this worker');
    }
    if (source.kind === 'url' && source.url.includes('too-big')) {
      throw new DeviceLimitError('tensor token_embd.weight needs 1.2 GB but maxBufferSize is 256 MB');
    }
    if (source.kind === 'file') {
      const magic = new TextDecoder().decode(await source.file.slice(0, 4).arrayBuffer());
      if (magic !== 'GGUF')
        throw new GGUFFormatError(`${source.name ?? 'file'}: bad magic ${JSON.stringify(magic)}, expected "GGUF"`, 0, 'magic');
    }
    const slow = (source.kind === 'url' ? source.url : source.kind === 'file' ? (source.name ?? '') : '').includes('slow');
    const name = source.kind === 'url' ? source.url.split('/').pop()! : source.kind === 'file' ? (source.name ?? 'file') : source.id;
    const engine = new FakeEngine({
      delayMs: 15,
      // Like the real bundled model: a story model without a chat template.
      info: { name, hasChatTemplate: !/tinystories/i.test(name) },
      reply: () => ({ tokens: toTokens('Hello from the worker. This reply crossed a **structured clone**.') }),
    });
    // '…partial…' URLs act as a download that holds at 10 % until cancelled, stored as the real
    // store does: listed at once with nothing stored, and what arrived recorded a moment after
    // the cancel, before the load ends.
    if (source.kind === 'url' && source.url.includes('partial')) {
      const entry: CachedModel = {
        id: name,
        name,
        url: source.url,
        bytes: 2_092_000,
        bytesStored: 0,
        complete: false,
        lastUsed: Date.now(),
      };
      stored.push(entry);
      let arrived = 0;
      try {
        await fakeLoader({ engine, totalBytes: entry.bytes, holdAt: 0.1 })(source, {
          ...options,
          onProgress: (p) => {
            if (p.phase === 'download') arrived = p.bytesDone;
            options.onProgress?.(p);
          },
        });
      } finally {
        await new Promise((r) => setTimeout(r, 300));
        entry.bytesStored = arrived;
      }
    }
    const loaded = await fakeLoader({ engine, totalBytes: 2_092_000, steps: slow ? 40 : 4, stepMs: slow ? 50 : 5 })(source, options);
    const id = source.kind === 'stored' ? source.id : engine.info.name;
    if (!stored.some((m) => m.id === id)) {
      stored.push({
        id,
        name: id,
        url: source.kind === 'url' ? source.url : undefined,
        bytes: 2_092_000,
        bytesStored: 2_092_000,
        complete: true,
        lastUsed: Date.now(),
      });
    }
    return loaded;
  },
  async listModels() {
    return stored;
  },
  async deleteModel(id) {
    const i = stored.findIndex((m) => m.id === id);
    if (i >= 0) stored.splice(i, 1);
  },
});
