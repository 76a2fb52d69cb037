/**
 * Parity at scale with llama.cpp (issue 10 item 3): teacher-forced on a fixed token sequence,
 * lowbit's logits at every position against llama.cpp's (live, through node-llama-cpp), for the
 * generated scale shapes and their F32 twins (the same weight values dequantized to F32).
 *
 * Measured: mean KL(llama.cpp ‖ lowbit) over all positions, top-1 agreement wherever llama.cpp's
 * top-1 probability leads its second by more than 0.02, and the largest |Δp| of llama.cpp's top-1.
 * Bounds: KL ≤ 1e-2 on quantized weights, ≤ 1e-4 on the F32 twin, whose |Δp| stays ≤ 5e-3.
 * Each phase logs its wall and CPU seconds.
 *
 * `npm test` runs the SmolLM2-135M Q4_K_M shape (PLANS_NPM_TEST); `npm run test:scale`
 * (LOWBIT_TEST_SCALE=1) runs that shape over the full 256 tokens with the int8-activation
 * run, then the larger shapes (PLANS_SCALE; LOWBIT_SCALE_SHAPES=name,… picks some of them), each
 * also with ggml activations (llama.cpp's own rounding; 39 CPU-seconds more on the 135M shape
 * over 64 tokens, over the 30 npm test allows it, so test:scale only).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { generateScaleModel, scaleModelDir } from '../../scripts/scale-models/generate.ts';
import { recipeByName } from '../../scripts/scale-models/recipes.ts';
import { writeF32Twin } from '../helpers/f32-twin.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { releaseTestGpu } from '../helpers/gpu-engine.ts';
import { llamaAllLogits } from '../helpers/llama-oracle.ts';
import {
  describeFigures,
  exactLead,
  lowbitLogits,
  parityFigures,
  promptTokens,
  scaleShapeSelected,
  scaleTokenCount,
  timed,
} from '../helpers/scale-parity.ts';

const KL_BOUND_QUANTIZED = 1e-2;
const KL_BOUND_FLOAT = 1e-4;
const DELTA_P_BOUND_TWIN = 5e-3;
/** lowbit under WebGPU's default limits against lowbit under the adapter's. */
const DELTA_P_BOUND_LIMITS = 1e-5;
/**
 * Share of decisive positions whose top-1 must agree on quantized weights. Not all: llama.cpp's CPU
 * path rounds activations to 8 bits before every quantized mat-vec and lowbit's f32 path does not;
 * over 30 layers that flips a few (5 of 216 measured on the 135M Q4_K_M shape), while on the F32
 * twin, the same weight values, every decisive position agrees.
 */
const MIN_AGREEMENT_QUANTIZED = 0.95;

/** What one parity test of a shape runs. */
interface ParityPlan {
  name: string;
  /** Teacher-forced positions compared with llama.cpp (quantized file and its F32 twin). */
  tokens: number;
  /**
   * The first positions also run under WebGPU's default limits and compared with the adapter-limits
   * run. lowbit against itself: a kernel or binding split that differs shows at every position.
   */
  limitsTokens: number;
  /** Also the F32 twin against llama.cpp's on it. */
  twin: boolean;
  /** Also lowbit with int8 activations (one token per step: minutes on a software GPU). */
  int8: boolean;
  /**
   * Also lowbit with ggml activations (each linear's input rounded as llama.cpp's CPU backend
   * rounds it), held to the quantized bounds: the comparison the bound is about.
   */
  ggml: boolean;
}

/** The 256 tokens, or LOWBIT_SCALE_TOKENS. */
const scaleTokens = scaleTokenCount(256);
const FULL = { tokens: scaleTokens, limitsTokens: scaleTokens, twin: true, int8: false, ggml: true };

/**
 * `npm test`: the 135M Q4_K_M shape over 64 tokens (one prefill step) with every check and bound of
 * the 256-token run. Measured in CPU seconds (all threads, llama.cpp and SwiftShader included) on
 * the shared 2-core machine: 111 in all — llama.cpp 2.6 + 3.2 (twin); lowbit 40.5 (16 of it
 * loading: pipelines are compiled per device), 39.3 again under default limits, 24.3 on the twin.
 * One lowbit run over 256 tokens costs 116 (load included), and the test makes three.
 */
