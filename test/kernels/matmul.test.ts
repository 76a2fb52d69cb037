// Fused dequant mat-vec / mat-mul against the CPU reference (src/quant dequantize + f64 dot
// products) for every weight type, both reduction variants, odd shapes, several token counts,
// weights split across buffers, and real fixture tensors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { DeviceLimitError, ModelFormatError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import { readGGUF, readTensorBytes } from '../../src/gguf/reader.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMul, createMatVec, type MatmulVariant } from '../../src/kernels/matmul.ts';
import { dequantizeTensor, gpuQuantTypes } from '../../src/quant/table.ts';
import { f16ToF32 } from '../../src/quant/cpu/float.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { localModel } from '../helpers/fixtures.ts';
import { blockOf, planWeightParts, type RunSpec, runMatmul, weightRowBytes } from './matmul-gpu.ts';
import { makeWeight, randomValues, referenceMatmul, rng, tolerance } from './matmul-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

const run = (spec: RunSpec) => runMatmul(ctx, spec);

// Variants: the subgroup one (subgroup-row), the software default (thread-row with input shared by
// subgroupBroadcast) and ones that use no subgroup operation at all (workgroup-row, plain
// thread-row). Odd rows-per-thread values exercise the row clamping. Every type runs the core set;
// a few representative types (one per decoder family) also run the rest.
const SGROW: Partial<MatmulVariant> = { mode: 'subgroup-row', rowsPerThread: 2 };
const THREAD_SHARED: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 3, shareInput: true };
const THREAD_PLAIN: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 4, shareInput: false };
const WGROW: Partial<MatmulVariant> = { mode: 'workgroup-row', threadsPerRow: 4, workgroupSize: 32 };
const MM_THREAD_PLAIN: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 4, shareInput: false };
const MM_THREAD_SHARED: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 4, shareInput: true };
const FULL_MATRIX = new Set([GGMLType.F16, GGMLType.Q4_0, GGMLType.Q6_K, GGMLType.TQ2_0]);

describe.each(gpuQuantTypes().map((t) => [t.name, t.id] as const))('%s', (_name, type) => {
  const qk = blockOf(type);
  // Rows not a multiple of any workgroup's row count; cols = one block and three blocks.
  const shapes = [
    { rows: 37, cols: qk === 4 ? 12 : qk },
    { rows: 70, cols: qk === 4 ? 100 : 3 * qk },
  ];
  const full = FULL_MATRIX.has(type);
  const matvecVariants: [string, Partial<MatmulVariant>][] = [
    ['subgroup per row', SGROW],
    ['thread per rows, input shared by subgroupBroadcast', THREAD_SHARED],
    ['workgroup-memory reduction (no subgroups)', WGROW],
    ...(full ? ([['thread per rows, plain loads (no subgroups)', THREAD_PLAIN]] as [string, Partial<MatmulVariant>][]) : []),
  ];
  for (const [label, variant] of matvecVariants) {
    it(`mat-vec, ${label}`, async () => {
      for (const s of shapes) {
        const err = await run({ type, ...s, tokens: [1], variant });
        expect(err, `${GGMLType[type]} ${s.rows}×${s.cols}`).toBeLessThanOrEqual(tolerance(type, s.cols));
      }
    });
  }
  const matmulVariants: [string, Partial<MatmulVariant>][] = [
    ['subgroup per row', { mode: 'subgroup-row' }],
    ['thread per rows, plain loads (no subgroups)', MM_THREAD_PLAIN],
    ...(full
      ? ([
          ['thread per rows, input shared by subgroupBroadcast', MM_THREAD_SHARED],
          ['workgroup-memory reduction (no subgroups)', WGROW],
        ] as [string, Partial<MatmulVariant>][])
      : []),
  ];
  for (const [label, variant] of matmulVariants) {
    it(`mat-mul for 1, 7 and 33 tokens with one bind group, ${label}`, async () => {
      const s = shapes[1]!;
      const err = await run({ type, ...s, tokens: [7, 1, 33], variant });
      expect(err).toBeLessThanOrEqual(tolerance(type, s.cols));
    });
  }
  it('weight split into several buffers', async () => {
    const s = shapes[1]!;
    const rowBytes = weightRowBytes(type, s.cols);
    const maxPartBytes = rowBytes * 16 + 4; // 16 rows per part → 5 parts for 70 rows
    expect(planWeightParts(type, s.rows, s.cols, maxPartBytes).length).toBe(5);
    expect(await run({ type, ...s, tokens: [1], variant: SGROW, maxPartBytes })).toBeLessThanOrEqual(tolerance(type, s.cols));
    expect(await run({ type, ...s, tokens: [1], variant: THREAD_SHARED, maxPartBytes })).toBeLessThanOrEqual(tolerance(type, s.cols));
    expect(await run({ type, ...s, tokens: [5], variant: MM_THREAD_PLAIN, maxPartBytes })).toBeLessThanOrEqual(tolerance(type, s.cols));
  });
});

