// createLinear with ggml activations: the f32 kernel reads its input rounded as llama.cpp rounds
// it for the weight's type (vec_dot_type), decode and prefill alike; typed errors where llama.cpp
// has no such rounding or the input would have to be rounded after a fused norm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { type GpuWeight, uploadWeight } from '../../src/gpu/weights.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { createLinear } from '../../src/runtime/linear.ts';
import { ModelFormatError } from '../../src/errors.ts';
import { dequantizeQ8_K, quantizeQ8_K } from '../../src/quant/cpu/kquants.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { makeWeight, randomValues } from '../kernels/matmul-helpers.ts';
import { runStep } from '../kernels/ops-helpers.ts';

function matmul(w: Float32Array, x: Float32Array, rows: number, cols: number, tokens: number): Float64Array {
  const y = new Float64Array(tokens * rows);
  for (let t = 0; t < tokens; t++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[t * cols + c]!;
      y[t * rows + r] = s;
    }
  return y;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("createLinear, activations 'ggml'", () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await testGpu();
  });
  afterAll(releaseTestGpu);

  for (const tokens of [1, 3])
    it(`Q4_K weights, ${tokens === 1 ? 'decode mat-vec' : 'prefill mat-mul'}: W·(the input rounded to Q8_K)`, async () => {
      const rows = 16;
      const cols = 512;
      const q = makeWeight(GGMLType.Q4_K, rows, cols, 3);
      const weight = uploadWeight(ctx, 'w', GGMLType.Q4_K, rows, cols, q.bytes);
      const x = randomValues(tokens * cols, 11, 2);
      const params = createStepParams(ctx, { pos0: 0, nTokens: tokens });
      const input = createStorageBuffer(ctx, x);
      const inputRounded = createStorageBuffer(ctx, new Float32Array(tokens * cols));
      const output = createStorageBuffer(ctx, new Float32Array(tokens * rows));
      const call = createLinear(ctx, weight, tokens, 'ggml').bind({ input, output, params, inputRounded });
      await runStep(ctx, { pos0: 0, nTokens: tokens }, call);
      const got = await readF32(ctx, output);
      const rounded = matmul(q.values, dequantizeQ8_K(quantizeQ8_K(x), x.length), rows, cols, tokens);
      const plain = matmul(q.values, x, rows, cols, tokens);
      // f32 summation noise against the rounded input, far from the unrounded one.
      expect(maxDiff(got, rounded)).toBeLessThan(1e-4);
      expect(maxDiff(got, plain)).toBeGreaterThan(1e-3);
      for (const b of [params, input, inputRounded, output, ...weight.parts.map((p) => p.buffer)]) b.destroy();
    });

  it('refuses a type llama.cpp does not define, a fused norm, and a missing rounding buffer', () => {
    const fake = (type: GGMLType) => ({ name: 'blk.0.ffn_up.weight', type, rows: 8, cols: 256 }) as unknown as GpuWeight;
    expect(() => createLinear(ctx, fake(GGMLType.I2_S), 1, 'ggml')).toThrow(ModelFormatError);
    expect(() => createLinear(ctx, fake(GGMLType.I2_S), 1, 'ggml')).toThrow(/blk\.0\.ffn_up\.weight.*I2_S/);
    expect(() => createLinear(ctx, fake(GGMLType.Q4_K), 1, 'ggml', { normIn: { eps: 1e-5 } })).toThrow(RangeError);
    const q = makeWeight(GGMLType.Q8_0, 8, 64, 5);
    const weight = uploadWeight(ctx, 'w', GGMLType.Q8_0, 8, 64, q.bytes);
    const buf = createStorageBuffer(ctx, new Float32Array(64));
    expect(() => createLinear(ctx, weight, 1, 'ggml').bind({ input: buf, output: buf, params: buf })).toThrow(/inputRounded/);
    buf.destroy();
  });
});
