// Parity with llama.cpp's stored oracles (test/parity/oracle-parity.test.ts, and the kernel variants
// autotune can pick in test/kernels/autotune-parity.test.ts).
import { basename } from 'node:path';
import { expect } from 'vitest';
import { greedySteps, openEngine, type OpenEngineOptions } from './gpu-engine.ts';
import { firstNearTie, type OracleEntry } from './oracle.ts';

/**
 * Greedy generation against a llama.cpp oracle: tokens equal up to the first near-tie, the top-1
 * probability within 0.005 (F32/F16) or 0.03 (quantized), loaded with `options` (activations,
 * forced kernel variants).
 */
export async function checkParity(path: string, o: OracleEntry, options: OpenEngineOptions = {}): Promise<void> {
  const name = basename(path);
  // The random-weight model's distribution is uniform to 1e-8: only probabilities are comparable.
  const greedyComparable = !name.startsWith('llama-2-tiny-random');
  const isFloat = /F32|F16|stories260K\.gguf|random/.test(name) && !/Q\d|TQ|I2_S/.test(name);
  const tol = isFloat ? 0.005 : 0.03;
  const engine = await openEngine(path, 128, options);
  try {
    // The prompt tokenizes exactly as llama.cpp did.
    expect(engine.encodePrompt(o.prompt)).toEqual(o.promptTokens);
    const n = o.outTokens.length;
    const steps = await greedySteps(engine, o.promptTokens, n);
    const tie = greedyComparable ? firstNearTie(o) : 0;
    let matched = 0;
    let maxDiff = 0;
    for (let i = 0; i < Math.min(steps.length, o.steps.length); i++) {
      if (i < tie) {
        expect(steps[i]!.token, `${name} step ${i}`).toBe(o.outTokens[i]);
        matched++;
      }
      if (steps[i]!.token !== o.outTokens[i]) break; // past a divergence the contexts differ
      const [oid, op] = o.steps[i]!.top[0]!;
      const ours = steps[i]!.top.find(([id]) => id === oid)?.[1] ?? 0;
      maxDiff = Math.max(maxDiff, Math.abs(ours - op));
    }
    expect(maxDiff, `${name} max |Δp| of llama.cpp's top-1`).toBeLessThan(tol);
    console.log(
      `parity ${name} (${engine.info.activations} activations, ${engine.info.kernels?.source ?? 'default'} kernels): ${matched}/${tie} greedy tokens before the first near-tie, max |Δp| ${maxDiff.toExponential(2)}`,
    );
  } finally {
    await engine.dispose();
  }
}
