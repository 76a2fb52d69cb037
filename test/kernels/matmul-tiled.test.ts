// The tiled GEMM (shaders/matmul_tiled.wgsl, mode 'tiled' of the mat-mul) against the CPU reference:
// every GPU type with the tile the device picks, every tile candidate the selector can pick for
// each decoder family, ragged tiles (rows and tokens not multiples of the tile), weights split into
// row-parts, and the tile choice under the 16 KiB workgroup storage of mobile limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { DeviceLimitError } from '../../src/errors.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMul, createMatVec, defaultMatmulVariant, type MatmulVariant, tiledVariant } from '../../src/kernels/matmul.ts';
import { defaultGemmTile, gemmTileCandidates, gemmTileSize, gemmTileStorageBytes } from '../../src/kernels/matmul-tiled.ts';
import { gpuBlockGeometry } from '../../src/quant/gpu-decoders.ts';
import { dequantizeTensor, getGpuQuantType, gpuQuantTypes } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { blockOf, planWeightParts, runMatmul, weightRowBytes } from './matmul-gpu.ts';
import { randomValues, referenceMatmul, rng, tolerance } from './matmul-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

/** The chunk (vec4s) the tiled GEMM decodes for a type with rows of `cols`. */
function chunkOf(type: GGMLType, cols: number): number {
  const entry = getGpuQuantType(type);
  return gpuBlockGeometry(entry.layout, entry.gpu, cols).gemmChunkVec4s;
}

/** Rows and a row length of three blocks: 70 rows is no multiple of any tile's rows. */
function shapeOf(type: GGMLType): { rows: number; cols: number } {
  const qk = blockOf(type);
  return { rows: 70, cols: qk === 4 ? 100 : 3 * qk };
}

describe.each(gpuQuantTypes().map((t) => [t.name, t.id] as const))('%s', (_name, type) => {
  it('the default tile, for 1, 7, 33 and 40 tokens with one bind group', async () => {
    const s = shapeOf(type);
    const variant: Partial<MatmulVariant> = { mode: 'tiled' };
    expect(await runMatmul(ctx, { type, ...s, tokens: [7, 1, 33, 40], variant })).toBeLessThanOrEqual(tolerance(type, s.cols));
  });
  it('weight split into row-parts', async () => {
    const s = shapeOf(type);
    const maxPartBytes = weightRowBytes(type, s.cols) * 16 + 4; // 16 rows per part → 5 parts for 70 rows
    expect(planWeightParts(type, s.rows, s.cols, maxPartBytes).length).toBe(5);
    expect(await runMatmul(ctx, { type, ...s, tokens: [19], maxPartBytes })).toBeLessThanOrEqual(tolerance(type, s.cols));
  });
});

// One type per decoder family and GEMM chunk: floats (chunk from the row length), 8-vec4 blocks
// with a zero point, and the decoders whose GEMM chunk is a part of the mat-vec's: Q4_K (half a
// 16-byte-word run), Q6_K (two of its four scale groups), IQ4_XS (one of its two), TQ1_0 (12 of 24
// vec4s), TQ2_0 and I2_S (with its per-tensor scale; 8 of 32).
const FAMILIES = [
  GGMLType.F16,
  GGMLType.Q4_0,
  GGMLType.Q8_0,
  GGMLType.Q4_K,
  GGMLType.Q6_K,
  GGMLType.IQ4_XS,
  GGMLType.TQ1_0,
  GGMLType.TQ2_0,
  GGMLType.I2_S,
];

describe.each(FAMILIES.map((t) => [GGMLType[t], t] as const))('every tile candidate: %s', (_name, type) => {
  it('matches the reference for ragged rows and tokens', async () => {
    const s = shapeOf(type);
    const candidates = gemmTileCandidates(ctx, chunkOf(type, s.cols));
    expect(candidates.length).toBeGreaterThan(1);
    for (const tile of candidates) {
      const { tokens } = gemmTileSize(tile);
      // A full tile, a ragged one, and a single token in the last tile.
      const err = await runMatmul(ctx, { type, ...s, tokens: [tokens + 3, 2 * tokens + 1], variant: tiledVariant(tile) });
      expect(err, JSON.stringify(tile)).toBeLessThanOrEqual(tolerance(type, s.cols));
    }
  });
});

describe('odd tile shapes', () => {
  it('3 rows × 5 tokens per thread, 3 token threads, a 6-thread workgroup', async () => {
    for (const type of [GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.TQ2_0]) {
      const s = shapeOf(type);
      const variant: Partial<MatmulVariant> = { mode: 'tiled', workgroupSize: 6, tokenThreads: 3, rowsPerThread: 3, tokensPerThread: 5 };
      const err = await runMatmul(ctx, { type, ...s, tokens: [16, 14, 1], variant, maxPartBytes: weightRowBytes(type, s.cols) * 31 });
      expect(err, GGMLType[type]).toBeLessThanOrEqual(tolerance(type, s.cols));
      // The same tile reading its input from global memory instead of staging it.
      const unstaged = await runMatmul(ctx, {
        type,
        ...s,
        tokens: [16, 14, 1],
        variant: { ...variant, stageInput: false },
        maxPartBytes: weightRowBytes(type, s.cols) * 31,
      });
      expect(unstaged, `${GGMLType[type]} unstaged`).toBeLessThanOrEqual(tolerance(type, s.cols));
    }
  });
});

