// Hostile input to the in-process engine (Node, Dawn): prompts and options from a page, a server
// client or a CLI user fail with a typed error before heavy work, never with garbage or a hang.
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadEngine, type Engine } from '../../src/engine/engine.ts';
import { ContextOverflowError, ModelFormatError } from '../../src/errors.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { syntheticModelSpec } from '../helpers/synthetic-models.ts';

const MODEL = join(import.meta.dirname, '../fixtures/models/stories260K-Q8_0.gguf');

let engine: Engine;
beforeAll(async () => {
  engine = await openEngine(MODEL);
});
afterAll(async () => {
  await engine.dispose();
  await releaseTestGpu();
});

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

test('a 10M-character prompt is refused with ContextOverflowError before it is tokenized (generate and chat)', () => {
  // Tokenizing it in full took ~9 s and ~1.5 GB before the count could say it does not fit.
  const huge = 'a'.repeat(10_000_000);
  for (const call of [() => engine.generate(huge), () => engine.chat([{ role: 'user', content: huge }])]) {
    const t0 = performance.now();
    const err = thrownBy(call);
    expect(err).toBeInstanceOf(ContextOverflowError);
    expect((err as Error).message).toMatch(/at least \d+ tokens; this model was loaded with a 128-token context/);
    expect(performance.now() - t0).toBeLessThan(1500);
  }
});

test('prompt token ids that are no token of the model are refused before the GPU runs', () => {
  // They used to index the embedding out of range and generate from whatever row that read.
  for (const ids of [
    [1, engine.info.vocabSize],
    [1, -1],
    [1, 1.5],
    [1, Number.NaN],
    [1, 2 ** 32 + 5],
  ]) {
    const err = thrownBy(() => engine.generate(ids, { maxTokens: 2 }));
    expect(err, String(ids)).toBeInstanceOf(RangeError);
    expect((err as Error).message).toMatch(/prompt token 1 is .*, not a token id of this model \(0\.\.511\)/);
  }
});

test('maxTokens NaN or negative is refused, not turned into 0 or 1 tokens', () => {
  for (const maxTokens of [Number.NaN, -5]) {
    const err = thrownBy(() => engine.generate('Once', { maxTokens }));
    expect(err, String(maxTokens)).toBeInstanceOf(RangeError);
    expect((err as Error).message).toMatch(/maxTokens must be a number of tokens, 0 or more/);
  }
});

test("a refused call leaves no listener on the caller's signal", () => {
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) thrownBy(() => engine.generate([1, -1], { signal: ac.signal }));
  thrownBy(() => engine.generate(new Array(200).fill(1), { signal: ac.signal }));
  expect(getEventListeners(ac.signal, 'abort')).toEqual([]);
});

test('a disposed engine says so, whatever the call (not "tokenizer was disposed")', async () => {
  const other = await openEngine(MODEL);
  await other.dispose();
  for (const call of [() => other.generate('Once'), () => other.chat([{ role: 'user', content: 'hi' }]), () => other.generate([1, 2])]) {
    expect(thrownBy(call)).toMatchObject({ message: 'this engine has been disposed' });
  }
});

test('a rope_freqs.weight that is not F32 is a ModelFormatError, not a RangeError from a typed array', async () => {
  // llama.cpp's RoPE takes the frequency factors as F32 only; the loader read the raw bytes as F32.
  const spec = await syntheticModelSpec({ arch: 'llama', seed: 3, nLayer: 1, nEmbd: 64, nFF: 128, nHead: 2, nHeadKV: 2, ropeFreqs: true });
  const freqs = spec.tensors.find((t) => t.name === 'rope_freqs.weight')!;
  freqs.type = GGMLType.F16;
  freqs.data = new Uint8Array(freqs.dims[0]! * 2);
  const source = new BufferByteSource(await writeGGUFToBytes(spec), 'f16-rope-freqs.gguf');
  const err = await loadEngine(source, { gpu: await testGpu(), contextSize: 64 }).catch((e) => e);
  expect(err).toBeInstanceOf(ModelFormatError);
  expect(err.message).toMatch(/rope_freqs\.weight is F16; it must be F32/);
});

test('a generation aborted before its turn (already aborted, or while queued) does no GPU work and yields nothing', async () => {
  // It used to prefill the whole prompt and yield a token first: a server whose client left
  // while its request waited behind another still paid for the prompt.
  const collect = async (stream: ReturnType<Engine['generate']>) => {
    const tokens = [];
    for await (const t of stream) tokens.push(t);
    return { tokens, stats: await stream.stats };
  };
  const already = new AbortController();
  already.abort();
  const a = await collect(engine.generate('Once upon a time', { maxTokens: 5, signal: already.signal }));
  expect(a.tokens).toEqual([]);
  expect(a.stats).toMatchObject({ generatedTokens: 0, finishReason: 'abort' });

  const queued = new AbortController();
  const first = collect(engine.generate('Once upon a time', { maxTokens: 10 }));
  const second = collect(engine.generate('Once upon a time', { maxTokens: 10, signal: queued.signal }));
  queued.abort();
  expect((await first).stats.generatedTokens).toBe(10);
  const b = await second;
  expect(b.tokens).toEqual([]);
  expect(b.stats).toMatchObject({ generatedTokens: 0, finishReason: 'abort' });
});

test('temperature NaN is refused like any other non-finite sampling option, not taken as greedy', async () => {
  const stream = engine.generate('Once', { maxTokens: 3, temperature: Number.NaN });
  await expect(stream.stats).rejects.toThrow(/sampling: temperature must be a finite number, got NaN/);
  // Infinity already was refused by the sampling encoder; the engine stays usable.
  await expect(engine.generate('Once', { maxTokens: 3, temperature: Number.POSITIVE_INFINITY }).stats).rejects.toThrow(
    /temperature must be a finite number/,
  );
  expect((await engine.generate('Once', { maxTokens: 2 }).stats).generatedTokens).toBe(2);
});
