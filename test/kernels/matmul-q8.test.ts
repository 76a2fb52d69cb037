// The int8-activation prefill GEMM (src/kernels/matmul-q8.ts) against the CPU reference over the
// same quantized activations: the GEMM quantizes its f32 input as it stages it with the code the
// activation quantizer runs (common/q8_quant.wgsl), so the quantizer's output read back is x̂; the
// integer products are exact, only per-block scale products and the f32 sums round. Every type with an
// int8 decoder, odd row and token counts, a token count below the kernel's maximum, both product
// kinds, a tile with several token threads, weights in several buffers, and every store kind; and
// bit for bit the int8 mat-vec's outputs over the same tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { DeviceLimitError, ModelFormatError } from '../../src/errors.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMulQ8, int8GemmTileCandidates } from '../../src/kernels/matmul-q8.ts';
import type { GemmTile } from '../../src/kernels/matmul-tiled.ts';
import type { GluActivation, MatmulFusion } from '../../src/kernels/matmul.ts';
import {
  createMatVecQ8,
  createQuantizeQ8,
  hasInt8MatVec,
  type Int8Products,
  quantizedActivationBytes,
} from '../../src/kernels/matvec-q8.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { getGpuQuantType, gpuQuantTypes } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { makeWeight, randomValues, referenceMatmul, tolerance } from './matmul-helpers.ts';
import { dequantizeQ8, readQ8 } from './q8-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

interface Spec {
  type: GGMLType;
  rows: number;
  cols: number;
  /** Tokens this call; the kernel is built for maxTokens (default: tokens). */
  tokens: number;
  maxTokens?: number;
  tile?: GemmTile;
  products?: Int8Products;
  maxPartBytes?: number;
  /** One store kind: addOut, a Q/K/V split, or GLU with this activation. */
  store?: 'plain' | 'addOut' | 'split' | GluActivation;
}

const act: Record<GluActivation, (g: number) => number> = {
  silu: (g) => g / (1 + Math.exp(-g)),
  gelu: (g) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3))),
  relu2: (g) => Math.max(g, 0) ** 2,
};

/**
 * Runs the int8 GEMM over `tokens` of maxTokens random input rows, and returns the worst error
 * relative to Σ|w·x̂| against the f64 reference over x̂, the rows quantized by the activation
 * quantizer and read back.
 * Outputs of tokens past `tokens` must stay untouched (NaN).
 */