describe('tile selection', () => {
  it('mat-mul defaults to the first candidate, and mat-vec never to a tile', () => {
    const cw = chunkOf(GGMLType.Q4_0, 256);
    expect(defaultMatmulVariant(ctx, 'matmul', cw)).toEqual(tiledVariant(gemmTileCandidates(ctx, cw)[0]!));
    expect(defaultMatmulVariant(ctx, 'matvec', cw).mode).not.toBe('tiled');
    const k = createMatMul(ctx, { type: GGMLType.Q4_0, rows: 64, cols: 256, maxTokens: 8 });
    expect(k.variant.mode).toBe('tiled');
  });
  it('refuses a tile whose staged input exceeds the workgroup storage, and a tiled mat-vec', () => {
    const storage = ctx.limits.maxComputeWorkgroupStorageSize;
    // Bytes of input one token stages per chunk.
    const tokensPerThread = Math.floor(storage / (chunkOf(GGMLType.TQ2_0, 256) * 16)) + 1;
    expect(() =>
      createMatMul(ctx, {
        type: GGMLType.TQ2_0,
        rows: 8,
        cols: 256,
        maxTokens: 4,
        variant: { mode: 'tiled', workgroupSize: 1, tokenThreads: 1, rowsPerThread: 1, tokensPerThread, stageInput: true },
      }),
    ).toThrow(DeviceLimitError);
    expect(() =>
      createMatMul(ctx, {
        type: GGMLType.Q4_0,
        rows: 8,
        cols: 32,
        maxTokens: 4,
        variant: { mode: 'tiled', workgroupSize: 6, tokenThreads: 4 },
      }),
    ).toThrow(/multiple of tokenThreads/);
    expect(() => createMatVec(ctx, { type: GGMLType.Q4_0, rows: 8, cols: 32, variant: { mode: 'tiled' } })).toThrow(/mat-mul/);
  });
});

describe('mobile limits (16 KiB workgroup storage)', () => {
  let mobile: GpuContext;
  beforeAll(async () => {
    mobile = await requestNodeGpu({ warn: null, limits: 'mobile' });
  });
  afterAll(async () => {
    await mobile?.device.queue.onSubmittedWorkDone();
    mobile?.device.destroy();
  });
  it('every candidate fits the storage and invocation limits, and the default tile runs', async () => {
    expect(mobile.limits.maxComputeWorkgroupStorageSize).toBe(16 * 1024);
    for (const entry of gpuQuantTypes()) {
      const cw = chunkOf(entry.id, 256);
      for (const tile of gemmTileCandidates(mobile, cw)) {
        expect(gemmTileStorageBytes(tile, cw)).toBeLessThanOrEqual(16 * 1024);
        expect(gemmTileSize(tile).threads).toBeLessThanOrEqual(mobile.limits.maxComputeInvocationsPerWorkgroup);
      }
    }
    const type = GGMLType.TQ2_0;
    const s = shapeOf(type);
    expect(gemmTileStorageBytes(defaultGemmTile(mobile, chunkOf(type, s.cols)), chunkOf(type, s.cols))).toBeLessThanOrEqual(16 * 1024);
    expect(await runMatmul(mobile, { type, ...s, tokens: [33] })).toBeLessThanOrEqual(tolerance(type, s.cols));
  });
});

describe('ternary code 3 in the GEMM', () => {
  // No quantizer writes code 3, but a file may hold it; ggml (and the CPU reference) read it as
  // +2·scale, and the GEMM's codes-as-weights decode must too (code − 1 = 2).
  it.each([
    ['TQ2_0', GGMLType.TQ2_0],
    ['I2_S', GGMLType.I2_S],
  ] as const)('%s matches the CPU reference on blocks of random codes', async (_n, type) => {
    const rows = 21;
    const cols = 512;
    const tokens = 3;
    const r = rng(78);
    const rowBytes = weightRowBytes(type, cols);
    const bytes = new Uint8Array(rows * rowBytes + (type === GGMLType.I2_S ? 32 : 0));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    const view = new DataView(bytes.buffer);
    if (type === GGMLType.TQ2_0) {
      for (let b = 0; b < (rows * cols) / 256; b++) view.setUint16(b * 66 + 64, 0x2e66, true); // d ≈ 0.1
    } else {
      view.setFloat32(rows * rowBytes, 0.25, true);
    }
    const values = dequantizeTensor(type, bytes, rows * cols);
    expect(values.some((v) => Math.abs(v) > 0.15)).toBe(true); // +2·scale present
    const weight = uploadWeight(ctx, 'codes', type, rows, cols, bytes);
    const x = randomValues(tokens * cols, 5);
    const input = createStorageBuffer(ctx, x);
    const output = createStorageBuffer(ctx, tokens * rows * 4);
    const kernel = createMatMul(ctx, { type, rows, cols, maxTokens: tokens });
    expect(kernel.variant.mode).toBe('tiled');
    const call = kernel.bind({ weight, input, output });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    call.encode(pass);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const y = await readF32(ctx, output, tokens * rows);
    const ref = referenceMatmul(values, rows, cols, x, tokens);
    for (let i = 0; i < tokens * rows; i++) expect(Math.abs(y[i]! - ref.y[i]!)).toBeLessThanOrEqual(tolerance(type, cols) * ref.mag[i]!);
  });
});