const PLANS_NPM_TEST: ParityPlan[] = [{ name: 'smollm2-135m-Q4_K_M', tokens: 64, limitsTokens: 64, twin: true, int8: false, ggml: false }];

/** `npm run test:scale`: every shape llama.cpp loads, on the 256 tokens (LOWBIT_SCALE_TOKENS to change). */
const PLANS_SCALE: ParityPlan[] = [
  { name: 'smollm2-135m-Q4_K_M', ...FULL, int8: true },
  { name: 'smollm2-135m-Q8_0', ...FULL },
  { name: 'smollm2-360m-Q4_K_M', ...FULL },
  { name: 'qwen2.5-0.5b-Q4_K_M', ...FULL },
  { name: 'qwen3-0.6b-Q8_0', ...FULL },
  { name: 'llama-3.2-1b-Q4_K_M', ...FULL },
];

function selectedPlans(): ParityPlan[] {
  return process.env.LOWBIT_TEST_SCALE === '1' ? PLANS_SCALE.filter((p) => scaleShapeSelected(p.name)) : PLANS_NPM_TEST;
}

describe('parityFigures', () => {
  const vocab = 4;
  it('identical logits: zero KL and Δp, every decisive position agrees; a near tie is not decisive', () => {
    // Row 0 is decisive (p ≈ 0.64 vs 0.24), row 1 a near tie (0.5 vs 0.49).
    const llama = Float32Array.from([2, 1, 0, -1, Math.log(0.5), Math.log(0.49), Math.log(0.005), Math.log(0.005)]);
    const f = parityFigures(llama, llama, vocab);
    expect(f).toMatchObject({ positions: 2, decisive: 1, agreeing: 1, misses: [] });
    expect(f.meanKl).toBeCloseTo(0, 12);
    expect(f.maxAbsDeltaP).toBeCloseTo(0, 12);
  });

  it("a flipped top-1 counts as a disagreement, with KL and |Δp| of llama.cpp's top-1 as computed by hand", () => {
    const llama = Float32Array.from([Math.log(0.7), Math.log(0.1), Math.log(0.1), Math.log(0.1)]);
    const lowbit = Float32Array.from([Math.log(0.1), Math.log(0.7), Math.log(0.1), Math.log(0.1)]);
    const f = parityFigures(llama, lowbit, vocab);
    expect(f).toMatchObject({ positions: 1, decisive: 1, agreeing: 0, misses: [{ pos: 0 }] });
    expect(f.misses[0]!.llamaMargin).toBeCloseTo(0.6, 6);
    expect(f.misses[0]!.lowbitMargin).toBeCloseTo(0.6, 6);
    expect(f.meanKl).toBeCloseTo(0.7 * Math.log(7) + 0.1 * Math.log(1 / 7), 6);
    expect(f.maxAbsDeltaP).toBeCloseTo(0.6, 6);
  });
});

const plans = selectedPlans();

