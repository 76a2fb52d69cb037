/**
 * The BitNet b1.58 2B4T shape (issue 10 item 3), under `npm run test:scale` only: its two files are
 * 1.2 GB each and a 2.4B-parameter prefill takes minutes on a software GPU.
 *
 * - The I2_S file (as published) and its TQ2_0 twin hold the same ternary values, so lowbit must give
 *   the same logits from both, although their kernels differ (I2_S: one f32 scale per tensor, 2-bit
 *   codes in 128-byte interleaved blocks; TQ2_0: an f16 scale per 256 values).
 * - llama.cpp does not load the `bitnet-b1.58` architecture (2B4T's squared-ReLU feed-forward) but
 *   runs `bitnet`: the same blocks, tensors and sub-norms with a SiLU-gated feed-forward. The TQ2_0
 *   file relabelled `bitnet` compares lowbit's TQ2_0 kernels, sub-norms, F16 tied head split
 *   across bindings and 128k vocabulary at this size with llama.cpp, teacher-forced.
 *
 * Its F32 twin (9.7 GB) is read by llama.cpp only, which maps it (peak RSS 10.1 GB), and deleted
 * after: lowbit's TQ2_0 run with f32 activations computes with the same values, so it is compared
 * with llama.cpp on the twin directly.
 *
 * Measured over 32 tokens (16 for I2_S): I2_S against TQ2_0 |Δp| 6.2e-6, mean KL 2e-9, 11/11 agree.
 * TQ2_0 as bitnet against llama.cpp: 19/19 agree but mean KL 2.10e-2, over the 1e-2 bound, and
 * that assertion fails: the gap is llama.cpp's own. On its F32 twin llama.cpp and lowbit's TQ2_0
 * run agree to mean KL 1.3e-9 (|Δp| 5.8e-6, 26/26), while llama.cpp's TQ2_0 run is 2.11e-2 from
 * its own twin: its CPU path rounds activations to 8 bits (Q8_K) before every ternary mat-vec. The
 * reduced-depth shapes below measure all of it with lowbit on the twin as well. CPU-seconds: lowbit
 * 367 per 32-token run (load 34), llama.cpp 7 (TQ2_0) and 12 (twin), writing the twin 27.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { generateScaleModel, scaleModelDir } from '../../scripts/scale-models/generate.ts';
import { planRecipe, recipeByName } from '../../scripts/scale-models/recipes.ts';
import { writeArchitectureTwin, writeF32Twin } from '../helpers/f32-twin.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { releaseTestGpu } from '../helpers/gpu-engine.ts';
import { llamaAllLogits } from '../helpers/llama-oracle.ts';
import {
  describeFigures,
  lowbitLogits,
  parityFigures,
  promptTokens,
  scaleShapeSelected,
  scaleTokenCount,
  timed,
} from '../helpers/scale-parity.ts';

/** Teacher-forced positions (LOWBIT_SCALE_TOKENS to change): fewer than the smaller shapes' 256, each costs seconds of CPU here. */
const TOKENS = scaleTokenCount(32);
const KL_BOUND_QUANTIZED = 1e-2;
const KL_BOUND_FLOAT = 1e-4;
const DELTA_P_BOUND_TWIN = 5e-3;
const MIN_AGREEMENT_QUANTIZED = 0.95;
/** I2_S against TQ2_0: the same values through other kernels, so only the summation order differs. */
const DELTA_P_BOUND_SAME_VALUES = 1e-5;

// What the comparison below rests on, checked in every run: the two files differ only in the
// encoding of their ternary weights.
it("the TQ2_0 twin's recipe is the I2_S recipe but for its file type (same shapes, seed and tensors)", () => {
  const { name: i2sName, fileType: i2sType, publishedBytes, ...i2sRest } = recipeByName('bitnet-2b4t-I2_S')!;
  const { name: tq2Name, fileType: tq2Type, ...tq2Rest } = recipeByName('bitnet-2b4t-TQ2_0')!;
  expect([i2sName, i2sType, tq2Name, tq2Type]).toEqual(['bitnet-2b4t-I2_S', 'I2_S', 'bitnet-2b4t-TQ2_0', 'TQ2_0']);
  expect(publishedBytes).toBeGreaterThan(0);
  expect(tq2Rest).toEqual(i2sRest);
});