describe('half-precision decode', () => {
  it('turns every finite f16 (subnormals, ±0, the largest) into its exact f32 value', async () => {
    const finite: number[] = [];
    for (let h = 0; h < 0x10000; h++) if ((h & 0x7c00) !== 0x7c00) finite.push(h);
    const cols = 4;
    const rows = finite.length / cols; // 15872 rows holding every finite pattern once
    const weight = uploadWeight(ctx, 'every-f16', GGMLType.F16, rows, cols, new Uint8Array(new Uint16Array(finite).buffer));
    // Token t is the one-hot vector e_t, so output t of row r is exactly W[r][t].
    const eye = new Float32Array(16);
    for (let t = 0; t < 4; t++) eye[t * 4 + t] = 1;
    const input = createStorageBuffer(ctx, eye);
    const output = createStorageBuffer(ctx, rows * 4 * 4);
    const call = createMatMul(ctx, { type: GGMLType.F16, rows, cols, maxTokens: 4 }).bind({ weight, input, output });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    call.encode(pass);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const y = await readF32(ctx, output, rows * 4);
    let mismatches = 0;
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < 4; t++) {
        const want = f16ToF32(finite[r * 4 + t]!);
        if (!Object.is(y[t * rows + r], want) && !(want === 0 && y[t * rows + r] === 0)) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });
});

describe('ternary code 3', () => {
  // No quantizer writes code 3, but a file may hold it; ggml (and our CPU reference) read it as
  // +2·scale. Random bytes give every code, so the kernels' slow path for it is exercised.
  it.each([
    ['TQ2_0', GGMLType.TQ2_0],
    ['I2_S', GGMLType.I2_S],
  ] as const)('%s matches the CPU reference on blocks of random codes', async (_n, type) => {
    const rows = 21;
    const cols = 512;
    const r = rng(77);
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
    const x = randomValues(cols, 4);
    const input = createStorageBuffer(ctx, x);
    const output = createStorageBuffer(ctx, rows * 4);
    for (const variant of [SGROW, THREAD_SHARED] as Partial<MatmulVariant>[]) {
      const call = createMatVec(ctx, { type, rows, cols, variant }).bind({ weight, input, output });
      const enc = ctx.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      call.encode(pass);
      pass.end();
      ctx.device.queue.submit([enc.finish()]);
      const y = await readF32(ctx, output, rows);
      const ref = referenceMatmul(values, rows, cols, x, 1);
      for (let i = 0; i < rows; i++) expect(Math.abs(y[i]! - ref.y[i]!)).toBeLessThanOrEqual(tolerance(type, cols) * ref.mag[i]!);
    }
  });
});

