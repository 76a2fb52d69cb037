/**
 * Parity at scale with llama.cpp (issue 10 item 3): teacher-forced on a fixed 256-token sequence,
 * lowbit's logits at every position against llama.cpp's (live, through node-llama-cpp), for the
 * generated scale shapes and their F32 twins (the same weight values dequantized to F32).
 *
 * Measured: mean KL(llama.cpp ‖ lowbit) over all positions, top-1 agreement wherever llama.cpp's
 * top-1 probability leads its second by more than 0.02, and the largest |Δp| of llama.cpp's top-1.
 * Bounds: KL ≤ 1e-2 on quantized weights, ≤ 1e-4 on the F32 twin, whose |Δp| stays ≤ 5e-3.
 *
 * `npm test` runs the SmolLM2-135M Q4_K_M shape; `npm run test:scale` (LOWBIT_TEST_SCALE=1) adds
 * the larger shapes and the int8-activation runs, which take minutes each on a software GPU.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import type { ActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { KlAccumulator, logSumExp } from '../../src/runtime/quality.ts';
import { generateScaleModel, scaleModelDir } from '../../scripts/scale-models/generate.ts';
import { recipeByName } from '../../scripts/scale-models/recipes.ts';
import { writeF32Twin } from '../helpers/f32-twin.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';
import { llamaAllLogits } from '../helpers/llama-oracle.ts';
import { rng } from '../helpers/random.ts';

const PROMPT_TOKENS = 256;
/** Top-1 must agree wherever llama.cpp's top-1 probability exceeds its top-2's by more than this. */
const MARGIN = 0.02;
const KL_BOUND_QUANTIZED = 1e-2;
const KL_BOUND_FLOAT = 1e-4;
const DELTA_P_BOUND_TWIN = 5e-3;
/**
 * Share of decisive positions whose top-1 must agree on quantized weights. Not all: llama.cpp's CPU
 * path rounds activations to 8 bits before every quantized mat-vec and lowbit's f32 path does not;
 * over 30 layers that flips a few (5 of 216 measured on the 135M Q4_K_M shape), while on the F32
 * twin, the same weight values, every decisive position agrees.
 */
const MIN_AGREEMENT_QUANTIZED = 0.95;

/**
 * The shapes run under `npm run test:scale` only: the 135M shape alone took 11.5 minutes of a
 * loaded 2-core machine (three 256-token evaluations on a software GPU, two through llama.cpp and
 * a 540 MB F32 twin), more than `npm test`'s whole budget. `npm test` keeps the parity figures'
 * unit tests here, the 135M shape's generation and decode (scale-models.test.ts) and its browser
 * run (e2e/demo-scale-135m.test.ts).
 */
const runLarger = process.env.LOWBIT_TEST_SCALE === '1';
const SHAPES = runLarger ? ['smollm2-135m-Q4_K_M'] : [];
const LARGER_SHAPES = ['smollm2-135m-Q8_0', 'qwen2.5-0.5b-Q4_K_M'];

interface ParityFigures {
  positions: number;
  meanKl: number;
  maxKl: number;
  /** Largest |p_lowbit − p_llama| of llama.cpp's top-1 token over all positions. */
  maxAbsDeltaP: number;
  /** Positions where llama.cpp's top-1 − top-2 > MARGIN, and how many of them lowbit's top-1 matches. */
  decisive: number;
  agreeing: number;
}

/** The figures of lowbit's logits against llama.cpp's, both `rows` × `vocab`. */
function parityFigures(llama: Float32Array, lowbit: Float32Array, vocab: number): ParityFigures {
  const rows = llama.length / vocab;
  const llamaTop = new Int32Array(rows);
  let decisive = 0;
  let agreeing = 0;
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    const { lse, argmax } = logSumExp(llama, off, vocab);
    llamaTop[r] = argmax;
    let second = -Infinity;
    for (let i = 0; i < vocab; i++) if (i !== argmax && llama[off + i]! > second) second = llama[off + i]!;
    const margin = Math.exp(llama[off + argmax]! - lse) - Math.exp(second - lse);
    if (margin > MARGIN) {
      decisive++;
      if (logSumExp(lowbit, off, vocab).argmax === argmax) agreeing++;
    }
  }
  // Scoring llama.cpp's own top-1 makes the accumulator's Δp the change in that token's probability.
  const kl = new KlAccumulator();
  kl.add(llama, lowbit, llamaTop, vocab);
  const rep = kl.report();
  return {
    positions: rows,
    meanKl: rep.kld.mean,
    maxKl: rep.kld.max,
    maxAbsDeltaP: Math.max(Math.abs(rep.deltaP.max), Math.abs(rep.deltaP.min)),
    decisive,
    agreeing,
  };
}

/** A fixed teacher-forcing sequence: pseudo-random ids past the special tokens, the same every run. */
function promptTokens(vocab: number): number[] {
  const next = rng(0x5ca1e);
  return Array.from({ length: PROMPT_TOKENS }, () => 256 + Math.floor(next() * (vocab - 256)));
}

/**
 * lowbit's logits at every position of `tokens`. int8 activations are read by the decode graph's
 * mat-vecs only, so that run goes one token per step (maxBatch 1); the LM head over each step's
 * rows reads f32 in both.
 */
async function lowbitLogits(path: string, tokens: number[], activations: ActivationsOption, gpu?: GpuContext): Promise<Float32Array> {
  const maxBatch = activations === 'int8' ? 1 : undefined;
  const engine = await openEngine(path, PROMPT_TOKENS, { activations, maxBatch, evaluation: { allLogits: true }, gpu });
  try {
    const evaluator = engine.evaluator();
    const vocab = evaluator.vocabSize;
    const logits = new Float32Array(tokens.length * vocab);
    await evaluator.evaluate(tokens, (r) => logits.set(r.logits, r.pos0 * vocab));
    evaluator.destroy();
    return logits;
  } finally {
    await engine.dispose();
  }
}

