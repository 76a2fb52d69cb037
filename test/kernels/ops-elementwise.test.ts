// Gated activations, residual/bias add and scale, vec4 and scalar paths, against CPU references.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { type ElementwiseOp, createElementwise } from '../../src/kernels/elementwise.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { build, expectClose, randn, runStep } from './ops-helpers.ts';

const silu = (x: number) => x / (1 + Math.exp(-x));
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

function ref(op: ElementwiseOp, a: Float32Array, b: Float32Array, n: number): Float32Array {
  return a.map((x, i) => {
    switch (op) {
      case 'silu_mul':
        return silu(x) * b[i]!;
      case 'gelu_mul':
        return gelu(x) * b[i]!;
      case 'relu2_mul':
        return Math.max(x, 0) ** 2 * b[i]!;
      case 'add':
        return x + b[i]!;
      case 'bias':
        return x + b[i % n]!;
      case 'scale':
        return x * b[0]!;
    }
  });
}

describe('elementwise', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  const ops: ElementwiseOp[] = ['silu_mul', 'gelu_mul', 'relu2_mul', 'add', 'bias', 'scale'];
  for (const op of ops) {
    for (const [n, tokens, maxTokens] of [
      [64, 1, 1],
      [37, 3, 4], // scalar path, partial token count
      [1028, 2, 2],
    ] as const) {
      it(`${op} n=${n} tokens=${tokens}/${maxTokens}`, async () => {
        // Wide range so silu/gelu see saturated inputs (|x| up to 30) too.
        const a = randn(maxTokens * n, n * 3 + tokens, 30);
        const bLen = op === 'bias' ? n : op === 'scale' ? 1 : maxTokens * n;
        const b = randn(bLen, n + 11, 2);
        const params = createStepParams(ctx, { pos0: 0, nTokens: tokens });
        const used = tokens * n;
        for (const separateOutput of [false, true]) {
          const aBuf = createStorageBuffer(ctx, a);
          const bBuf = createStorageBuffer(ctx, b);
          const output = createStorageBuffer(ctx, new Float32Array(maxTokens * n).fill(-9));
          const k = await build(ctx, () => createElementwise(ctx, { op, n, maxTokens, separateOutput }));
          // Separate-output runs size the dispatch to the step's tokens; in-place runs to maxTokens.
          await runStep(
            ctx,
            separateOutput ? { pos0: 0, nTokens: tokens } : undefined,
            k.bind({ params, a: aBuf, b: bBuf, output: separateOutput ? output : undefined }),
          );
          const got = await readF32(ctx, separateOutput ? output : aBuf);
          expectClose(got.subarray(0, used), ref(op, a.subarray(0, used), b, n), 1e-5, 1e-5, `${op} out=${separateOutput}`);
          const untouched = separateOutput ? new Float32Array(got.length - used).fill(-9) : a.subarray(used);
          expect([...got.subarray(used)]).toEqual([...untouched]);
        }
      });
    }
  }

  it('names the missing binding and bad sizes', () => {
    expect(() => createElementwise(ctx, { op: 'add', n: 0 })).toThrow(/n must/);
    expect(() => createElementwise(ctx, { op: 'nope' as ElementwiseOp, n: 4 })).toThrow(/unknown op/);
    const k = createElementwise(ctx, { op: 'add', n: 4, separateOutput: true });
    const buf = createStorageBuffer(ctx, 16);
    expect(() => k.bind({ params: buf, a: buf, b: buf })).toThrow(/output/);
  });
});