describe('layouts and offsets', () => {
  it('reads input at an offset and stride and writes output at an offset and stride', async () => {
    const type = GGMLType.Q4_K;
    const rows = 19;
    const cols = 256;
    const T = 3;
    const q = makeWeight(type, rows, cols, 5);
    const weight = uploadWeight(ctx, 'w', type, rows, cols, q.bytes);
    const inputStride = cols + 8;
    const outputStride = rows + 5;
    const inputOffset = 12;
    const outputOffset = 3;
    const x = randomValues(T * cols, 6);
    const xPadded = new Float32Array(inputOffset + T * inputStride).fill(1e6); // garbage must not leak in
    for (let t = 0; t < T; t++) xPadded.set(x.subarray(t * cols, (t + 1) * cols), inputOffset + t * inputStride);
    const input = createStorageBuffer(ctx, xPadded);
    const outLen = outputOffset + T * outputStride;
    const output = createStorageBuffer(ctx, new Float32Array(outLen).fill(-7));
    const mm = createMatMul(ctx, { type, rows, cols, maxTokens: T, inputStride, outputStride });
    const call = mm.bind({ weight, input, output, inputOffset, outputOffset }); // static T = maxTokens
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    call.encode(pass);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const y = await readF32(ctx, output, outLen);
    const ref = referenceMatmul(q.values, rows, cols, x, T);
    for (let i = 0; i < outLen; i++) {
      const rel = i - outputOffset;
      const t = Math.floor(rel / outputStride);
      const r = rel - t * outputStride;
      if (rel < 0 || r >= rows) {
        expect(y[i]).toBe(-7);
      } else {
        expect(Math.abs(y[i]! - ref.y[t * rows + r]!)).toBeLessThanOrEqual(tolerance(type, cols) * ref.mag[t * rows + r]!);
      }
    }
  });
});

describe('real fixture tensors', () => {
  const cases: [string, string][] = [
    ['tinystories-llama-3M-Q4_K_M.gguf', 'blk.0.ffn_down.weight'],
    ['tinystories-llama-3M-Q4_K_M.gguf', 'output.weight'],
    ['tinystories-bitnet-3M-TQ1_0.gguf', 'blk.1.attn_q.weight'],
    ['tinystories-bitnet-3M-TQ2_0.gguf', 'blk.1.ffn_up.weight'],
    ['tinystories-bitnet-3M-I2_S.gguf', 'blk.1.ffn_down.weight'],
    ['stories260K-Q4_0.gguf', 'blk.0.attn_q.weight'],
  ];
  it.each(cases)('%s %s', async (file, tensorName) => {
    const source = await FileByteSource.open(localModel(file));
    const gguf = await readGGUF(source);
    const info = gguf.tensor(tensorName);
    expect(info, tensorName).toBeDefined();
    const bytes = await readTensorBytes(source, info!);
    const [cols, rows] = [info!.dims[0]!, info!.dims[1]!];
    const type = info!.typeId as GGMLType;
    const values = dequantizeTensor(type, bytes, rows * cols);
    const weight = uploadWeight(ctx, tensorName, type, rows, cols, bytes);
    const x = randomValues(cols, 9);
    const input = createStorageBuffer(ctx, x);
    const output = createStorageBuffer(ctx, rows * 4);
    const call = createMatVec(ctx, { type, rows, cols }).bind({ weight, input, output });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    call.encode(pass);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    const y = await readF32(ctx, output, rows);
    const ref = referenceMatmul(values, rows, cols, x, 1);
    let worst = 0;
    for (let r = 0; r < rows; r++) worst = Math.max(worst, Math.abs(y[r]! - ref.y[r]!) / ref.mag[r]!);
    expect(worst).toBeLessThanOrEqual(tolerance(type, cols));
  });
});

describe('planWeightParts', () => {
  it('keeps a tensor whole when it fits and splits by whole rows otherwise', () => {
    expect(planWeightParts(GGMLType.Q4_0, 10, 64, 1 << 20)).toEqual([{ rowStart: 0, rowCount: 10 }]);
    // Q4_0 64 cols = 36 bytes a row; 100 bytes hold 2 rows (72, padded 72).
    expect(planWeightParts(GGMLType.Q4_0, 5, 64, 100)).toEqual([
      { rowStart: 0, rowCount: 2 },
      { rowStart: 2, rowCount: 2 },
      { rowStart: 4, rowCount: 1 },
    ]);
    // Q6_K rows of 210 bytes: 2 rows (420) fit 423 only with room for padding (pad4(420) = 420).
    expect(planWeightParts(GGMLType.Q6_K, 3, 256, 423).map((p) => p.rowCount)).toEqual([2, 1]);
    // Padding never pushes a part over the limit: 3 rows of 18 bytes = 54 → 56 > 55.
    for (const p of planWeightParts(GGMLType.Q4_0, 7, 32, 55)) expect(Math.ceil((p.rowCount * 18) / 4) * 4).toBeLessThanOrEqual(55);
    expect(weightRowBytes(GGMLType.I2_S, 256)).toBe(64);
  });
  it('names the tensor and limit when a row cannot fit, and rejects partial blocks', () => {
    expect(() => planWeightParts(GGMLType.F32, 2, 64, 100, 'blk.0.w')).toThrow(DeviceLimitError);
    expect(() => planWeightParts(GGMLType.F32, 2, 64, 100, 'blk.0.w')).toThrow(/blk\.0\.w.*100 bytes/);
    expect(() => planWeightParts(GGMLType.Q4_K, 2, 100, 1 << 20, 'x')).toThrow(ModelFormatError);
    expect(() => weightRowBytes(GGMLType.I2_S, 64, 'bitnet.q')).toThrow(/bitnet\.q.*128/);
  });
});

