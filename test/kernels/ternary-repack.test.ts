// TQ2_0's repacked GPU layout (src/quant/gpu-layout.ts: groups of 4 blocks, f32 scales then codes)
// through every kernel that reads it, against the CPU reference over the GGUF blocks, on shapes
// the type matrices do not reach: rows of 4 blocks (one whole group), 5 and 9 (whole groups and a
// partial one), odd row counts, weights split into several buffers. f32 activations: the mat-vec
// in each reduction mode and the mat-mul (tiled GEMM and a row mode). int8 activations: the
// mat-vec with both ways of taking the products, on inputs the quantizer represents exactly, so
// the reference over the f32 input is exact there too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import type { MatmulVariant } from '../../src/kernels/matmul.ts';
import { createMatVecQ8, createQuantizeQ8, quantizedActivationBytes, type Int8Products } from '../../src/kernels/matvec-q8.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { runMatmul } from './matmul-gpu.ts';
import { makeWeight, referenceMatmul, rng, tolerance } from './matmul-helpers.ts';

const TYPE = GGMLType.TQ2_0;
const SHAPES = [
  { rows: 29, cols: 256 * 4 },
  { rows: 37, cols: 256 * 5 },
  { rows: 11, cols: 256 * 9 },
];
/** Part size giving 3 rows per buffer: every shape is split into several parts. */
const threeRowParts = (cols: number) => 3 * getGpuQuantType(TYPE).gpuRowBytes(cols) + 4;

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

describe('TQ2_0 repacked layout, f32 activations', () => {
  const variants: [string, Partial<MatmulVariant>][] = [
    ['thread per rows, input shared', { mode: 'thread-row', rowsPerThread: 4, shareInput: true }],
    ['subgroup per row', { mode: 'subgroup-row', rowsPerThread: 1 }],
    ['workgroup-memory reduction', { mode: 'workgroup-row', rowsPerThread: 2 }],
  ];
  it.each(variants)('mat-vec, %s, whole and in parts', async (_label, variant) => {
    for (const s of SHAPES) {
      for (const maxPartBytes of [undefined, threeRowParts(s.cols)]) {
        const err = await runMatmul(ctx, { type: TYPE, ...s, tokens: [1], variant, maxPartBytes });
        expect(err, `${s.rows}×${s.cols} parts ${maxPartBytes}`).toBeLessThanOrEqual(tolerance(TYPE, s.cols));
      }
    }
  });
  it('mat-mul for 1, 3 and 9 tokens: the tiled GEMM and a row mode', async () => {
    for (const s of SHAPES) {
      for (const variant of [undefined, { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 4 } as const]) {
        const err = await runMatmul(ctx, { type: TYPE, ...s, tokens: [1, 3, 9], variant, maxPartBytes: threeRowParts(s.cols) });
        expect(err, `${s.rows}×${s.cols} ${JSON.stringify(variant)}`).toBeLessThanOrEqual(tolerance(TYPE, s.cols));
      }
    }
  });
});

/**
 * An input the activation quantizer keeps exactly: per 32-block, integers q ∈ [−127, 127] with
 * one |q| = 127, times a power of two, so d = max|x|/127 is that power and round(x/d) = q.
 */
function q8ExactInput(cols: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(cols);
  for (let b = 0; b < cols / 32; b++) {
    const scale = 2 ** (-4 - (b % 5));
    for (let i = 0; i < 32; i++) x[b * 32 + i] = (Math.floor(r() * 255) - 127) * scale;
    x[b * 32 + ((b * 7) % 32)] = (b % 2 ? -127 : 127) * scale;
  }
  return x;
}

describe('TQ2_0 repacked layout, int8 activations', () => {
  it.each([['swar'], ['dot4']] as [Int8Products][])('mat-vec with %s products, whole and in parts', async (products) => {
    for (const s of SHAPES) {
      for (const maxPartBytes of [undefined, threeRowParts(s.cols)]) {
        const seed = s.rows * 31 + s.cols;
        const w = makeWeight(TYPE, s.rows, s.cols, seed);
        const weight = uploadWeight(ctx, 'w8:TQ2_0', TYPE, s.rows, s.cols, w.bytes, { maxPartBytes });
        const x = q8ExactInput(s.cols, seed + 1);
        const input = createStorageBuffer(ctx, x);
        const xq = createStorageBuffer(ctx, quantizedActivationBytes(s.cols));
        const output = createStorageBuffer(ctx, new Float32Array(s.rows).fill(Number.NaN));
        try {
          const quantize = createQuantizeQ8(ctx, { cols: s.cols }).bind({ input, output: xq });
          const mv = createMatVecQ8(ctx, { type: TYPE, rows: s.rows, cols: s.cols, products }).bind({ weight, input: xq, output });
          const enc = ctx.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          quantize.encode(pass);
          mv.encode(pass);
          pass.end();
          ctx.device.queue.submit([enc.finish()]);
          const y = await readF32(ctx, output, s.rows);
          const ref = referenceMatmul(w.values, s.rows, s.cols, x, 1);
          for (let r = 0; r < s.rows; r++) {
            const err = Math.abs(y[r]! - ref.y[r]!) / Math.max(ref.mag[r]!, 1e-30);
            expect(err, `${s.rows}×${s.cols} row ${r} parts ${maxPartBytes}`).toBeLessThanOrEqual(tolerance(TYPE, s.cols));
          }
        } finally {
          for (const p of weight.parts) p.buffer.destroy();
          input.destroy();
          xq.destroy();
          output.destroy();
        }
      }
    }
  });
});
