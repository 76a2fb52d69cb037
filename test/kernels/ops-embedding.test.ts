// Embedding lookup: float tables, block tables through the GPU decoders (every GPU-supported block type), tables split into row parts, ids by position, bad ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import { type EmbeddingTable, createEmbedding } from '../../src/kernels/embedding.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { dequantizeBF16, dequantizeF16, quantizeBF16, quantizeF16 } from '../../src/quant/cpu/float.ts';
import { dequantizeTensor, getQuantType, gpuQuantTypes, quantizeTensor } from '../../src/quant/table.ts';
import { makeWeight } from './matmul-helpers.ts';
import { i2sScale } from '../../src/quant/cpu/ternary.ts';
import { readGGUF, readTensorBytes } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { loadGpuWeights } from '../../src/runtime/loader.ts';
import { toGpuRows } from '../../src/gpu/weights.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { build, expectClose, randn, run, runStep } from './ops-helpers.ts';

/** Table bytes for `values` [rows][cols] in `type`, split into parts at the given row boundaries, plus the decoded reference. */
function makeTable(
  ctx: GpuContext,
  type: GGMLType,
  values: Float32Array,
  rows: number,
  cols: number,
  cuts: number[] = [],
): { table: EmbeddingTable; ref: Float32Array } {
  let bytes: Uint8Array;
  let ref: Float32Array;
  let scale: number | undefined;
  if (type === GGMLType.I2_S) {
    // The GPU holds only the codes (as the loader uploads them); the scale travels as tensorScale.
    const all = quantizeTensor(type, values);
    ref = dequantizeTensor(type, all, values.length);
    scale = i2sScale(all, values.length);
    bytes = all.subarray(0, values.length / 4);
  } else if (type === GGMLType.F32) {
    bytes = new Uint8Array(values.buffer.slice(0));
    ref = values;
  } else if (type === GGMLType.F16) {
    bytes = quantizeF16(values);
    ref = dequantizeF16(bytes, values.length);
  } else if (type === GGMLType.BF16) {
    bytes = quantizeBF16(values);
    ref = dequantizeBF16(bytes, values.length);
  } else if (getQuantType(type).quantize) {
    bytes = quantizeTensor(type, values);
    ref = dequantizeTensor(type, bytes, values.length);
  } else {
    // A type lowbit only reads: random blocks, as the mat-vec tests use.
    ({ bytes, values: ref } = makeWeight(type, rows, cols, rows * cols));
  }
  const rowBytes = bytes.length / rows;
  const bounds = [0, ...cuts, rows];
  const parts = bounds.slice(1).map((end, i) => {
    const start = bounds[i]!;
    // Each part's rows as the GPU holds them (repacked where the type has a GPU row layout).
    const partBytes = toGpuRows(type, bytes.slice(start * rowBytes, end * rowBytes), cols, end - start);
    return { buffer: createStorageBuffer(ctx, partBytes), rowStart: start, rowCount: end - start };
  });
  return { table: { name: 'token_embd.weight', type, rows, cols, parts, tensorScale: scale }, ref };
}

