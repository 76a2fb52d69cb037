// Token-for-token parity with llama.cpp (the stored oracle.json files): greedy tokens equal up to
// the first near-tie (oracle top-1 − top-2 < 0.02), and per-step top-1 probability within 0.005
// (F32/F16) or 0.03 (quantized: llama.cpp quantizes activations on its CPU path).
// The engine's default activations (auto: int8 where the device has int8 dot products, as Dawn
// does) run everywhere; the committed fixtures also run with f32 activations, the fallback path.
// The committed fixtures always run; the rest of ../shared/fixtures runs when present.
import { basename, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { localModel, haveShared, sharedPath } from '../helpers/fixtures.ts';
import { releaseTestGpu } from '../helpers/gpu-engine.ts';
import { loadOracleRuns, loadOracles, localOracle, sharedOracles, type OracleEntry } from '../helpers/oracle.ts';
import { checkParity } from '../helpers/parity.ts';

afterAll(releaseTestGpu);

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
  test.each(committed)('%s', (file, group) => checkParity(localModel(file), localOracle(group, file), { activations: 'f32' }));
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