function describeFigures(label: string, f: ParityFigures): string {
  return (
    `${label}: mean KL ${f.meanKl.toExponential(2)} (max ${f.maxKl.toExponential(2)}), ` +
    `top-1 agreement ${f.agreeing}/${f.decisive} where margin > ${MARGIN}, max |Δp| ${f.maxAbsDeltaP.toExponential(2)} over ${f.positions} positions`
  );
}

describe('parityFigures', () => {
  const vocab = 4;
  it('identical logits: zero KL and Δp, every decisive position agrees; a near tie is not decisive', () => {
    // Row 0 is decisive (p ≈ 0.64 vs 0.24), row 1 a near tie (0.5 vs 0.49).
    const llama = Float32Array.from([2, 1, 0, -1, Math.log(0.5), Math.log(0.49), Math.log(0.005), Math.log(0.005)]);
    const f = parityFigures(llama, llama, vocab);
    expect(f).toMatchObject({ positions: 2, decisive: 1, agreeing: 1 });
    expect(f.meanKl).toBeCloseTo(0, 12);
    expect(f.maxAbsDeltaP).toBeCloseTo(0, 12);
  });

  it("a flipped top-1 counts as a disagreement, with KL and |Δp| of llama.cpp's top-1 as computed by hand", () => {
    const llama = Float32Array.from([Math.log(0.7), Math.log(0.1), Math.log(0.1), Math.log(0.1)]);
    const lowbit = Float32Array.from([Math.log(0.1), Math.log(0.7), Math.log(0.1), Math.log(0.1)]);
    const f = parityFigures(llama, lowbit, vocab);
    expect(f).toMatchObject({ positions: 1, decisive: 1, agreeing: 0 });
    expect(f.meanKl).toBeCloseTo(0.7 * Math.log(7) + 0.1 * Math.log(1 / 7), 6);
    expect(f.maxAbsDeltaP).toBeCloseTo(0.6, 6);
  });
});

const parityShapes = [...SHAPES, ...(runLarger ? LARGER_SHAPES : [])];

// Registered only under test:scale (an empty suite is an error, not a skip).
if (parityShapes.length > 0)
  describe('parity at scale with llama.cpp (teacher-forced, 256 tokens)', () => {
    const pool = new NodeQuantizePool();
    afterAll(async () => {
      await pool.close();
      await releaseTestGpu();
    });

    for (const name of parityShapes) {
      it(
        `${name}: the same under default limits (|Δp| ≤ 1e-5); KL ≤ ${KL_BOUND_QUANTIZED}, decisive top-1 ≥ ${MIN_AGREEMENT_QUANTIZED * 100}% agree; its F32 twin: KL ≤ ${KL_BOUND_FLOAT}, |Δp| ≤ ${DELTA_P_BOUND_TWIN}, all agree`,
        { timeout: 3_600_000 },
        async () => {
          const dir = scaleModelDir(repoRoot);
          mkdirSync(dir, { recursive: true });
          const recipe = recipeByName(name)!;
          const { path } = await generateScaleModel(recipe, dir, pool);
          const twin = await writeF32Twin(path, join(dir, `${name}-F32-twin.gguf`));
          const vocab = recipe.vocab;
          const tokens = promptTokens(vocab);

          // Attention in F32 on both sides: llama.cpp's F16 KV cache and flash attention are not what is measured here.
          const llamaQuant = await llamaAllLogits(path, tokens, vocab, { f32Attention: true });
          const adapterLogits = await lowbitLogits(path, tokens, 'f32');
          const quant = parityFigures(llamaQuant, adapterLogits, vocab);
          console.log(describeFigures(`${name} (f32 activations)`, quant));

          // Under WebGPU's default limits (128 MiB bindings, what every browser guarantees) the model
          // gives the same distribution at every position as under the adapter's limits.
          const defaultGpu = await requestNodeGpu({ warn: null, limits: 'default' });
          let underDefault: Float32Array;
          try {
            underDefault = await lowbitLogits(path, tokens, 'f32', defaultGpu);
          } finally {
            defaultGpu.device.destroy();
          }
          const limitsFigures = parityFigures(adapterLogits, underDefault, vocab);
          console.log(describeFigures(`${name} default limits vs adapter limits`, limitsFigures));

          const llamaTwin = await llamaAllLogits(twin, tokens, vocab, { f32Attention: true });
          const twinFigures = parityFigures(llamaTwin, await lowbitLogits(twin, tokens, 'f32'), vocab);
          console.log(describeFigures(`${name} F32 twin`, twinFigures));

          expect(limitsFigures.maxAbsDeltaP).toBeLessThanOrEqual(1e-5);
          expect(limitsFigures.agreeing).toBe(limitsFigures.decisive);
          expect(quant.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
          expect(quant.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * quant.decisive);
          // One token per step for 256 positions: minutes on a software GPU, so only in test:scale.
          if (runLarger) {
            const int8 = parityFigures(llamaQuant, await lowbitLogits(path, tokens, 'int8'), vocab);
            console.log(describeFigures(`${name} (int8 activations)`, int8));
            expect(int8.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
            expect(int8.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * int8.decisive);
          }
          expect(twinFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_FLOAT);
          expect(twinFigures.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_TWIN);
          expect(twinFigures.agreeing).toBe(twinFigures.decisive);
          // The comparison means something only if many positions are decisive.
          expect(twinFigures.decisive).toBeGreaterThan(PROMPT_TOKENS / 4);
        },
      );
    }
  });
