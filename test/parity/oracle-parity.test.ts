// Token-for-token parity with llama.cpp (the stored oracle.json files): greedy tokens equal up to
// the first near-tie (oracle top-1 − top-2 < 0.02), and per-step top-1 probability within 0.005
// (F32/F16) or 0.03 (quantized: llama.cpp quantizes activations on its CPU path).
// The engine's default activations (auto: int8 where the device has int8 dot products, as Dawn
// does) run everywhere; the committed fixtures also run with f32 activations, the fallback path.
// The committed fixtures always run; the rest of ../shared/fixtures runs when present.
import { basename, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { localModel, haveShared, sharedPath } from '../helpers/fixtures.ts';
import type { ActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { greedySteps, openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';
import { firstNearTie, loadOracleRuns, loadOracles, localOracle, sharedOracles, type OracleEntry } from '../helpers/oracle.ts';

afterAll(releaseTestGpu);

async function checkParity(path: string, o: OracleEntry, activations?: ActivationsOption) {
  const name = basename(path);
  // The random-weight model's distribution is uniform to 1e-8: only probabilities are comparable.
  const greedyComparable = !name.startsWith('llama-2-tiny-random');
  const isFloat = /F32|F16|stories260K\.gguf|random/.test(name) && !/Q\d|TQ|I2_S/.test(name);
  const tol = isFloat ? 0.005 : 0.03;
  const engine = await openEngine(path, 128, { activations });
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
      `parity ${name} (${engine.info.activations} activations): ${matched}/${tie} greedy tokens before the first near-tie, max |Δp| ${maxDiff.toExponential(2)}`,
    );
  } finally {
    await engine.dispose();
  }
}

const committed: [string, string][] = [
  ['stories260K.gguf', 'stories260K'],
  ['stories260K-Q8_0.gguf', 'derived-quantized'],
  ['stories260K-Q4_0.gguf', 'derived-quantized'],
  ['TinyStories-656K-Q8_0.gguf', 'TinyStories-656K'],
  ['tinystories-bitnet-3M-TQ2_0.gguf', 'trained-here'],
  ['tinystories-bitnet-3M-TQ1_0.gguf', 'trained-here'],
  ['tinystories-bitnet-3M-I2_S.gguf', 'trained-here'],
  ['tinystories-llama-3M-Q4_K_M.gguf', 'trained-here'],
];

describe('parity with llama.cpp on committed fixtures', () => {
  test.each(committed)('%s', (file, group) => checkParity(localModel(file), localOracle(group, file)));
});

describe('parity with llama.cpp on committed fixtures, f32 activations', () => {
  test.each(committed)('%s', (file, group) => checkParity(localModel(file), localOracle(group, file), 'f32'));
});

describe.skipIf(!haveShared())('parity with llama.cpp on every shared fixture', () => {
  const all = sharedOracles();
  test('the shared set has oracles for the shipped models', () => expect(all.length).toBeGreaterThanOrEqual(15));
  // The committed copies are byte-identical (same sha256) and already checked above.
  const rest = all.filter((e) => !committed.some(([f]) => f === basename(e.path)));
  test.each(rest.map((e) => [basename(e.path), e] as const))('%s', (_, e) => checkParity(e.path, e.oracle));
});

// Importance-quantized files (../shared/fixtures/models/importance-quantized) whose tensor types
// all run on the GPU, on the three prompts llama.cpp was run with.
const IQ_TYPES = ['IQ4_NL', 'IQ4_XS', 'IQ3_S', 'IQ2_XXS', 'IQ3_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_S', 'IQ1_M'];
describe.skipIf(!haveShared())('parity with llama.cpp on the importance-quantized fixtures', () => {
  const dir = haveShared() ? sharedPath('models', 'importance-quantized') : '';
  const first = haveShared() ? loadOracles(join(dir, 'oracle.json')) : new Map<string, OracleEntry>();
  const more = haveShared() ? loadOracleRuns(join(dir, 'oracle-more-prompts.json')) : new Map<string, OracleEntry[]>();
  const runs = IQ_TYPES.flatMap((type) => {
    const name = `tinystories-llama-3M-${type}`;
    return [first.get(name)!, ...(more.get(name) ?? [])].map((o) => [name, o.prompt, o] as const);
  });
  test.each(runs)('%s: %s', (name, _prompt, o) => checkParity(join(dir, `${name}.gguf`), o));
});
