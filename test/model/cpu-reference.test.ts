// The CPU reference forward pass must itself agree with llama.cpp before GPU results are judged
// against it: greedy tokens up to the first near-tie and top-1 probabilities within tolerance.
import { describe, expect, test } from 'vitest';
import { argmax, CpuModel, softmax } from '../helpers/cpu-forward.ts';
import { localModel } from '../helpers/fixtures.ts';
import { firstNearTie, localOracle } from '../helpers/oracle.ts';

const cases: [string, string, number][] = [
  ['stories260K.gguf', 'stories260K', 0.005],
  ['TinyStories-656K-Q8_0.gguf', 'TinyStories-656K', 0.03],
  ['tinystories-bitnet-3M-TQ2_0.gguf', 'trained-here', 0.03],
  ['tinystories-llama-3M-Q4_K_M.gguf', 'trained-here', 0.03],
];

describe.each(cases)('CPU reference forward: %s', (file, group, tol) => {
  test('matches llama.cpp greedy tokens and top-1 probabilities', async () => {
    const o = localOracle(group, file);
    const m = await CpuModel.load(localModel(file));
    let logits!: Float32Array;
    for (const t of o.promptTokens) logits = m.step(t);
    const greedySteps = firstNearTie(o);
    const n = Math.min(o.outTokens.length, 12);
    for (let i = 0; i < n; i++) {
      const [t1, p1] = o.steps[i]!.top[0]!;
      expect(Math.abs(softmax(logits)[t1]! - p1), `step ${i} top-1 prob`).toBeLessThan(tol);
      if (i < greedySteps) expect(argmax(logits), `step ${i} token`).toBe(o.outTokens[i]);
      logits = m.step(o.outTokens[i]!); // teacher-forced: always follow llama.cpp's tokens
    }
  });
});