describe('embedding', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  for (const type of [GGMLType.F32, GGMLType.F16, GGMLType.BF16]) {
    for (const cuts of [[], [3, 50]]) {
      it(`${GGMLType[type]} table in ${cuts.length + 1} part(s): ids from the step's buffer, out-of-range ids give zeros`, async () => {
        const rows = 97;
        const cols = 38;
        const { table, ref } = makeTable(ctx, type, randn(rows * cols, type + cuts.length, 3), rows, cols, cuts);
        const ids = Uint32Array.from([5, 96, 0, 4_000_000, 3, 50, 49, 2]);
        const tokens = 7; // the last id is past nTokens: not looked up
        const params = createStepParams(ctx, { pos0: 30, nTokens: tokens });
        const output = createStorageBuffer(ctx, new Float32Array(ids.length * cols).fill(-1));
        const k = await build(ctx, () => createEmbedding(ctx, { type, rows, cols, maxTokens: 8 }));
        await runStep(
          ctx,
          cuts.length ? { pos0: 30, nTokens: tokens } : undefined,
          k.bind({ params, ids: createStorageBuffer(ctx, ids), table, output }),
        );
        const got = await readF32(ctx, output);
        for (let t = 0; t < ids.length; t++) {
          const row = got.subarray(t * cols, (t + 1) * cols);
          const id = ids[t]!;
          const want =
            t >= tokens ? new Float32Array(cols).fill(-1) : id >= rows ? new Float32Array(cols) : ref.subarray(id * cols, (id + 1) * cols);
          expect(row, `token ${t} id ${id}`).toEqual(want);
        }
      });
    }
  }

  // Block types decode through the mat-vec kernels' decoders (one chunk per thread); the table
  // rows are not 4-byte aligned for many of them (Q8_0 34 bytes per block, Q5_0 22, Q6_K 210 …).
  const blockCases: [GGMLType, number][] = [
    [GGMLType.Q8_0, 96],
    [GGMLType.Q4_0, 64],
    [GGMLType.Q4_1, 32],
    [GGMLType.Q5_0, 96],
    [GGMLType.Q5_1, 32],
    [GGMLType.Q2_K, 256],
    [GGMLType.Q3_K, 256],
    [GGMLType.Q4_K, 512],
    [GGMLType.Q5_K, 256],
    [GGMLType.Q6_K, 256],
    [GGMLType.TQ1_0, 256],
    [GGMLType.TQ2_0, 256],
    [GGMLType.I2_S, 256],
    [GGMLType.IQ4_NL, 96],
    [GGMLType.IQ4_XS, 256],
    [GGMLType.IQ3_S, 256],
    [GGMLType.IQ3_XXS, 256],
    [GGMLType.IQ2_XXS, 256],
    [GGMLType.IQ2_XS, 256],
    [GGMLType.IQ2_S, 256],
    [GGMLType.IQ1_S, 256],
    [GGMLType.IQ1_M, 256],
  ];
  it('covers every block type the GPU decoders have', () => {
    const floats = [GGMLType.F32, GGMLType.F16, GGMLType.BF16];
    const missing = gpuQuantTypes().filter((t) => !floats.includes(t.id) && !blockCases.some(([c]) => c === t.id));
    expect(missing.map((t) => t.name)).toEqual([]);
  });
  for (const [type, cols] of blockCases) {
    it(`${GGMLType[type]} table ${cols} wide, split in 3 parts, matches the CPU dequantizer`, async () => {
      const rows = 13;
      const ternary = type === GGMLType.TQ1_0 || type === GGMLType.TQ2_0 || type === GGMLType.I2_S;
      const values = randn(rows * cols, type * 7 + cols, 2).map((v) => (ternary ? Math.sign(Math.round(v)) * 0.25 : v));
      const { table, ref } = makeTable(ctx, type, values, rows, cols, [4, 5]);
      const ids = Uint32Array.from([12, 0, 4, 3, 77]);
      const params = createStepParams(ctx, { pos0: 0, nTokens: ids.length });
      const output = createStorageBuffer(ctx, new Float32Array(ids.length * cols).fill(-1));
      const k = await build(ctx, () => createEmbedding(ctx, { type, rows, cols, maxTokens: ids.length }));
      await run(ctx, k.bind({ params, ids: createStorageBuffer(ctx, ids), table, output }));
      const got = await readF32(ctx, output);
      ids.forEach((id, t) => {
        const want = id >= rows ? new Float32Array(cols) : ref.subarray(id * cols, (id + 1) * cols);
        expectClose(got.subarray(t * cols, (t + 1) * cols), want, 1e-7, 1e-6, `token ${t} id ${id}`);
      });
    });
  }

  // The real token_embd tables of the fixtures, through the streaming loader, split in parts.
  for (const [label, path] of [
    ['stories260K F32', localModel('stories260K.gguf')],
    ['TinyStories-656K Q8_0', localModel('TinyStories-656K-Q8_0.gguf')],
    ['stories260K-Q4_0 (Q5_0 embd)', localModel('stories260K-Q4_0.gguf')],
    ['bitnet TQ1_0 file (Q6_K embd)', localModel('tinystories-bitnet-3M-TQ1_0.gguf')],
    ['demo llama Q4_K_M (Q4_K embd)', demoModel],
  ] as const) {
    it(`fixture token_embd: ${label}`, async () => {
      const source = await FileByteSource.open(path);
      try {
        const gguf = await readGGUF(source);
        const info = gguf.tensor('token_embd.weight')!;
        const [cols, rows] = [Number(info.dims[0]), Number(info.dims[1])];
        const ref = dequantizeTensor(info.typeId, await readTensorBytes(source, info), rows * cols);
        const rowBytes = info.byteSize / rows;
        const weights = await loadGpuWeights(ctx.device, source, {
          gguf,
          filter: (t) => t.name === 'token_embd.weight',
          maxBufferBytes: Math.ceil((rows / 3) * rowBytes),
        });
        const table = weights.get('token_embd.weight')!;
        expect(table.parts.length).toBeGreaterThanOrEqual(3);
        const ids = Uint32Array.from([0, 1, rows - 1, Math.floor(rows / 2), table.parts[1]!.rowStart, table.parts[1]!.rowStart - 1]);
        const params = createStepParams(ctx, { pos0: 0, nTokens: ids.length });
        const output = createStorageBuffer(ctx, ids.length * cols * 4);
        const k = await build(ctx, () => createEmbedding(ctx, { type: table.type, rows, cols, maxTokens: ids.length }));
        await run(ctx, k.bind({ params, ids: createStorageBuffer(ctx, ids), table, output }));
        const got = await readF32(ctx, output);
        ids.forEach((id, t) =>
          expectClose(got.subarray(t * cols, (t + 1) * cols), ref.subarray(id * cols, (id + 1) * cols), 1e-7, 1e-6, `${label} id ${id}`),
        );
        for (const p of table.parts) p.buffer.destroy();
      } finally {
        await source.close?.();
      }
    });
  }

  it('reads ids from the token history at pos0 + t', async () => {
    const rows = 10;
    const cols = 4;
    const { table, ref } = makeTable(ctx, GGMLType.F32, randn(rows * cols, 1), rows, cols);
    const history = Uint32Array.from([9, 8, 7, 6, 5, 4, 3, 2]);
    const params = createStepParams(ctx, { pos0: 5, nTokens: 2 });
    const output = createStorageBuffer(ctx, 2 * cols * 4);
    const k = await build(ctx, () => createEmbedding(ctx, { type: GGMLType.F32, rows, cols, maxTokens: 2, idsByPosition: true }));
    await run(ctx, k.bind({ params, ids: createStorageBuffer(ctx, history), table, output }));
    const got = await readF32(ctx, output);
    expect(got.subarray(0, cols)).toEqual(ref.subarray(4 * cols, 5 * cols));
    expect(got.subarray(cols)).toEqual(ref.subarray(3 * cols, 4 * cols));
  });

  it('rejects a table that does not match or whose parts leave gaps', () => {
    const k = createEmbedding(ctx, { type: GGMLType.F32, rows: 10, cols: 4 });
    const buf = createStorageBuffer(ctx, 160);
    const table: EmbeddingTable = { name: 't', type: GGMLType.F32, rows: 10, cols: 4, parts: [{ buffer: buf, rowStart: 0, rowCount: 9 }] };
    expect(() => k.bind({ params: buf, ids: buf, table, output: buf })).toThrow(/cover 9 of 10/);
    expect(() => k.bind({ params: buf, ids: buf, table: { ...table, cols: 5 }, output: buf })).toThrow(/built for/);
    expect(() => createEmbedding(ctx, { type: GGMLType.MXFP4, rows: 10, cols: 256 })).toThrow(/MXFP4/);
    expect(() => createEmbedding(ctx, { type: GGMLType.Q4_K, rows: 10, cols: 128 })).toThrow(/Q4_K rows of 128 values .* 256-value block/);
    const i2s = createEmbedding(ctx, { type: GGMLType.I2_S, rows: 1, cols: 128 });
    const i2sTable: EmbeddingTable = {
      name: 't',
      type: GGMLType.I2_S,
      rows: 1,
      cols: 128,
      parts: [{ buffer: buf, rowStart: 0, rowCount: 1 }],
    };
    expect(() => i2s.bind({ params: buf, ids: buf, table: i2sTable, output: buf })).toThrow(/I2_S table 't' has no per-tensor scale/);
  });
});
