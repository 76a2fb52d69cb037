// The `ggml` activations mode's rounding kernel against a CPU reference written from llama.cpp's
// CPU backend: Q8_K as quantize_row_q8_K_ref (the project's Q8_K codec), Q8_0/Q8_1 as x86's
// quantize_row_q8_0 (f16 d = amax/127, q = round_even(x·127/amax)), f16 and bf16 nearest-even.
// Every value must match exactly (zero signs aside: −0 and +0 multiply a weight alike).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { createGgmlRound } from '../../src/kernels/ggml-round.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { ModelFormatError } from '../../src/errors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/quant/cpu/float.ts';
import { dequantizeQ8_K, quantizeQ8_K } from '../../src/quant/cpu/kquants.ts';
import { fround, nearestInt } from '../../src/quant/cpu/rounding.ts';
import { getQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { build, randn, runStep } from './ops-helpers.ts';

function refQ8_0(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < x.length; b += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]!));
    const d = f16ToF32(f32ToF16(fround(amax / 127)));
    const id = amax !== 0 ? fround(127 / amax) : 0;
    for (let j = 0; j < 32; j++) out[b + j] = fround(d * nearestInt(fround(x[b + j]! * id)));
  }
  return out;
}

function reference(type: GGMLType, x: Float32Array): Float32Array {
  switch (type) {
    case GGMLType.Q8_K:
      return dequantizeQ8_K(quantizeQ8_K(x), x.length);
    case GGMLType.Q8_0:
    case GGMLType.Q8_1:
      return refQ8_0(x);
    case GGMLType.F16:
      return x.map((v) => f16ToF32(f32ToF16(v)));
    case GGMLType.BF16:
      return x.map((v) => bf16ToF32(f32ToBf16(v)));
    default:
      throw new Error(`no reference for ${GGMLType[type]}`);
  }
}

/** Rows with the edge cases at the front of each block, random values after. */
function rows(type: GGMLType, cols: number, tokens: number, seed: number): Float32Array {
  const x = randn(cols * tokens, seed, 3);
  const block = type === GGMLType.Q8_K ? 256 : 32;
  const put = (at: number, vals: number[]) => vals.forEach((v, i) => (x[at + i] = v));
  if (type === GGMLType.Q8_K || type === GGMLType.Q8_0 || type === GGMLType.Q8_1) {
    // Block 0: max 127 → unit scale, so x.5 values are exact ties (round half to even).
    put(0, [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5]);
    // Block 1: negative max, and +|max| after it (Q8_K keeps the first as the signed max).
    put(block, [-127, 3.5, 127, -4.5]);
    // Block 2: all zero.
    x.fill(0, 2 * block, 3 * block);
    // Block 3: a scale amax/127 that f16 must round (and a tiny block max).
    put(3 * block, [1e-3, -7.3e-4]);
    for (let j = 2; j < block; j++) x[3 * block + j] = x[3 * block + j]! * 1e-4;
  } else {
    put(0, [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, -65520, 3 * 2 ** -26, 2 ** -25, 1e-30, Number.NaN]);
    put(9, [1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, -1.00390625, 1e-40]);
  }
  return x;
}

const zeroSign = (a: Float32Array) => Array.from(a, (v) => (v === 0 ? 0 : v));

