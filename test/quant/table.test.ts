import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelFormatError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import * as gpuDecoders from '../../src/quant/gpu-decoders.ts';
import {
  allQuantLayouts,
  allQuantTypes,
  dequantizeTensor,
  getGpuQuantType,
  getQuantType,
  GGMLType,
  gpuBlockGeometry,
  gpuQuantTypes,
  i2sScale,
  quantizeTensor,
  quantTypeInfo,
  tensorByteSize,
} from '../../src/quant/index.ts';

const SUPPORTED = [
  'F32',
  'F16',
  'BF16',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'TQ1_0',
  'TQ2_0',
  'I2_S',
  'IQ4_NL',
  'IQ4_XS',
  'IQ3_S',
  'IQ3_XXS',
  'IQ2_XXS',
  'IQ2_XS',
  'IQ2_S',
  'IQ1_S',
  'IQ1_M',
];
const SUPPORTED_GPU = SUPPORTED;
/** Supported types added after the row rule moved into the table (no old numbers to compare). */
const EXTRA_TYPES: string[] = ['IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'IQ1_M']; // in type-id order
/** Read-only types: files made elsewhere (with an importance matrix) are dequantized, never written. */
const DEQUANTIZE_ONLY = ['IQ4_NL', 'IQ4_XS', 'IQ3_S', 'IQ3_XXS', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_S', 'IQ1_M'];

describe('quant table', () => {
  it('has one entry per layout, and exactly the supported types carry codecs and bounds', () => {
    expect(allQuantTypes().map((t) => t.id)).toEqual(allQuantLayouts().map((l) => l.id));
    expect(
      allQuantTypes()
        .filter((t) => t.supportedOnCpu)
        .map((t) => t.name)
        .sort(),
    ).toEqual([...SUPPORTED].sort());
    for (const t of allQuantTypes().filter((t) => t.supportedOnCpu)) {
      expect(t.dequantize, t.name).toBeTypeOf('function');
      expect(t.layout.id).toBe(t.id);
      if (DEQUANTIZE_ONLY.includes(t.name)) {
        expect(t.quantize, t.name).toBeUndefined();
        continue;
      }
      expect(t.quantize, t.name).toBeTypeOf('function');
      expect(t.errorBound!.rel, t.name).toBeGreaterThanOrEqual(0);
      expect(t.errorBound!.why.length, t.name).toBeGreaterThan(5);
    }
  });

  it('throws UnsupportedTensorTypeError "not supported yet" for known types without codecs, naming the tensor', () => {
    for (const id of [GGMLType.MXFP4, GGMLType.Q8_1, GGMLType.Q8_K, GGMLType.I8, GGMLType.I16, GGMLType.F64]) {
      expect(() => getQuantType(id, 'blk.0.attn_q.weight')).toThrow(UnsupportedTensorTypeError);
      expect(() => getQuantType(id, 'blk.0.attn_q.weight')).toThrow(
        new RegExp(`tensor "blk\\.0\\.attn_q\\.weight": tensor type ${GGMLType[id]} \\(id ${id}\\) is not supported yet`),
      );
    }
    let err: unknown;
    try {
      getQuantType(GGMLType.MXFP4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((err as UnsupportedTensorTypeError).typeId).toBe(GGMLType.MXFP4);
    expect(quantTypeInfo(GGMLType.MXFP4)?.supportedOnCpu).toBe(false);
    expect(quantTypeInfo(GGMLType.MXFP4)?.supportedOnGpu).toBe(false);
  });

  it('lists the GPU types when a type has no GPU decoder, and the CPU types when it has no codec', () => {
    const gpuNames = gpuQuantTypes().map((t) => t.name);
    expect(gpuNames.sort()).toEqual([...SUPPORTED_GPU].sort());
    expect(() => getGpuQuantType(GGMLType.MXFP4, 'blk.0.ffn_up.weight')).toThrow(UnsupportedTensorTypeError);
    expect(() => getGpuQuantType(GGMLType.MXFP4, 'blk.0.ffn_up.weight')).toThrow(
      new RegExp(
        `tensor "blk\\.0\\.ffn_up\\.weight": tensor type MXFP4 \\(id 39\\) is not supported on the GPU yet; supported: ${gpuQuantTypes()
          .map((t) => t.name)
          .join(', ')}$`,
      ),
    );
    // Q8_K has CPU codecs but is an activation format no file stores: supported nowhere.
    expect(() => getQuantType(GGMLType.Q8_K)).toThrow(/not supported yet; supported: F32, F16, /);
    expect(() => getGpuQuantType(GGMLType.Q8_K)).toThrow(/not supported on the GPU yet/);
  });

  it('rejects ids GGUF does not define', () => {
    for (const id of [4, 5, 31, 33, 37, 40, 1000]) {
      expect(() => getQuantType(id)).toThrow(/unknown GGML tensor type id/);
      expect(quantTypeInfo(id)).toBeUndefined();
    }
  });
});

// The checklist for adding a type: each test names what is missing for which type.
describe('quant table: what every supported type must have', () => {
  const gpuTypes = gpuQuantTypes();

  it('a CPU-supported type has a dequantizer; a quantizer comes with an error bound', () => {
    for (const t of allQuantTypes().filter((q) => q.supportedOnCpu)) {
      expect(t.dequantize, `${t.name}: dequantize`).toBeTypeOf('function');
      if (t.quantize) expect(t.errorBound, `${t.name}: errorBound`).toBeDefined();
    }
  });

  it('a GPU-supported type has a WGSL decoder and a CPU codec to be checked against', () => {
    for (const t of allQuantTypes()) {
      expect(t.supportedOnGpu, `${t.name}: supportedOnGpu ⇔ a decoder`).toBe(t.gpu !== undefined);
      if (t.supportedOnGpu) expect(t.supportedOnCpu, `${t.name}: a GPU decoder needs a CPU dequantizer`).toBe(true);
    }
    expect(gpuTypes.length).toBeGreaterThan(0);
  });

  it('every decoder is some entry’s, and its snippet is unique, includes "dq" and defines what the kernels call', () => {
    const declared = Object.values(gpuDecoders).filter(
      (v): v is gpuDecoders.GpuDecoder => typeof v === 'object' && v !== null && 'snippet' in v,
    );
    const used = gpuTypes.map((t) => t.gpu);
    expect(
      declared.filter((d) => !used.includes(d)).map((d) => d.snippet),
      'decoders no entry references',
    ).toEqual([]);
    expect(new Set(used.map((d) => d.snippet)).size, 'snippet names').toBe(used.length);
    for (const t of gpuTypes) {
      const src = t.gpu.source;
      const what = `${t.name} (${t.gpu.snippet})`;
      expect(src, `${what}: includes dq`).toMatch(/^#include "dq"$/m);
      expect(src, `${what}: decode_q or decode_t`).toMatch(t.gpu.ternary ? /\bfn decode_t\(/ : /\bfn decode_q\(/);
      expect(src, `${what}: decode() comes from dq.wgsl`).not.toMatch(/\bfn decode\(/);
      expect(src, `${what}: chunk_x`).toMatch(/\bfn chunk_x\(/);
      // NCH is a literal, or {{N / CW}} in a snippet written for the GEMM's smaller chunk too.
      const nch = /const NCH: u32 = (?:(\d+)|\{\{(\d+) \/ CW\}\})u;/.exec(src);
      expect(nch, `${what}: NCH`).not.toBeNull();
      const nchFor = (cw: number) => (nch![1] !== undefined ? Number(nch![1]) : Number(nch![2]) / cw);
      expect(nchFor(t.gpu.chunkVec4s), `${what}: NCH`).toBe(t.gpu.chunksPerBlock);
      if (t.gpu.gemmChunkVec4s !== undefined) {
        expect(nch![2], `${what}: NCH follows CW`).toBeDefined();
        expect(nchFor(t.gpu.gemmChunkVec4s) * t.gpu.gemmChunkVec4s, `${what}: GEMM chunks cover the chunks`).toBe(
          t.gpu.chunksPerBlock * t.gpu.chunkVec4s,
        );
        expect(t.gpu.gemmChunkVec4s % (t.gpu.gemmGroups ?? t.gpu.groups), `${what}: GEMM groups`).toBe(0);
      }
      if (t.gpu.float) continue;
      const geo = gpuBlockGeometry(t.layout, t.gpu, t.rowMultiple);
      expect(src, `${what}: QK`).toContain(`const QK: u32 = ${geo.blockElems}u;`);
      expect(src, `${what}: QB`).toContain(`const QB: u32 = ${geo.blockBytes}u;`);
      // Chunks cover the block (TQ1_0 pads its chunks); scale groups split a chunk evenly.
      expect(t.gpu.chunksPerBlock * t.gpu.chunkVec4s * 4, `${what}: chunks cover the block`).toBeGreaterThanOrEqual(geo.blockElems);
      expect(t.gpu.chunkVec4s % t.gpu.groups, `${what}: groups`).toBe(0);
      expect(geo.usesW4 && !geo.aligned, `${what}: 16-byte loads need aligned blocks`).toBe(false);
    }
  });

  it('a type has a trailer reader exactly when it has a trailer, and the GPU applies that scale only to ternary decoders', () => {
    for (const t of allQuantTypes()) {
      expect(t.readTensorParams !== undefined, `${t.name}: readTensorParams ⇔ trailerBytes > 0`).toBe(t.trailerBytes > 0);
      if (t.gpu && t.trailerBytes > 0) expect(t.gpu.ternary, `${t.name}: the embedding scales ternary tables only`).toBe(true);
    }
  });

  it('the layers above the table name no type: the loader, the weights code and the kernels ask the entry', () => {
    const names = allQuantTypes().map((t) => t.name);
    const typeWord = new RegExp(`GGMLType\\.|\\b(i2s|I2S)|\\b(${names.join('|')})\\b`);
    const files = [
      'src/runtime/loader.ts',
      'src/runtime/linear.ts',
      'src/gpu/weights.ts',
      'src/kernels/matmul.ts',
      'src/kernels/embedding.ts',
      'src/quant/types.ts',
    ];
    const offenders: string[] = [];
    for (const f of files) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // types.ts declares the ids and their layouts; its code below the table must not branch on them.
          if (f === 'src/quant/types.ts' && !/^\s*(if|return|const|let)\b/.test(line)) return;
          if (typeWord.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
    // Decoders live with the table: no kernel keeps its own list.
    expect(readdirSync('src/kernels').filter((f) => /decoder/.test(f))).toEqual([]);
  });
});

describe('row rule', () => {
  // Bytes of a 256-element row, the row multiple and the trailer as the loader, the weights code
  // and tensorByteSize computed them before the rule moved into the table.
  const OLD: Record<string, [rowBytes256: number, rowMultiple: number, trailer: number]> = {
    F32: [1024, 1, 0],
    F16: [512, 1, 0],
    BF16: [512, 1, 0],
    Q4_0: [144, 32, 0],
    Q4_1: [160, 32, 0],
    Q5_0: [176, 32, 0],
    Q5_1: [192, 32, 0],
    Q8_0: [272, 32, 0],
    Q2_K: [84, 256, 0],
    Q3_K: [110, 256, 0],
    Q4_K: [144, 256, 0],
    Q5_K: [176, 256, 0],
    Q6_K: [210, 256, 0],
    TQ1_0: [54, 256, 0],
    TQ2_0: [66, 256, 0],
    I2_S: [64, 128, 32],
  };

  it('gives the old row bytes, row multiple and trailer for every supported type', () => {
    const supported = allQuantTypes().filter((t) => t.supportedOnCpu || t.supportedOnGpu);
    expect(
      supported.map((t) => t.name).filter((n) => !(n in OLD)),
      'types without expected numbers',
    ).toEqual(EXTRA_TYPES);
    for (const t of supported.filter((q) => q.name in OLD)) {
      const [rowBytes, rowMultiple, trailer] = OLD[t.name]!;
      expect([t.rowBytes(256), t.rowMultiple, t.trailerBytes], t.name).toEqual([rowBytes, rowMultiple, trailer]);
      expect(tensorByteSize(t.layout, 256 * 3), t.name).toBe(3 * rowBytes + trailer);
    }
  });

  it('rejects rows that are not a positive multiple of the row multiple, naming the tensor', () => {
    const i2s = getQuantType(GGMLType.I2_S);
    expect(() => i2s.rowBytes(64, 'bitnet.q')).toThrow(ModelFormatError);
    expect(() => i2s.rowBytes(64, 'bitnet.q')).toThrow(/tensor "bitnet\.q": I2_S rows of 64 elements are not a multiple of 128/);
    expect(() => getQuantType(GGMLType.Q4_K).rowBytes(100)).toThrow(/not a multiple of 256/);
    expect(() => getQuantType(GGMLType.F32).rowBytes(0)).toThrow(ModelFormatError);
    expect(() => getQuantType(GGMLType.F32).rowBytes(1.5)).toThrow(ModelFormatError);
    // Unsupported types still know their row rule (the reader sizes them).
    expect(quantTypeInfo(GGMLType.IQ2_XXS)!.rowBytes(512)).toBe(132);
  });

  it('reads I2_S’s trailer into the per-tensor scale the CPU codec uses', () => {
    const i2s = getQuantType(GGMLType.I2_S);
    const values = new Float32Array(256).map((_, i) => ((i % 3) - 1) * 0.375);
    const bytes = quantizeTensor(GGMLType.I2_S, values);
    const trailer = bytes.subarray(i2s.rowBytes(256), i2s.rowBytes(256) + i2s.trailerBytes);
    expect(trailer.length).toBe(32);
    expect(i2s.readTensorParams!(trailer)).toEqual({ tensorScale: 0.375 });
    expect(i2s.readTensorParams!(trailer).tensorScale).toBe(i2sScale(bytes, 256));
    expect(() => i2s.readTensorParams!(trailer.subarray(0, 3))).toThrow(ModelFormatError);
  });

  it('gives the GPU block geometry the kernels used before', () => {
    const geo = (t: GGMLType, cols: number) => {
      const e = getGpuQuantType(t);
      const g = gpuBlockGeometry(e.layout, e.gpu, cols);
      return [g.blockElems, g.blockBytes, g.aligned, g.chunkVec4s, g.usesW4];
    };
    expect(geo(GGMLType.F32, 256)).toEqual([32, 128, true, 8, true]);
    expect(geo(GGMLType.F32, 12)).toEqual([4, 16, true, 1, true]);
    expect(geo(GGMLType.F16, 256)).toEqual([32, 64, true, 8, true]);
    expect(geo(GGMLType.F16, 12)).toEqual([4, 8, true, 1, false]);
    expect(geo(GGMLType.BF16, 40)).toEqual([8, 16, true, 2, true]);
    expect(geo(GGMLType.F16, 6)[0]).toBe(0);
    expect(geo(GGMLType.Q4_0, 256)).toEqual([32, 18, false, 8, false]);
    expect(geo(GGMLType.Q4_1, 256)).toEqual([32, 20, true, 8, false]);
    expect(geo(GGMLType.Q5_0, 256)).toEqual([32, 22, false, 8, false]);
    expect(geo(GGMLType.Q5_1, 256)).toEqual([32, 24, true, 8, false]);
    expect(geo(GGMLType.Q8_0, 256)).toEqual([32, 34, false, 8, false]);
    expect(geo(GGMLType.Q2_K, 256)).toEqual([256, 84, true, 8, false]);
    expect(geo(GGMLType.Q3_K, 256)).toEqual([256, 110, false, 8, false]);
    expect(geo(GGMLType.Q4_K, 256)).toEqual([256, 144, true, 16, true]);
    expect(geo(GGMLType.Q5_K, 256)).toEqual([256, 176, true, 16, true]);
    expect(geo(GGMLType.Q6_K, 256)).toEqual([256, 210, false, 16, false]);
    expect(geo(GGMLType.TQ1_0, 256)).toEqual([256, 54, false, 24, false]);
    // Repacked at load time (gpu-layout.ts): 64 bytes of codes per block, aligned, 16-byte loads.
    expect(geo(GGMLType.TQ2_0, 256)).toEqual([256, 64, true, 32, true]);
    expect(geo(GGMLType.I2_S, 256)).toEqual([128, 32, true, 32, true]);
  });
});

describe('dequantizeTensor / quantizeTensor', () => {
  it('size-checks against tensorByteSize, including I2_S’s 32-byte trailer', () => {
    const layout = getQuantType(GGMLType.I2_S).layout;
    expect(tensorByteSize(layout, 256)).toBe(96);
    const bytes = quantizeTensor(GGMLType.I2_S, new Float32Array(256).fill(0.25));
    expect(bytes.length).toBe(96);
    expect(Array.from(dequantizeTensor(GGMLType.I2_S, bytes, 256)).every((v) => v === 0.25)).toBe(true);
    expect(() => dequantizeTensor(GGMLType.I2_S, bytes.subarray(0, 95), 256, { tensorName: 'w' })).toThrow(
      /tensor "w" \(I2_S\): 256 elements need 96 bytes, got 95/,
    );
  });

  it('names the tensor for bad element counts and unsupported types', () => {
    expect(() => dequantizeTensor(GGMLType.Q4_K, new Uint8Array(144), 100, { tensorName: 'output.weight' })).toThrow(ModelFormatError);
    expect(() => dequantizeTensor(GGMLType.Q4_K, new Uint8Array(144), 100, { tensorName: 'output.weight' })).toThrow(
      /tensor "output.weight" \(Q4_K\): 100 elements is not a multiple of the block size 256/,
    );
    expect(() => dequantizeTensor(GGMLType.MXFP4, new Uint8Array(17), 32, { tensorName: 'x' })).toThrow(/tensor "x": tensor type MXFP4/);
    expect(() => dequantizeTensor(GGMLType.I2_S, new Uint8Array(64), 64)).toThrow(/not a multiple of 128/);
  });

  it('ignores bytes past the tensor and fills a caller-provided array', () => {
    const values = new Float32Array(64).map((_, i) => i / 8 - 4);
    const bytes = quantizeTensor(GGMLType.Q8_0, values);
    const padded = new Uint8Array(bytes.length + 10);
    padded.set(bytes);
    const dst = new Float32Array(64);
    expect(dequantizeTensor(GGMLType.Q8_0, padded, 64, { dst })).toBe(dst);
    expect(Array.from(dst)).toEqual(Array.from(dequantizeTensor(GGMLType.Q8_0, bytes, 64)));
  });
});