describe('errors', () => {
  it('rejects types without a kernel, mismatched weights, bad offsets and short buffers', () => {
    expect(() => createMatVec(ctx, { type: GGMLType.MXFP4, rows: 4, cols: 256 })).toThrow(UnsupportedTensorTypeError);
    expect(() => createMatVec(ctx, { type: GGMLType.Q4_0, rows: 4, cols: 48 })).toThrow(ModelFormatError);
    expect(() => createMatVec(ctx, { type: GGMLType.F32, rows: 4, cols: 6 })).toThrow(/cols/);
    const q = makeWeight(GGMLType.Q8_0, 4, 64, 1);
    const weight = uploadWeight(ctx, 'blk.3.attn_k.weight', GGMLType.Q8_0, 4, 64, q.bytes);
    const input = createStorageBuffer(ctx, 64 * 4);
    const output = createStorageBuffer(ctx, 4 * 4);
    const other = createMatVec(ctx, { type: GGMLType.Q8_0, rows: 4, cols: 32 });
    expect(() => other.bind({ weight, input, output })).toThrow(/blk\.3\.attn_k\.weight/);
    const mv = createMatVec(ctx, { type: GGMLType.Q8_0, rows: 4, cols: 64 });
    expect(() => mv.bind({ weight, input, output, inputOffset: 2 })).toThrow(/inputOffset/);
    expect(() => mv.bind({ weight, input, output, outputOffset: 1 })).toThrow(/output holds 16 bytes, needs 20/);
    expect(() => mv.bind({ weight, input: createStorageBuffer(ctx, 60 * 4), output })).toThrow(/input/);
    expect(() => uploadWeight(ctx, 'short', GGMLType.Q8_0, 4, 64, q.bytes.subarray(0, 100))).toThrow(/short.*needs 272 bytes, got 100/);
    const i2s = makeWeight(GGMLType.I2_S, 2, 128, 1);
    const i2sWeight = uploadWeight(ctx, 'i2s', GGMLType.I2_S, 2, 128, i2s.bytes);
    delete i2sWeight.tensorScale;
    expect(() =>
      createMatVec(ctx, { type: GGMLType.I2_S, rows: 2, cols: 128 }).bind({
        weight: i2sWeight,
        input: createStorageBuffer(ctx, 512),
        output,
      }),
    ).toThrow(/scale/);
  });
  it('refuses the subgroup variant on a device without subgroups', async () => {
    const plain = await requestNodeGpu({ warn: null, allowSubgroups: false });
    try {
      expect(() => createMatVec(plain, { type: GGMLType.Q4_0, rows: 4, cols: 32, variant: { mode: 'subgroup-row' } })).toThrow(
        DeviceLimitError,
      );
      expect(() =>
        createMatVec(plain, { type: GGMLType.Q4_0, rows: 4, cols: 32, variant: { mode: 'thread-row', shareInput: true } }),
      ).toThrow(/subgroups/);
      const fallback = createMatVec(plain, { type: GGMLType.Q4_0, rows: 4, cols: 32 }).variant;
      expect(fallback.mode === 'subgroup-row' || fallback.shareInput).toBe(false);
    } finally {
      plain.device.destroy();
    }
  });
});
