// A prompt's numbers must not depend on how it reaches the GPU. Prompt positions run through the
// prefill graph (the GEMM), generated ones through the decode graph (the mat-vec, int8 by
// default); the two round differently. So a prompt token that happens to be fed alone — the
// last token of a repeated prompt (the cached prefix is reused and only that token recomputed),
// or the 65th of a 65-token prompt with 64-token batches — must still take the prefill graph, or
// the same request at temperature 0 answers differently depending on what ran before it
// (`lowbit serve` repeating a request on a slot flipped "little girl" to "little boy").
import { afterAll, describe, expect, test } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import { localModel } from '../helpers/fixtures.ts';
import { greedySteps, openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';

afterAll(releaseTestGpu);

const MODEL = 'stories260K-Q4_0.gguf';

async function withEngine<T>(activations: 'f32' | 'int8', maxBatch: number, use: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine(localModel(MODEL), 128, { activations, maxBatch });
  try {
    return await use(engine);
  } finally {
    await engine.dispose();
  }
}

describe.each(['int8', 'f32'] as const)('%s activations', (activations) => {
  test('a repeated prompt (cached prefix, last token alone) gives the first run’s numbers exactly', async () => {
    const prompt = [1, 403, 407, 261, 379, 378, 398, 426];
    await withEngine(activations, 64, async (engine) => {
      expect(engine.info.activations).toBe(activations);
      const first = await greedySteps(engine, prompt, 3);
      const again = await greedySteps(engine, prompt, 3);
      // The second run recomputed only the last prompt token.
      expect(again).toEqual(first);
    });
  });

  test('a prompt fed in batches of 4 or 1 token gives the numbers of one batch', async () => {
    const prompt = [1, 403, 407, 261, 379, 378, 398, 426, 272, 305];
    const whole = await withEngine(activations, 64, (e) => greedySteps(e, prompt, 3));
    // 10 tokens in batches of 4: 4 + 4 + 2; in batches of 3: 3 + 3 + 3 + 1 (the last alone).
    for (const maxBatch of [4, 3]) {
      const split = await withEngine(activations, maxBatch, (e) => greedySteps(e, prompt, 3));
      expect(split, `batches of ${maxBatch}`).toEqual(whole);
    }
  });
});
