// Prefill with int8 activations (the int8 GEMM, src/kernels/matmul-q8.ts, as KernelVariants.gemm8
// or autotune chooses it) against prefill with the f32 GEMM, both decoding with int8 activations: the same greedy tokens from a prompt that takes
// the prefill path (several tokens in one step), and the first step's probabilities within the
// parity bound (0.03, as against llama.cpp).
import { afterAll, expect, test } from 'vitest';
import type { KernelVariants } from '../../src/kernels/autotune.ts';
import { int8GemmTileCandidates } from '../../src/kernels/matmul-q8.ts';
import { hasInt8MatVec } from '../../src/kernels/matvec-q8.ts';
import { gpuQuantTypes } from '../../src/quant/table.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { greedySteps, openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

afterAll(() => releaseTestGpu());

/** Every int8 type's prefill on the int8 GEMM (its default tile); without it, the f32 GEMM. */
async function int8Prefill(): Promise<KernelVariants> {
  const ctx = await testGpu();
  const types = gpuQuantTypes().filter((t) => hasInt8MatVec(t.id));
  return { gemm8: Object.fromEntries(types.map((t) => [t.id, int8GemmTileCandidates(ctx, t.id)[0]!])) };
}

async function run(path: string, variants?: KernelVariants) {
  const engine = await openEngine(path, 128, { activations: 'int8', kernelVariants: variants, autotune: 'off' });
  try {
    const prompt = engine.encodePrompt('Once upon a time, there was a little girl named Lily. She loved to');
    expect(prompt.length).toBeGreaterThan(8);
    return await greedySteps(engine, prompt, 8);
  } finally {
    await engine.dispose();
  }
}

test.each([
  ['llama Q4_K_M', demoModel],
  ['bitnet I2_S', localModel('tinystories-bitnet-3M-I2_S.gguf')],
])('%s: int8 prefill gives the greedy tokens of f32 prefill', { timeout: 600_000 }, async (_n, path) => {
  const int8 = await run(path, await int8Prefill());
  const f32 = await run(path);
  expect(int8.map((s) => s.token)).toEqual(f32.map((s) => s.token));
  // The int8 GEMM ran: quantized activations move the probabilities a little.
  expect(int8[0]!.top).not.toEqual(f32[0]!.top);
  // The first token comes from the prefill step alone: its top-5 probabilities within 0.03.
  const p = new Map(f32[0]!.top);
  for (const [id, prob] of int8[0]!.top) if (p.has(id)) expect(Math.abs(prob - p.get(id)!), `token ${id}`).toBeLessThan(0.03);
});