describe('ggml activation rounding', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await testGpu();
  });
  afterAll(releaseTestGpu);

  for (const [type, cols] of [
    [GGMLType.Q8_K, 1024],
    [GGMLType.Q8_0, 96],
    [GGMLType.Q8_1, 128],
    [GGMLType.F16, 36],
    [GGMLType.BF16, 20],
  ] as const) {
    it(`${GGMLType[type]}: rows of ${cols} as llama.cpp rounds them (3 of 4 tokens)`, async () => {
      const maxTokens = 4;
      const tokens = 3;
      const x = rows(type, cols, maxTokens, cols + type);
      const params = createStepParams(ctx, { pos0: 0, nTokens: tokens });
      const input = createStorageBuffer(ctx, x);
      const output = createStorageBuffer(ctx, new Float32Array(cols * maxTokens).fill(-9));
      const k = await build(ctx, () => createGgmlRound(ctx, { cols, vecDotType: type, maxTokens }));
      await runStep(ctx, { pos0: 0, nTokens: tokens }, k.bind({ params, input, output }));
      const got = await readF32(ctx, output);
      const want = reference(type, x.subarray(0, tokens * cols));
      expect(zeroSign(got.subarray(0, tokens * cols))).toEqual(zeroSign(want));
      // The rounding is not the identity on these rows, and rows past the step are left alone.
      expect(zeroSign(want)).not.toEqual(zeroSign(x.subarray(0, tokens * cols)));
      expect(Array.from(got.subarray(tokens * cols))).toEqual(new Array(cols).fill(-9));
      for (const b of [params, input, output]) b.destroy();
    });
  }

  it("a one-row kernel (the LM head's) rounds one row under a prefill step's params", async () => {
    const cols = 256;
    const x = rows(GGMLType.Q8_K, cols, 4, 7);
    const params = createStepParams(ctx, { pos0: 0, nTokens: 4 });
    const input = createStorageBuffer(ctx, x);
    const output = createStorageBuffer(ctx, new Float32Array(cols * 4).fill(-9));
    const k = await build(ctx, () => createGgmlRound(ctx, { cols, vecDotType: GGMLType.Q8_K, maxTokens: 1 }));
    await runStep(ctx, undefined, k.bind({ params, input, output }));
    const got = await readF32(ctx, output);
    expect(zeroSign(got.subarray(0, cols))).toEqual(zeroSign(reference(GGMLType.Q8_K, x.subarray(0, cols))));
    expect(Array.from(got.subarray(cols))).toEqual(new Array(3 * cols).fill(-9));
    for (const b of [params, input, output]) b.destroy();
  });

  it('each weight type rounds to its vec_dot_type, as llama.cpp type_traits_cpu lists it', () => {
    const vd = (t: GGMLType) => getQuantType(t).vecDotType;
    expect(vd(GGMLType.Q4_K)).toBe(GGMLType.Q8_K);
    expect(vd(GGMLType.Q6_K)).toBe(GGMLType.Q8_K);
    expect(vd(GGMLType.TQ2_0)).toBe(GGMLType.Q8_K);
    expect(vd(GGMLType.Q4_0)).toBe(GGMLType.Q8_0);
    expect(vd(GGMLType.Q8_0)).toBe(GGMLType.Q8_0);
    expect(vd(GGMLType.Q5_1)).toBe(GGMLType.Q8_1);
    expect(vd(GGMLType.F16)).toBe(GGMLType.F16);
    expect(vd(GGMLType.F32)).toBe(GGMLType.F32);
    expect(vd(GGMLType.I2_S)).toBeUndefined();
  });

  it('refuses rows that are not whole blocks, formats it cannot round to, and rounding in place', async () => {
    expect(() => createGgmlRound(ctx, { cols: 384, vecDotType: GGMLType.Q8_K })).toThrow(ModelFormatError);
    expect(() => createGgmlRound(ctx, { cols: 48, vecDotType: GGMLType.Q8_0 })).toThrow(ModelFormatError);
    expect(() => createGgmlRound(ctx, { cols: 256, vecDotType: GGMLType.F32 })).toThrow(RangeError);
    expect(() => createGgmlRound(ctx, { cols: 0, vecDotType: GGMLType.F16 })).toThrow(RangeError);
    const buf = createStorageBuffer(ctx, new Float32Array(32));
    const k = createGgmlRound(ctx, { cols: 32, vecDotType: GGMLType.Q8_0 });
    expect(() => k.bind({ params: buf, input: buf, output: buf })).toThrow(RangeError);
    buf.destroy();
  });
});