// What the reduced-depth measurement rests on: the cuts are the full TQ2_0 shape's first layers,
// with its embedding, widths and planned types.
it('the 2- and 4-layer cuts are the 2B4T TQ2_0 recipe but for depth: their tensors are its first ones, typed alike', () => {
  const full = recipeByName('bitnet-2b4t-TQ2_0')!;
  const fullPlan = new Map(planRecipe(full).map((p) => [p.name, p]));
  for (const [name, nLayer] of [
    ['bitnet-2b4t-2L-TQ2_0', 2],
    ['bitnet-2b4t-4L-TQ2_0', 4],
  ] as const) {
    const { name: cutName, model, nLayer: cutLayers, ...cutRest } = recipeByName(name)!;
    const { name: _fullName, model: _fullModel, nLayer: fullLayers, ...fullRest } = full;
    expect([cutName, model, cutLayers, fullLayers]).toEqual([name, `${full.model}, first ${nLayer} layers`, nLayer, 30]);
    expect(cutRest).toEqual(fullRest);
    const cutPlan = planRecipe(recipeByName(name)!);
    expect(cutPlan).toHaveLength(2 + 11 * nLayer);
    for (const p of cutPlan) expect(fullPlan.get(p.name)).toEqual(p);
  }
});

// The shape's own suite is registered only under test:scale.
if (scaleShapeSelected('bitnet-2b4t-I2_S') || scaleShapeSelected('bitnet-2b4t-TQ2_0'))
  describe('the BitNet b1.58 2B4T shape', () => {
    const pool = new NodeQuantizePool();
    afterAll(async () => {
      await pool.close();
      await releaseTestGpu();
    });

    const dir = scaleModelDir(repoRoot);
    const i2s = recipeByName('bitnet-2b4t-I2_S')!;
    const tq2 = recipeByName('bitnet-2b4t-TQ2_0')!;
    const vocab = i2s.vocab;
    const tokens = promptTokens(vocab, TOKENS);
    const generate = async (name: string) => {
      mkdirSync(dir, { recursive: true });
      return (await timed(`${name} generate`, () => generateScaleModel(recipeByName(name)!, dir, pool))).path;
    };

    it(
      `I2_S gives lowbit the logits of its TQ2_0 twin (|Δp| ≤ ${DELTA_P_BOUND_SAME_VALUES}, ${TOKENS} tokens)`,
      { timeout: 7_200_000 },
      async () => {
        const i2sPath = await generate(i2s.name);
        const tq2Path = await generate(tq2.name);
        const fromTq2 = await timed('bitnet-2b4t-TQ2_0 lowbit', () => lowbitLogits(tq2Path, tokens, 'f32'));
        const fromI2s = await timed('bitnet-2b4t-I2_S lowbit', () => lowbitLogits(i2sPath, tokens, 'f32'));
        const sameValues = parityFigures(fromTq2, fromI2s, vocab);
        console.log(describeFigures('bitnet-2b4t I2_S vs its TQ2_0 twin (lowbit both)', sameValues));
        expect(sameValues.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_SAME_VALUES);
        expect(sameValues.agreeing).toBe(sameValues.decisive);
      },
    );

    it(
      `TQ2_0 relabelled as llama.cpp's bitnet: against llama.cpp on its F32 twin KL ≤ ${KL_BOUND_FLOAT}, |Δp| ≤ ${DELTA_P_BOUND_TWIN}; ` +
        `against llama.cpp on TQ2_0 KL ≤ ${KL_BOUND_QUANTIZED}, decisive top-1 ≥ ${MIN_AGREEMENT_QUANTIZED * 100}% agree (${TOKENS} tokens)`,
      { timeout: 7_200_000 },
      async () => {
        const tq2Path = await generate(tq2.name);
        const asBitnet = await timed('bitnet-2b4t-TQ2_0 relabelled bitnet', () =>
          writeArchitectureTwin(tq2Path, join(dir, 'bitnet-2b4t-TQ2_0-as-bitnet.gguf'), 'bitnet'),
        );
        const llama = await timed('bitnet-2b4t-TQ2_0 (bitnet) llama.cpp', () =>
          llamaAllLogits(asBitnet, tokens, vocab, { f32Attention: true }),
        );
        // The F32 twin (9.7 GB) is read by llama.cpp alone, which maps it, then deleted: lowbit on it
        // would hold all of it in GPU buffers, and lowbit's TQ2_0 run with f32 activations computes
        // with the very same values.
        const twinPath = await timed('bitnet-2b4t-TQ2_0 (bitnet) F32 twin written', () =>
          writeF32Twin(asBitnet, join(dir, 'bitnet-2b4t-TQ2_0-as-bitnet-F32-twin.gguf')),
        );
        let llamaTwin: Float32Array;
        try {
          llamaTwin = await timed('bitnet-2b4t-TQ2_0 (bitnet) llama.cpp F32 twin', () =>
            llamaAllLogits(twinPath, tokens, vocab, { f32Attention: true }),
          );
        } finally {
          rmSync(twinPath, { force: true });
        }
        const ours = await timed('bitnet-2b4t-TQ2_0 (bitnet) lowbit', () => lowbitLogits(asBitnet, tokens, 'f32'));
        const oursGgml = await timed('bitnet-2b4t-TQ2_0 (bitnet) lowbit ggml', () => lowbitLogits(asBitnet, tokens, 'ggml'));
        const figures = parityFigures(llama, ours, vocab);
        const ggmlFigures = parityFigures(llama, oursGgml, vocab);
        const againstTwin = parityFigures(llamaTwin, ours, vocab);
        const llamaRounding = parityFigures(llamaTwin, llama, vocab);
        console.log(
          [
            describeFigures('bitnet-2b4t-TQ2_0 as bitnet: llama.cpp ‖ lowbit (f32 activations)', figures),
            describeFigures('bitnet-2b4t-TQ2_0 as bitnet: llama.cpp on the F32 twin ‖ lowbit (f32 activations)', againstTwin),
            describeFigures("bitnet-2b4t-TQ2_0 as bitnet: llama.cpp's own, F32 twin ‖ TQ2_0", llamaRounding),
            describeFigures('bitnet-2b4t-TQ2_0 as bitnet: llama.cpp ‖ lowbit (ggml activations)', ggmlFigures),
          ].join('\n'),
        );
        // lowbit rounding as llama.cpp does (Q8_K before the ternary linears, F16 before the head).
        expect.soft(ggmlFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
        expect.soft(ggmlFigures.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * ggmlFigures.decisive);
        // lowbit's error: the same values without activation rounding on either side.
        expect(againstTwin.meanKl).toBeLessThanOrEqual(KL_BOUND_FLOAT);
        expect(againstTwin.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_TWIN);
        expect(againstTwin.agreeing).toBe(againstTwin.decisive);
        // The quantized bound is judged on the ggml run above, the one that rounds as llama.cpp
        // does. The f32 run's KL against llama.cpp is llama.cpp's own rounding (llamaRounding): logged.
        console.log(
          `f32 activations: llama.cpp's CPU path rounds activations to Q8_K before every ternary mat-vec (and to F16 ` +
            `before the F16 head); that alone moves llama.cpp's own output from its F32 twin by mean KL ` +
            `${llamaRounding.meanKl.toExponential(2)}, while lowbit is ${againstTwin.meanKl.toExponential(2)} from that twin`,
        );
        expect(figures.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * figures.decisive);
        expect(figures.decisive).toBeGreaterThan(TOKENS / 4);
      },
    );
  });

/**
 * The 2B4T shape cut to its first 2 and 4 layers (recipes bitnet-2b4t-2L/4L-TQ2_0: the same widths,
 * vocabulary, F16 tied head and sub-norms), relabelled `bitnet` as above, with F32 twins small
 * enough for lowbit to load (1.9 and 2.4 GB). Six comparisons separate lowbit's error from
 * llama.cpp's own rounding of activations (32 tokens; mean KL at 2 / 4 layers):
 *
 *   llama.cpp ‖ lowbit, both on the F32 twin          1.2e-10 / 1.7e-10   lowbit's forward pass
 *   llama.cpp ‖ lowbit, TQ2_0 (lowbit f32 activations) 5.96e-3 / 8.42e-3
 *   llama.cpp: F32 twin ‖ TQ2_0                        5.97e-3 / 8.43e-3   llama.cpp's Q8_K rounding
 *   lowbit: F32 twin ‖ TQ2_0, f32 activations          2e-10 / 0 (|Δp| 2e-6)
 *   lowbit: F32 twin ‖ TQ2_0, int8 activations         2.61e-3 / 3.60e-3   lowbit's Q8_1 rounding
 *   llama.cpp ‖ lowbit, TQ2_0 (lowbit int8 activations) 7.40e-3 / 1.16e-2
 *
 * So the whole TQ2_0 gap is llama.cpp's: its CPU path rounds each activation row to int8 with one
 * scale per 256 values (Q8_K) before every ternary mat-vec. lowbit's int8 path rounds per 32 values
 * (one scale each), losing less than half as much; its rounding and llama.cpp's are independent, so
 * against llama.cpp they add up (2.6e-3 + 6.0e-3 ≈ 7.4e-3, 3.6e-3 + 8.4e-3 ≈ 1.16e-2, over the
 * bound at 4 layers: not asserted). At 30 layers llama.cpp's own rounding alone is 2.1e-2.
 * Cost in CPU-seconds, each depth run alone (llama.cpp 11; lowbit f32 / int8 / twin, load included,
 * the first also compiling the pipelines): 2 layers 73 / 105 / 36, 4 layers 97 / 114 / 45; 216 and
 * 254 for the whole run. Peak RSS 4.5 GB.
 */
const REDUCED_DEPTHS = ['bitnet-2b4t-2L-TQ2_0', 'bitnet-2b4t-4L-TQ2_0'].filter((name) => scaleShapeSelected(name));
if (REDUCED_DEPTHS.length > 0)
  describe('the BitNet 2B4T shape at reduced depth, with its F32 twin', () => {
    const pool = new NodeQuantizePool();
    afterAll(async () => {
      await pool.close();
      await releaseTestGpu();
    });
    const dir = scaleModelDir(repoRoot);

    for (const name of REDUCED_DEPTHS) {
      const recipe = recipeByName(name)!;
      const vocab = recipe.vocab;
      const tokens = promptTokens(vocab, TOKENS);
      it(
        `${name} as bitnet, ${TOKENS} tokens: F32 twin KL ≤ ${KL_BOUND_FLOAT}, |Δp| ≤ ${DELTA_P_BOUND_TWIN}; lowbit's TQ2_0 within that of ` +
          `llama.cpp's twin and KL ≤ ${KL_BOUND_QUANTIZED} of llama.cpp's TQ2_0; lowbit's int8 rounding below llama.cpp's`,
        { timeout: 7_200_000 },
        async () => {
          mkdirSync(dir, { recursive: true });
          const { path } = await timed(`${name} generate`, () => generateScaleModel(recipe, dir, pool));
          const quant = await timed(`${name} relabelled bitnet`, () =>
            writeArchitectureTwin(path, join(dir, `${name}-as-bitnet.gguf`), 'bitnet'),
          );
          const twin = await timed(`${name} F32 twin written`, () => writeF32Twin(quant, join(dir, `${name}-as-bitnet-F32-twin.gguf`)));
          const llamaQuant = await timed(`${name} llama.cpp`, () => llamaAllLogits(quant, tokens, vocab, { f32Attention: true }));
          const llamaTwin = await timed(`${name} llama.cpp F32 twin`, () => llamaAllLogits(twin, tokens, vocab, { f32Attention: true }));
          const oursQuant = await timed(`${name} lowbit`, () => lowbitLogits(quant, tokens, 'f32'));
          const oursInt8 = await timed(`${name} lowbit int8`, () => lowbitLogits(quant, tokens, 'int8'));
          const oursGgml = await timed(`${name} lowbit ggml`, () => lowbitLogits(quant, tokens, 'ggml'));
          const oursTwin = await timed(`${name} lowbit F32 twin`, () => lowbitLogits(twin, tokens, 'f32'));

          const twinFigures = parityFigures(llamaTwin, oursTwin, vocab);
          const quantFigures = parityFigures(llamaQuant, oursQuant, vocab);
          const quantAgainstTwin = parityFigures(llamaTwin, oursQuant, vocab);
          const int8Figures = parityFigures(llamaQuant, oursInt8, vocab);
          const ggmlFigures = parityFigures(llamaQuant, oursGgml, vocab);
          const llamaRounding = parityFigures(llamaTwin, llamaQuant, vocab);
          const lowbitSameValues = parityFigures(oursTwin, oursQuant, vocab);
          const lowbitRounding = parityFigures(oursTwin, oursInt8, vocab);
          console.log(
            [
              describeFigures(`${name} F32 twin: llama.cpp ‖ lowbit`, twinFigures),
              describeFigures(`${name} TQ2_0: llama.cpp ‖ lowbit f32 activations`, quantFigures),
              describeFigures(`${name} llama.cpp on the F32 twin ‖ lowbit TQ2_0 f32 activations`, quantAgainstTwin),
              describeFigures(`${name} TQ2_0: llama.cpp ‖ lowbit int8 activations`, int8Figures),
              describeFigures(`${name} TQ2_0: llama.cpp ‖ lowbit ggml activations`, ggmlFigures),
              describeFigures(`${name} llama.cpp: F32 twin ‖ TQ2_0`, llamaRounding),
              describeFigures(`${name} lowbit: F32 twin ‖ TQ2_0 f32 activations`, lowbitSameValues),
              describeFigures(`${name} lowbit: F32 twin ‖ TQ2_0 int8 activations`, lowbitRounding),
            ].join('\n'),
          );

          // lowbit's forward pass: the same F32 weights on both sides.
          expect(twinFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_FLOAT);
          expect(twinFigures.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_TWIN);
          expect(twinFigures.agreeing).toBe(twinFigures.decisive);
          expect(twinFigures.decisive).toBeGreaterThan(TOKENS / 4);
          // lowbit's TQ2_0 kernels with f32 activations compute with the twin's values: only the
          // summation order differs, so they match lowbit's twin and llama.cpp's alike.
          expect(lowbitSameValues.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_SAME_VALUES);
          expect(quantAgainstTwin.meanKl).toBeLessThanOrEqual(KL_BOUND_FLOAT);
          expect(quantAgainstTwin.maxAbsDeltaP).toBeLessThanOrEqual(DELTA_P_BOUND_TWIN);
          expect(quantFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
          expect(quantFigures.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * quantFigures.decisive);
          // Rounding as llama.cpp does.
          expect(ggmlFigures.meanKl).toBeLessThanOrEqual(KL_BOUND_QUANTIZED);
          expect(ggmlFigures.agreeing).toBeGreaterThanOrEqual(MIN_AGREEMENT_QUANTIZED * ggmlFigures.decisive);
          // lowbit's 8-bit activations (a scale per 32 values) lose less than llama.cpp's (per 256).
          expect(lowbitRounding.meanKl).toBeLessThan(llamaRounding.meanKl);
        },
      );
    }
  });
