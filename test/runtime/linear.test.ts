// GPU mat-vec / mat-mul (src/runtime/linear.ts) against an f64 CPU product over the CPU
// dequantizer, for every weight type, through the real streaming loader (so row splits across
// buffers are covered), with 1 token and several tokens.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeGGUFToBytes } from '../../src/gguf/index.ts';
import { createStorageBuffer, createUniformBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { encodeStepParams } from '../../src/kernels/step-params.ts';
import { createLinear } from '../../src/runtime/linear.ts';
import { loadGpuWeights } from '../../src/runtime/loader.ts';
import { dequantizeTensor, quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType, tensorByteSize, quantLayout } from '../../src/quant/types.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await requestNodeGpu({ warn: null });
});
afterAll(async () => {
  await ctx?.device.queue.onSubmittedWorkDone();
  ctx?.device.destroy();
});

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function check(type: GGMLType, rows: number, cols: number, tokens: number, maxBufferBytes?: number, serial?: boolean) {
  const r = rng(rows * 31 + cols + type);
  const ternary = type === GGMLType.TQ1_0 || type === GGMLType.TQ2_0 || type === GGMLType.I2_S;
  const values = new Float32Array(rows * cols).map(() => (ternary ? [-0.5, 0, 0.5][Math.floor(r() * 3)]! : r() * 2 - 1));
  const bytes = quantizeTensor(type, values);
  expect(bytes.length).toBe(tensorByteSize(quantLayout(type)!, rows * cols));
  const w = dequantizeTensor(type, bytes, rows * cols);
  const file = await writeGGUFToBytes({ metadata: { 'general.architecture': 'test' }, tensors: [{ name: 'w', dims: [cols, rows], type, data: bytes }] });
  const weights = await loadGpuWeights(ctx.device, new BufferByteSource(file), { maxBufferBytes });
  const weight = weights.get('w')!;
  if (maxBufferBytes) expect(weight.parts.length).toBeGreaterThan(1);
  const x = new Float32Array(tokens * cols).map(() => r() * 2 - 1);
  const maxTokens = tokens === 1 ? 1 : 16;
  const k = createLinear(ctx, weight, maxTokens, { serial });
  const input = createStorageBuffer(ctx, x);
  const output = createStorageBuffer(ctx, tokens * rows * 4);
  const params = createUniformBuffer(ctx, encodeStepParams({ pos0: 0, nTokens: tokens }));
  const call = k.bind({ input, output, params });
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  call.encode(pass);
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
  const y = await readF32(ctx, output, tokens * rows);
  let worst = 0;
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < rows; i++) {
      let s = 0;
      let mag = 0;
      for (let c = 0; c < cols; c++) {
        s += w[i * cols + c]! * x[t * cols + c]!;
        mag += Math.abs(w[i * cols + c]! * x[t * cols + c]!);
      }
      // f32 accumulation in a different order: error grows with the sum of |terms|.
      worst = Math.max(worst, Math.abs(y[t * rows + i]! - s) / (mag + 1e-6));
    }
  }
  expect(worst).toBeLessThan(2e-5);
  for (const p of weight.parts) p.buffer.destroy();
}

const blockTypes: [GGMLType, number][] = [
  [GGMLType.Q8_0, 64], [GGMLType.Q4_0, 96], [GGMLType.Q4_1, 64], [GGMLType.Q5_0, 96], [GGMLType.Q5_1, 64],
  [GGMLType.Q2_K, 256], [GGMLType.Q3_K, 512], [GGMLType.Q4_K, 512], [GGMLType.Q5_K, 256], [GGMLType.Q6_K, 512],
  [GGMLType.TQ1_0, 256], [GGMLType.TQ2_0, 512], [GGMLType.I2_S, 256],
  [GGMLType.F32, 36], [GGMLType.F32, 37], [GGMLType.F16, 172], [GGMLType.BF16, 66],
];

describe.each(blockTypes)('linear %s × %d cols', (type, cols) => {
  test('mat-vec, 1 token, 37 rows', () => check(type, 37, cols, 1));
  test('mat-mul, 11 tokens, 13 rows', () => check(type, 13, cols, 11));
  // The other thread layout than the device's default (row per thread vs threads per row + reduction).
  test('mat-vec and mat-mul, other thread layout', async () => {
    await check(type, 37, cols, 1, undefined, !ctx.isSoftware);
    await check(type, 13, cols, 11, undefined, !ctx.isSoftware);
  });
});

test('rows split across several buffers', async () => {
  await check(GGMLType.Q4_K, 40, 256, 1, 144 * 7);
  await check(GGMLType.Q6_K, 24, 256, 5, 210 * 8);
});