// Registered only when there are shapes (an empty suite is an error, not a skip).
if (plans.length > 0)
  describe('parity at scale with llama.cpp (teacher-forced)', () => {
    const pool = new NodeQuantizePool();
    afterAll(async () => {
      await pool.close();
      await releaseTestGpu();
    });

    for (const plan of plans) {
      const { name } = plan;
      it(
        `${name}, ${plan.tokens} tokens: KL ≤ ${KL_BOUND_QUANTIZED}, decisive top-1 ≥ ${MIN_AGREEMENT_QUANTIZED * 100}% agree; ` +
          `the first ${plan.limitsTokens} the same under default limits (|Δp| ≤ ${DELTA_P_BOUND_LIMITS})` +
          (plan.twin ? `; its F32 twin: KL ≤ ${KL_BOUND_FLOAT}, |Δp| ≤ ${DELTA_P_BOUND_TWIN}, all agree` : ''),
        { timeout: 3_600_000 },
        async () => {
          const dir = scaleModelDir(repoRoot);
          mkdirSync(dir, { recursive: true });
          const recipe = recipeByName(name)!;
          const { path } = await timed(`${name} generate`, () => generateScaleModel(recipe, dir, pool));
          const vocab = recipe.vocab;
          const tokens = promptTokens(vocab, plan.tokens);

          // Attention in F32 on both sides: llama.cpp's F16 KV cache and flash attention are not what is measured here.
          const llamaQuant = await timed(`${name} llama.cpp`, () => llamaAllLogits(path, tokens, vocab, { f32Attention: true }));
          const adapterLogits = await timed(`${name} lowbit`, () => lowbitLogits(path, tokens, 'f32'));
          const quant = parityFigures(llamaQuant, adapterLogits, vocab);
          console.log(describeFigures(`${name} (f32 activations)`, quant));

          // Under WebGPU's default limits (128 MiB bindings, what every browser guarantees) the model
          // gives the same distribution at every position as under the adapter's limits.
          const limitsTokens = tokens.slice(0, plan.limitsTokens);
          const defaultGpu = await requestNodeGpu({ warn: null, limits: 'default' });
          let underDefault: Float32Array;
          try {
            underDefault = await timed(`${name} lowbit default limits`, () => lowbitLogits(path, limitsTokens, 'f32', defaultGpu));
          } finally {
            defaultGpu.device.destroy();
          }
          const limitsFigures = parityFigures(adapterLogits.subarray(0, limitsTokens.length * vocab), underDefault, vocab);
          console.log(describeFigures(`${name} default limits vs adapter limits`, limitsFigures));

          // Soft: a quantized shape over its bound still runs its F32 twin below, the figure that
          // says whether the gap is lowbit's forward pass or llama.cpp's activation rounding.
          expect.soft(limitsFigures.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_LIMITS);
          expect.soft(limitsFigures.agreeing).toBe(limitsFigures.decisive);
          // With a ggml run (below) the quantized bound is judged there, on the run that rounds
          // activations as llama.cpp does; the f32 run's gap is llama.cpp's rounding (the twin shows
          // lowbit's own error) and is logged above. Without one, the f32 run is held to it.
          if (!plan.ggml) {
            expect.soft(quant.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
            expect.soft(quant.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * quant.decisive);
          }
          // The comparison means something only if many positions are decisive.
          expect.soft(quant.decisive).toBeGreaterThan(plan.tokens / 4);

          if (plan.ggml) {
            const ggmlLogits = await timed(`${name} lowbit ggml`, () => lowbitLogits(path, tokens, 'ggml'));
            const ggml = parityFigures(llamaQuant, ggmlLogits, vocab);
            console.log(describeFigures(`${name} (ggml activations)`, ggml));
            console.log(
              `${name} ggml: the first ${exactLead(llamaQuant, ggmlLogits, vocab)} positions match to f32 noise ` +
                `(f32 activations: ${exactLead(llamaQuant, adapterLogits, vocab)})`,
            );
            expect.soft(ggml.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
            expect.soft(ggml.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * ggml.decisive);
          }

          if (plan.int8) {
            const int8Logits = await timed(`${name} lowbit int8`, () => lowbitLogits(path, tokens, 'int8'));
            const int8 = parityFigures(llamaQuant, int8Logits, vocab);
            console.log(describeFigures(`${name} (int8 activations)`, int8));
            expect.soft(int8.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
            expect.soft(int8.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * int8.decisive);
          }

          if (plan.twin) {
            const twin = await timed(`${name} F32 twin written`, () => writeF32Twin(path, join(dir, `${name}-F32-twin.gguf`)));
            const llamaTwin = await timed(`${name} llama.cpp F32 twin`, () => llamaAllLogits(twin, tokens, vocab, { f32Attention: true }));
            const lowbitTwin = await timed(`${name} lowbit F32 twin`, () => lowbitLogits(twin, tokens, 'f32'));
            const twinFigures = parityFigures(llamaTwin, lowbitTwin, vocab);
            console.log(describeFigures(`${name} F32 twin`, twinFigures));
            // llama.cpp against itself on the same weight values: the share of the quantized gap that
            // its activation rounding makes (about all of it when the twin above agrees).
            console.log(describeFigures(`${name} llama.cpp quantized vs llama.cpp F32 twin`, parityFigures(llamaQuant, llamaTwin, vocab)));
            expect(twinFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_FLOAT);
            expect(twinFigures.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_TWIN);
            expect(twinFigures.agreeing).toBe(twinFigures.decisive);
            expect(twinFigures.decisive).toBeGreaterThan(plan.tokens / 4);
          }
        },
      );
    }
  });
