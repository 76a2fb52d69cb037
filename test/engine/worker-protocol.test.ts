// The engine worker protocol end to end in Node: EngineWorker (page side) and serveEngine (worker
// side) talk over a real MessageChannel, so every message goes through structured cloning.
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { DeviceLimitError, DeviceLostError, GGUFFormatError, LowbitError, WebGPUUnavailableError } from '../../src/errors.ts';
import type { CachedModel, GeneratedToken, LoadOptions, LoadProgress, ModelSource } from '../../src/engine/types.ts';
import { EngineWorker, type WorkerEndpoint } from '../../src/engine/worker-client.ts';
import { serveEngine, type EngineBackend, type MessageEndpoint } from '../../src/engine/worker-host.ts';
import { deserializeError, serializeError } from '../../src/engine/protocol.ts';
import { FakeEngine, fakeLoader, toTokens } from '../ui/fake-engine.ts';

const url: ModelSource = { kind: 'url', url: 'https://example.test/m.gguf' };

interface Harness {
  client: EngineWorker;
  engines: FakeEngine[];
  sources: ModelSource[];
  loadOptions: LoadOptions[];
  deleted: string[];
  close(): void;
}

const open: Harness[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

function harness(overrides: Partial<EngineBackend> & { engine?: () => FakeEngine; loader?: EngineBackend['load'] } = {}): Harness {
  const { port1, port2 } = new MessageChannel();
  const engines: FakeEngine[] = [];
  const sources: ModelSource[] = [];
  const loadOptions: LoadOptions[] = [];
  const deleted: string[] = [];
  const models: CachedModel[] = [{ id: 'a', name: 'a.gguf', bytes: 10, bytesStored: 10, complete: true, lastUsed: 5 }];
  const makeEngine = overrides.engine ?? (() => new FakeEngine({ delayMs: 2 }));
  const backend: EngineBackend = {
    load:
      overrides.loader ??
      (async (source, options) => {
        sources.push(source);
        loadOptions.push(options);
        const e = makeEngine();
        engines.push(e);
        return fakeLoader({ engine: e, steps: 3, stepMs: 1, totalBytes: 3000 })(source, options);
      }),
    listModels: overrides.listModels ?? (async () => models),
    deleteModel: overrides.deleteModel ?? (async (id) => void deleted.push(id)),
    probe: overrides.probe,
  };
  const host = serveEngine(port2 as unknown as MessageEndpoint, backend);
  const client = new EngineWorker(port1 as unknown as WorkerEndpoint);
  const h = {
    client,
    engines,
    sources,
    loadOptions,
    deleted,
    close() {
      host.close();
      port1.close();
      port2.close();
    },
  };
  open.push(h);
  return h;
}

async function collect(stream: AsyncIterable<GeneratedToken>): Promise<string[]> {
  const out: string[] = [];
  for await (const t of stream) out.push(t.text);
  return out;
}

describe('load', () => {
  test('reports progress and resolves to an engine with the model info', async () => {
    const h = harness();
    const progress: LoadProgress[] = [];
    const engine = await h.client.load(url, { contextSize: 256, onProgress: (p) => progress.push(p) });
    expect(engine.info.name).toBe('fake-story-model');
    expect(h.sources).toEqual([url]);
    expect(h.loadOptions[0].contextSize).toBe(256);
    expect(progress.map((p) => p.phase)).toContain('download');
    expect(progress.at(-1)).toMatchObject({ phase: 'compile', bytesDone: 3000, bytesTotal: 3000 });
    // Every phase's completion gets through the rate limiter.
    for (const phase of ['download', 'upload', 'compile']) {
      expect(progress.some((p) => p.phase === phase && p.bytesDone === 3000)).toBe(true);
    }
  });

  test('a File/Blob source reaches the backend with its bytes', async () => {
    const h = harness();
    const blob = new Blob([new Uint8Array([71, 71, 85, 70, 3, 0])]);
    await h.client.load({ kind: 'file', file: blob, name: 'local.gguf' });
    const got = h.sources[0] as Extract<ModelSource, { kind: 'file' }>;
    expect(got.kind).toBe('file');
    expect(got.name).toBe('local.gguf');
    expect([...new Uint8Array(await got.file.arrayBuffer())]).toEqual([71, 71, 85, 70, 3, 0]);
  });

  test('errors come back as the same typed classes with their fields', async () => {
    const cases: Error[] = [
      new WebGPUUnavailableError('navigator.gpu is missing'),
      new DeviceLimitError('tensor token_embd.weight needs 300 MB > maxStorageBufferBindingSize 128 MB'),
      new GGUFFormatError('bad magic', 0, 'magic'),
    ];
    for (const err of cases) {
      const h = harness({ loader: async () => Promise.reject(err) });
      const p = h.client.load(url);
      await expect(p).rejects.toBeInstanceOf(err.constructor);
      await expect(p).rejects.toBeInstanceOf(LowbitError);
      await expect(p).rejects.toMatchObject({ name: err.name, message: err.message });
    }
    const h = harness({ loader: async () => Promise.reject(new GGUFFormatError('bad magic', 0, 'magic')) });
    const err = (await h.client.load(url).catch((e) => e)) as GGUFFormatError;
    expect(err.offset).toBe(0);
    expect(err.field).toBe('magic');
    expect(err.stack).toContain('in the engine worker');
  });

  test('aborting a load rejects with AbortError and the backend sees the abort', async () => {
    const h = harness({
      loader: (source, options) => fakeLoader({ holdAt: 0.4, steps: 5, stepMs: 1 })(source, options),
    });
    const controller = new AbortController();
    const progress: LoadProgress[] = [];
    const p = h.client.load(url, { signal: controller.signal, onProgress: (x) => progress.push(x) });
    await expect.poll(() => progress.length).toBeGreaterThan(0);
    controller.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('a second load disposes the first engine; the old page-side engine refuses calls', async () => {
    const h = harness();
    const first = await h.client.load(url);
    const second = await h.client.load({ kind: 'stored', id: 'a' });
    expect(h.engines[0].disposed).toBe(true);
    expect(h.engines[1].disposed).toBe(false);
    expect(() => first.chat([{ role: 'user', content: 'hi' }])).toThrow(/disposed/);
    expect(await collect(second.generate('Once'))).toEqual(toTokens('Hello there! How can I help?'));
  });
});

describe('generate', () => {
  test('streams tokens and resolves stats; options reach the engine without the signal', async () => {
    const h = harness({ engine: () => new FakeEngine({ delayMs: 1, reply: () => ({ tokens: ['A', ' cat', ' sat'], promptTokens: 4 }) }) });
    const engine = await h.client.load(url);
    const stream = engine.chat([{ role: 'user', content: 'Tell me' }], { temperature: 0.3, maxTokens: 10, seed: 7, stop: ['\n\n'] });
    expect(await collect(stream)).toEqual(['A', ' cat', ' sat']);
    const stats = await stream.stats;
    expect(stats).toMatchObject({ promptTokens: 4, generatedTokens: 3, finishReason: 'eos' });
    expect(h.engines[0].calls[0]).toEqual({
      input: { kind: 'chat', messages: [{ role: 'user', content: 'Tell me' }] },
      options: { temperature: 0.3, maxTokens: 10, seed: 7, stop: ['\n\n'] },
    });
  });

  test('raw prompts (text or token ids) use generate()', async () => {
    const h = harness();
    const engine = await h.client.load(url);
    await collect(engine.generate([1, 2, 3], { addBos: false }));
    expect(h.engines[0].calls[0]).toEqual({ input: { kind: 'prompt', prompt: [1, 2, 3] }, options: { addBos: false } });
  });

  test('stats resolve even when nobody iterates', async () => {
    const h = harness();
    const engine = await h.client.load(url);
    const stats = await engine.generate('x').stats;
    expect(stats.generatedTokens).toBe(6);
  });

  test('an abort signal stops the generation with finishReason abort', async () => {
    const h = harness({
      engine: () => new FakeEngine({ delayMs: 10, reply: () => ({ tokens: toTokens('a b c d e f g h i j k l m n') }) }),
    });
    const engine = await h.client.load(url);
    const controller = new AbortController();
    const stream = engine.generate('go', { signal: controller.signal });
    const got: string[] = [];
    for await (const t of stream) {
      got.push(t.text);
      if (got.length === 2) controller.abort();
    }
    const stats = await stream.stats;
    expect(stats.finishReason).toBe('abort');
    expect(got.length).toBeLessThan(14);
    expect(stats.generatedTokens).toBeLessThan(14);
  });

  test('leaving the loop early aborts the generation in the worker', async () => {
    const h = harness({
      engine: () => new FakeEngine({ delayMs: 10, reply: () => ({ tokens: toTokens('a b c d e f g h i j k l m n') }) }),
    });
    const engine = await h.client.load(url);
    const stream = engine.generate('go');
    let n = 0;
    for await (const _ of stream) if (++n === 2) break;
    expect((await stream.stats).finishReason).toBe('abort');
  });

  test('an error mid-stream is thrown from the iteration as its typed class', async () => {
    const h = harness({
      engine: () =>
        new FakeEngine({ delayMs: 1, reply: () => ({ tokens: ['a', 'b', 'c'], failAfter: 2, error: new DeviceLimitError('lost it') }) }),
    });
    const engine = await h.client.load(url);
    const stream = engine.generate('go');
    const got: string[] = [];
    const err = await (async () => {
      try {
        for await (const t of stream) got.push(t.text);
      } catch (e) {
        return e;
      }
    })();
    expect(got).toEqual(['a', 'b']);
    expect(err).toBeInstanceOf(DeviceLimitError);
    await expect(stream.stats).rejects.toBeInstanceOf(DeviceLimitError);
  });

  test('a failed or aborted load keeps the previous engine working; it is disposed only when the next one is ready', async () => {
    let fail: Error | null = null;
    let hold: Promise<void> | null = null;
    const engines: FakeEngine[] = [];
    const h = harness({
      loader: async (source, options) => {
        if (hold) await hold;
        options.signal?.throwIfAborted();
        if (fail) throw fail;
        const e = new FakeEngine({ delayMs: 1 });
        engines.push(e);
        return fakeLoader({ engine: e, steps: 1, stepMs: 1, totalBytes: 10 })(source, options);
      },
    });
    const first = await h.client.load(url);
    fail = new GGUFFormatError('bad magic', 0, 'magic');
    await expect(h.client.load({ kind: 'stored', id: 'b' })).rejects.toBeInstanceOf(GGUFFormatError);
    expect(engines[0].disposed).toBe(false);
    expect(await collect(first.generate('x'))).toEqual(toTokens('Hello there! How can I help?'));
    fail = null;
    let release!: () => void;
    hold = new Promise((r) => (release = r));
    const controller = new AbortController();
    const aborted = h.client.load({ kind: 'stored', id: 'c' }, { signal: controller.signal });
    // While the next model loads, the current one still answers.
    expect(await collect(first.generate('y'))).toEqual(toTokens('Hello there! How can I help?'));
    controller.abort();
    release();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
    expect(engines[0].disposed).toBe(false);
    hold = null;
    const next = await h.client.load({ kind: 'stored', id: 'd' });
    expect(engines[0].disposed).toBe(true);
    expect(() => first.generate('z')).toThrow(/disposed/);
    expect(await collect(next.generate('z'))).toEqual(toTokens('Hello there! How can I help?'));
  });

  test('generations run one after another, in order', async () => {
    const h = harness({
      engine: () =>
        new FakeEngine({
          delayMs: 3,
          reply: (input) => ({ tokens: [`${(input as { prompt: string }).prompt}1`, `${(input as { prompt: string }).prompt}2`] }),
        }),
    });
    const engine = await h.client.load(url);
    const order: string[] = [];
    const run = async (p: string) => {
      for await (const t of engine.generate(p)) order.push(t.text);
    };
    await Promise.all([run('x'), run('y')]);
    expect(order).toEqual(['x1', 'x2', 'y1', 'y2']);
  });

  test('generating with no model loaded is an InvalidStateError', async () => {
    const h = harness();
    const engine = await h.client.load(url);
    await h.client.unload();
    expect(h.engines[0].disposed).toBe(true);
    expect(() => engine.generate('x')).toThrow(/disposed/);
    // Bypass the page-side check to see the worker's own answer.
    await expect(h.client.call('countTokens', { text: 'x' })).rejects.toMatchObject({ name: 'InvalidStateError' });
  });

  test('countTokens and reset reach the engine', async () => {
    const h = harness();
    const engine = await h.client.load(url);
    expect(await engine.countTokens('one two three')).toBe(3);
    await engine.reset();
    expect(h.engines[0].resets).toBe(1);
  });
});

describe('model store and device', () => {
  test('listModels and deleteModel pass through to the backend', async () => {
    const h = harness();
    expect(await h.client.listModels()).toEqual([{ id: 'a', name: 'a.gguf', bytes: 10, bytesStored: 10, complete: true, lastUsed: 5 }]);
    await h.client.deleteModel('a');
    expect(h.deleted).toEqual(['a']);
  });

  test('probe uses the backend when it has one, and reports no WebGPU in Node otherwise', async () => {
    const h = harness({ probe: async () => ({ webgpu: true, maxBufferSize: 123 }) });
    expect(await h.client.probe()).toEqual({ webgpu: true, maxBufferSize: 123 });
    const plain = harness();
    const p = await plain.client.probe();
    expect(p.webgpu).toBe(false);
    expect(p.reason).toMatch(/navigator\.gpu/);
  });

  test('a device lost while idle reaches the page: engine.lost resolves, later calls fail fast, the worker stays up', async () => {
    const h = harness();
    const engine = await h.client.load(url);
    h.engines[0].loseDevice(new DeviceLostError('GPU device lost (unknown): gone. Reload the model to continue.', 'unknown'));
    const lost = await engine.lost;
    expect(lost).toBeInstanceOf(DeviceLostError);
    expect(lost).toMatchObject({ message: 'GPU device lost (unknown): gone. Reload the model to continue.', reason: 'unknown' });
    expect(() => engine.generate('x')).toThrow(DeviceLostError);
    await expect(engine.reset()).rejects.toBeInstanceOf(DeviceLostError);
    // Loading again (the "Reload model" action) gets a working engine from the same worker.
    const again = await h.client.load(url);
    expect(h.engines[0].disposed).toBe(true);
    expect(await collect(again.generate('go'))).toEqual(toTokens('Hello there! How can I help?'));
  });

  test('a device lost mid-generation ends the stream with DeviceLostError and resolves engine.lost', async () => {
    const h = harness({
      engine: () => new FakeEngine({ delayMs: 5, reply: () => ({ tokens: toTokens('one two three four five six seven eight') }) }),
    });
    const engine = await h.client.load(url);
    const stream = engine.generate('go');
    const got: string[] = [];
    let thrown: unknown;
    try {
      for await (const t of stream) {
        got.push(t.text);
        if (got.length === 2)
          h.engines[0].loseDevice(new DeviceLostError('GPU device lost (destroyed): device was destroyed.', 'destroyed'));
      }
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DeviceLostError);
    expect(got.length).toBeLessThan(8);
    expect(await engine.lost).toBeInstanceOf(DeviceLostError);
  });

  test('a loss reported for a replaced engine does not touch the new one', async () => {
    const h = harness();
    await h.client.load(url);
    const second = await h.client.load(url);
    h.engines[0].loseDevice(new DeviceLostError('old device lost'));
    const settled = await Promise.race([second.lost!.then(() => 'lost'), new Promise((r) => setTimeout(() => r('alive'), 50))]);
    expect(settled).toBe('alive');
    expect(await collect(second.generate('go'))).toHaveLength(toTokens('Hello there! How can I help?').length);
  });

  test('a worker that fails rejects every pending call and later ones', async () => {
    const target = new EventTarget() as EventTarget & WorkerEndpoint;
    const posted: unknown[] = [];
    target.postMessage = (m) => posted.push(m);
    const client = new EngineWorker(target);
    const p = client.listModels();
    expect(posted).toHaveLength(1);
    const ev = new Event('error') as Event & { message: string };
    ev.message = 'SyntaxError: bad worker script';
    target.dispatchEvent(ev);
    await expect(p).rejects.toThrow(/engine worker stopped: SyntaxError: bad worker script/);
    await expect(client.listModels()).rejects.toThrow(/stopped/);
  });
});

describe('error serialization', () => {
  test('unknown names keep their name; DOMException names come back as DOMException', () => {
    const custom = Object.assign(new Error('odd'), { name: 'WeirdError', code: 7 });
    const back = deserializeError(serializeError(custom));
    expect(back.name).toBe('WeirdError');
    expect((back as unknown as { code: number }).code).toBe(7);
    const abort = deserializeError(serializeError(new DOMException('stop', 'AbortError')));
    expect(abort).toBeInstanceOf(DOMException);
    expect(abort.name).toBe('AbortError');
    expect(deserializeError(serializeError(new RangeError('r')))).toBeInstanceOf(RangeError);
    expect(deserializeError(serializeError('just a string')).message).toBe('just a string');
  });
});