async function run(spec: Spec): Promise<number> {
  const { type, rows, cols, tokens } = spec;
  const maxT = spec.maxTokens ?? tokens;
  const store = spec.store ?? 'plain';
  const seed = rows * 7 + cols + tokens;
  const w = makeWeight(type, rows, cols, seed);
  const weight = uploadWeight(ctx, `mm8:${GGMLType[type]}`, type, rows, cols, w.bytes, { maxPartBytes: spec.maxPartBytes });
  const x = randomValues(maxT * cols, seed + 1);
  const input = createStorageBuffer(ctx, x);
  const xq = createStorageBuffer(ctx, maxT * quantizedActivationBytes(cols));
  const split = store === 'split' ? ([rows - 2 * Math.floor(rows / 3), Math.floor(rows / 3), Math.floor(rows / 3)] as const) : undefined;
  const glu = store in act ? (store as GluActivation) : undefined;
  const outRows = split ? split : [glu ? rows / 2 : rows];
  const before = outRows.map((n, i) =>
    store === 'addOut' ? randomValues(maxT * n, seed + 2 + i) : new Float32Array(maxT * n).fill(Number.NaN),
  );
  const outputs = before.map((b) => createStorageBuffer(ctx, b));
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: tokens });
  const fuse: MatmulFusion = { addOut: store === 'addOut' || undefined, split, glu };
  try {
    writeStepParams(ctx, stepParams, { pos0: 0, nTokens: tokens });
    const quantize = createQuantizeQ8(ctx, { cols: maxT * cols }).bind({ input, output: xq });
    const mm = createMatMulQ8(ctx, { type, rows, cols, maxTokens: maxT, fuse, tile: spec.tile, products: spec.products }).bind({
      weight,
      input,
      output: outputs[0]!,
      output1: outputs[1],
      output2: outputs[2],
      stepParams,
    });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    quantize.encode(pass);
    mm.encode(pass, { pos0: 0, nTokens: tokens });
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const xhat = dequantizeQ8(await readQ8(ctx, xq, maxT * cols));
    const ref = referenceMatmul(w.values, rows, cols, xhat, tokens);
    const ys = await Promise.all(outputs.map((o, i) => readF32(ctx, o, maxT * outRows[i]!)));
    let worst = 0;
    const check = (got: number, want: number, mag: number) => {
      const e = Math.abs(got - want) / Math.max(mag, 1e-30);
      worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
    };
    for (let t = 0; t < tokens; t++) {
      if (glu) {
        const h = rows / 2;
        for (let r = 0; r < h; r++) {
          const g = ref.y[t * rows + r]!;
          const u = ref.y[t * rows + h + r]!;
          // The error of act(g)·u from errors in g and u, each within the sums' bound: |act'(g)·u|·δg + |act(g)|·δu.
          const dg = (act[glu](g + 1e-3) - act[glu](g - 1e-3)) / 2e-3;
          const mag = Math.abs(dg * u) * ref.mag[t * rows + r]! + Math.abs(act[glu](g)) * ref.mag[t * rows + h + r]!;
          check(ys[0]![t * h + r]!, act[glu](g) * u, Math.max(mag, 1e-6));
        }
        continue;
      }
      let r0 = 0;
      outRows.forEach((n, i) => {
        for (let r = 0; r < n; r++) {
          const got = ys[i]![t * n + r]! - (store === 'addOut' ? before[i]![t * n + r]! : 0);
          check(got, ref.y[t * rows + r0 + r]!, ref.mag[t * rows + r0 + r]!);
        }
        r0 += n;
      });
    }
    // Tokens past this call's count are never written.
    outRows.forEach((n, i) => {
      for (let j = tokens * n; j < maxT * n; j++) expect(Object.is(ys[i]![j], before[i]![j]), `output ${i} [${j}]`).toBe(true);
    });
    return worst;
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    for (const b of [input, xq, stepParams, ...outputs]) b.destroy();
  }
}

const INT8_TYPES = gpuQuantTypes().filter((t) => hasInt8MatVec(t.id));
const SWAR_TYPES = new Set([GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q4_K, GGMLType.TQ2_0, GGMLType.TQ1_0, GGMLType.I2_S]);
/** A tile with several token threads (the GPU shapes), which the software default lacks. */
const TOKEN_THREADS_TILE: GemmTile = {
  rowThreads: 8,
  tokenThreads: 2,
  rowsPerThread: 2,
  tokensPerThread: 4,
  shareInput: false,
  stageInput: true,
};

it('covers the types with an int8 decoder; others and bad tiles are refused', () => {
  expect(INT8_TYPES.map((t) => t.name).sort()).toEqual(['I2_S', 'Q4_0', 'Q4_1', 'Q4_K', 'Q6_K', 'Q8_0', 'TQ1_0', 'TQ2_0']);
  expect(() => createMatMulQ8(ctx, { type: GGMLType.Q5_K, rows: 4, cols: 256, maxTokens: 2 })).toThrow(ModelFormatError);
  expect(() => createMatMulQ8(ctx, { type: GGMLType.Q4_0, rows: 4, cols: 48, maxTokens: 2 })).toThrow(RangeError);
  expect(() => createMatMulQ8(ctx, { type: GGMLType.Q4_0, rows: 4, cols: 64, maxTokens: 2, fuse: { normIn: { eps: 1e-5 } } })).toThrow(
    RangeError,
  );
  const huge: GemmTile = { rowThreads: 1, tokenThreads: 1, rowsPerThread: 1, tokensPerThread: 4096, shareInput: false, stageInput: true };
  expect(() => createMatMulQ8(ctx, { type: GGMLType.Q4_0, rows: 4, cols: 64, maxTokens: 2, tile: huge })).toThrow(DeviceLimitError);
  expect(() => createMatMulQ8({ ...ctx, hasPackedInt8Dot: false }, { type: GGMLType.Q4_0, rows: 4, cols: 64, maxTokens: 2 })).toThrow(
    DeviceLimitError,
  );
  for (const t of INT8_TYPES) expect(int8GemmTileCandidates(ctx, t.id).length).toBeGreaterThan(0);
});

