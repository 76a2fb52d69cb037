/**
 * Context shift (GenerateOptions.contextShift, llama.cpp's n_keep): the rule on token lists, its
 * bounds, and generation past a full context on the GPU, which must give exactly the tokens of
 * fresh runs on the shifted sequences. Without the option a prompt that fills the context is a
 * ContextOverflowError and generation stops with 'length' at the end of the context.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import type { GenerateOptions, GenerationStats } from '../../src/engine/types.ts';
import { ContextOverflowError } from '../../src/errors.ts';
import { checkContextShift, shiftContext, type Session } from '../../src/runtime/session.ts';
import { openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';
import { rng } from '../helpers/random.ts';
import { makeSyntheticModel, removeSyntheticModels } from '../helpers/synthetic-models.ts';

describe('shiftContext: keep the first n, drop the oldest half of the rest', () => {
  const seq = (n: number) => Array.from({ length: n }, (_, i) => i);

  test('tokens that leave room are kept as they are', () => {
    const t = seq(15);
    expect(shiftContext(t, 4, 16)).toBe(t);
  });

  test("a full context loses half of what follows the kept tokens, the oldest first (llama.cpp's n_discard)", () => {
    // 17 tokens, keep 4: 13 follow, 6 go (4..9), 4 + 7 remain
    expect(shiftContext(seq(17), 4, 16)).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 14, 15, 16]);
    expect(shiftContext(seq(16), 0, 16)).toEqual(seq(16).slice(8));
  });

  test('a prompt far over the context is shifted until it fits, the kept tokens intact', () => {
    const out = shiftContext(seq(1000), 5, 64);
    expect(out.length).toBeLessThan(64);
    expect(out.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(out.at(-1)).toBe(999); // the newest token always stays
    expect(out.slice(5)).toEqual(seq(1000).slice(1000 - (out.length - 5)));
  });

  test('keep must leave room to generate: whole numbers from 0 to context − 2', () => {
    expect(() => checkContextShift({ keep: 0 }, 16)).not.toThrow();
    expect(() => checkContextShift({ keep: 14 }, 16)).not.toThrow();
    for (const keep of [-1, 15, 16, 1e9, 1.5, NaN, Infinity])
      expect(() => checkContextShift({ keep }, 16), String(keep)).toThrow(RangeError);
    expect(() => checkContextShift({ keep: '3' as unknown as number }, 16)).toThrow(RangeError);
  });
});

describe('generation past a full context on the GPU', () => {
  const CONTEXT = 64;
  const KEEP = 8;
  let engine: Engine;
  beforeAll(async () => {
    const path = await makeSyntheticModel({ arch: 'llama', seed: 64, nLayer: 2, nEmbd: 64, nFF: 128, nHead: 4, nHeadKV: 2 });
    engine = await openEngine(path, CONTEXT);
  });
  afterAll(async () => {
    await engine?.dispose();
    await releaseTestGpu();
    removeSyntheticModels();
  });

  const promptOf = (n: number, seed: number) => {
    const next = rng(seed);
    return [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(next() * 509))];
  };

  async function greedy(prompt: number[], options: GenerateOptions): Promise<{ tokens: number[]; stats: GenerationStats }> {
    await engine.reset(); // a fresh run: nothing reused from the last one's KV cache
    const stream = engine.generate(prompt, { temperature: 0, ...options });
    const tokens: number[] = [];
    for await (const t of stream) if (t.id >= 0) tokens.push(t.id);
    return { tokens, stats: await stream.stats };
  }

  /**
   * What a shifted generation must produce: fresh greedy runs without the option, each on the
   * sequence the shift rule gives from everything before it, each as long as its context lasts.
   */
  async function freshRunsOnShiftedSequences(prompt: number[], total: number): Promise<{ tokens: number[]; shifts: number }> {
    const tokens: number[] = [];
    let sequence = shiftContext(prompt, KEEP, CONTEXT) as number[];
    let shifts = sequence === prompt ? 0 : 1;
    for (;;) {
      const run = await greedy(sequence, { maxTokens: Math.min(CONTEXT - sequence.length, total - tokens.length) });
      tokens.push(...run.tokens);
      if (tokens.length >= total) return { tokens, shifts };
      expect(run.stats.finishReason).toBe('length');
      sequence = shiftContext([...sequence, ...run.tokens], KEEP, CONTEXT) as number[];
      shifts++;
    }
  }

  test('without the option: a prompt that fills the context is a ContextOverflowError, generation ends at its end', async () => {
    expect(() => engine.generate(promptOf(CONTEXT, 1), { maxTokens: 4 })).toThrow(ContextOverflowError);
    const r = await greedy(promptOf(40, 2), { maxTokens: 100 });
    expect(r.stats.finishReason).toBe('length');
    expect(r.tokens).toHaveLength(CONTEXT - 40);
    expect(r.stats.contextShifts).toBeUndefined();
  });

  test('with contextShift: 100 tokens past a 64-token context equal fresh runs on the shifted sequences', async () => {
    const prompt = promptOf(40, 3);
    const shifted = await greedy(prompt, { maxTokens: 100, contextShift: { keep: KEEP } });
    expect(shifted.stats.finishReason).toBe('length');
    expect(shifted.tokens).toHaveLength(100);
    expect(shifted.stats.contextShifts).toBeGreaterThanOrEqual(3);
    expect(new Set(shifted.tokens).size, 'a varied continuation, not one token repeated').toBeGreaterThan(10);
    const want = await freshRunsOnShiftedSequences(prompt, 100);
    expect(shifted.stats.contextShifts).toBe(want.shifts);
    expect(shifted.tokens).toEqual(want.tokens);
  });

  test('with contextShift: a prompt longer than the context keeps its first tokens and its newest ones', async () => {
    const prompt = promptOf(150, 4);
    expect(() => engine.generate(prompt, { maxTokens: 4 })).toThrow(ContextOverflowError);
    const shifted = await greedy(prompt, { maxTokens: 10, contextShift: { keep: KEEP } });
    expect(shifted.stats.promptTokens).toBe(150);
    expect(shifted.stats.contextShifts).toBeGreaterThanOrEqual(1);
    const want = await freshRunsOnShiftedSequences(prompt, 10);
    expect(shifted.tokens).toEqual(want.tokens);
  });

  test('in chat(), a context shift keeps the system prompt whatever keep says; one that cannot be kept is a ContextOverflowError', async () => {
    const system = 'Tell a story about a cat.';
    const turns = Array.from({ length: 8 }, (_, i) => [
      { role: 'user' as const, content: `Turn ${i}: and then?` },
      { role: 'assistant' as const, content: 'The cat went on.' },
    ]).flat();
    const messages = [{ role: 'system' as const, content: system }, ...turns, { role: 'user' as const, content: 'The end?' }];
    await engine.reset();
    const stream = engine.chat(messages, { temperature: 0, maxTokens: 4, contextShift: { keep: 0 } });
    for await (const t of stream) void t;
    const stats = await stream.stats;
    expect(stats.contextShifts).toBeGreaterThanOrEqual(1);
    const cached = (engine as unknown as { session: Session }).session.cachedTokens;
    const systemTokens = engine.encodePrompt(system); // BOS + the system text, as the plain template starts
    expect(cached.slice(0, systemTokens.length)).toEqual(systemTokens);
    expect(() =>
      engine.chat(
        [
          { role: 'system', content: system.repeat(12) },
          { role: 'user', content: 'Hi' },
        ],
        { contextShift: { keep: 0 } },
      ),
    ).toThrow(ContextOverflowError);
  });

  test('a keep the context cannot honour is refused before anything runs', () => {
    expect(() => engine.generate(promptOf(10, 5), { maxTokens: 4, contextShift: { keep: CONTEXT } })).toThrow(RangeError);
    expect(() => engine.generate(promptOf(10, 5), { maxTokens: 4, contextShift: { keep: -1 } })).toThrow(RangeError);
  });
});