describe.each(INT8_TYPES.map((t) => [t.name, t.id] as const))('%s int8 GEMM', (_name, type) => {
  const qk = getGpuQuantType(type).rowMultiple;
  it('70 rows × 13 of 16 tokens, two blocks per row, default tile and products', async () => {
    const e = await run({ type, rows: 70, cols: 2 * qk, tokens: 13, maxTokens: 16 });
    expect(e).toBeLessThanOrEqual(tolerance(type, 2 * qk));
  });
  it('a tile with two token threads, the other products, weight in parts', async () => {
    const products: Int8Products | undefined = SWAR_TYPES.has(type) ? (ctx.isSoftware ? 'dot4' : 'swar') : undefined;
    const maxPartBytes = getGpuQuantType(type).rowBytes(qk) * 24 + 4;
    const e = await run({ type, rows: 53, cols: qk, tokens: 7, tile: TOKEN_THREADS_TILE, products, maxPartBytes });
    expect(e).toBeLessThanOrEqual(tolerance(type, qk));
  });
});

/**
 * The int8 GEMM and the int8 mat-vec over the same tokens (each token's x̂ made by the same
 * quantizer code) store the same bits, when the mat-vec walks a row's chunks in order on one thread
 * (thread-row): both unpack a weight chunk once (unpack_q8) and take each token's products in the
 * same order (dot_unpacked), so a kernel that shares the unpacking across its tokens cannot have
 * changed a token's sums.
 */
async function gemmAndMatVecBits(type: GGMLType, rows: number, cols: number, tokens: number, products?: Int8Products) {
  const w = makeWeight(type, rows, cols, rows + cols);
  const weight = uploadWeight(ctx, `mm8v:${GGMLType[type]}`, type, rows, cols, w.bytes);
  const input = createStorageBuffer(ctx, randomValues(tokens * cols, rows + cols + 1, 3));
  const xq = createStorageBuffer(ctx, tokens * quantizedActivationBytes(cols));
  const gemmOut = createStorageBuffer(ctx, tokens * rows * 4);
  const matVecOut = createStorageBuffer(ctx, tokens * rows * 4);
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: tokens });
  try {
    writeStepParams(ctx, stepParams, { pos0: 0, nTokens: tokens });
    const step = { pos0: 0, nTokens: tokens };
    const quantize = createQuantizeQ8(ctx, { cols, tokens }).bind({ input, output: xq });
    const mv = createMatVecQ8(ctx, { type, rows, cols, tokens, products, variant: { mode: 'thread-row' } });
    const mm = createMatMulQ8(ctx, { type, rows, cols, maxTokens: tokens, products });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    quantize.encode(pass, step);
    mv.bind({ weight, input: xq, output: matVecOut }).encode(pass, step);
    mm.bind({ weight, input, output: gemmOut, stepParams }).encode(pass, step);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const bits = async (b: GPUBuffer) => Array.from(new Uint32Array((await readF32(ctx, b, tokens * rows)).buffer));
    return { gemm: await bits(gemmOut), matVec: await bits(matVecOut) };
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    for (const b of [input, xq, gemmOut, matVecOut, stepParams]) b.destroy();
  }
}

describe('the int8 GEMM stores the int8 mat-vec’s bits for the same tokens', () => {
  it.each(INT8_TYPES.map((t) => [t.name, t.id] as const))(
    '%s, 37 rows × 3 blocks × 5 tokens, each kind of products',
    async (_name, type) => {
      const qk = getGpuQuantType(type).rowMultiple;
      for (const products of SWAR_TYPES.has(type) ? (['dot4', 'swar'] as const) : (['dot4'] as const)) {
        const r = await gemmAndMatVecBits(type, 37, 3 * qk, 5, products);
        expect(r.gemm.filter((b) => b !== 0).length, 'outputs written').toBeGreaterThan(30);
        expect(r.gemm, products).toEqual(r.matVec);
      }
    },
  );
});

describe('store kinds', () => {
  it.each([
    ['addOut', GGMLType.Q4_0],
    ['split', GGMLType.Q8_0],
    ['silu', GGMLType.Q4_K],
    ['relu2', GGMLType.I2_S],
    ['gelu', GGMLType.TQ2_0],
  ] as const)('%s (%s)', async (store, type) => {
    const qk = getGpuQuantType(type).rowMultiple;
    const e = await run({ type, rows: 70, cols: qk, tokens: 13, maxTokens: 16, store });
    expect(e).toBeLessThanOrEqual(tolerance(type, qk));
  });
});
