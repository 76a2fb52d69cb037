import { describe, expect, it } from 'vitest';
import { ModelFormatError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import {
  allQuantLayouts,
  allQuantTypes,
  dequantizeTensor,
  getQuantType,
  GGMLType,
  quantizeTensor,
  quantTypeInfo,
  registerWgslDecode,
  tensorByteSize,
} from '../../src/quant/index.ts';

const SUPPORTED = ['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'TQ1_0', 'TQ2_0', 'I2_S'];

describe('quant table', () => {
  it('has one entry per layout, and exactly the supported types carry codecs and bounds', () => {
    expect(allQuantTypes().map((t) => t.id)).toEqual(allQuantLayouts().map((l) => l.id));
    expect(allQuantTypes().filter((t) => t.supported).map((t) => t.name).sort()).toEqual([...SUPPORTED].sort());
    for (const t of allQuantTypes().filter((t) => t.supported)) {
      expect(t.dequantize, t.name).toBeTypeOf('function');
      expect(t.quantize, t.name).toBeTypeOf('function');
      expect(t.errorBound!.rel, t.name).toBeGreaterThanOrEqual(0);
      expect(t.errorBound!.why.length, t.name).toBeGreaterThan(5);
      expect(t.layout.id).toBe(t.id);
    }
  });

  it('throws UnsupportedTensorTypeError "not supported yet" for known types without codecs, naming the tensor', () => {
    for (const id of [GGMLType.IQ2_XXS, GGMLType.IQ4_NL, GGMLType.MXFP4, GGMLType.Q8_1, GGMLType.Q8_K, GGMLType.I8, GGMLType.F64]) {
      expect(() => getQuantType(id, 'blk.0.attn_q.weight')).toThrow(UnsupportedTensorTypeError);
      expect(() => getQuantType(id, 'blk.0.attn_q.weight')).toThrow(
        new RegExp(`tensor "blk\\.0\\.attn_q\\.weight": tensor type ${GGMLType[id]} \\(id ${id}\\) is not supported yet`),
      );
    }
    let err: unknown;
    try {
      getQuantType(GGMLType.IQ1_M);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect((err as UnsupportedTensorTypeError).typeId).toBe(GGMLType.IQ1_M);
    expect(quantTypeInfo(GGMLType.IQ1_M)?.supported).toBe(false);
  });

  it('rejects ids GGUF does not define', () => {
    for (const id of [4, 5, 31, 33, 37, 40, 1000]) {
      expect(() => getQuantType(id)).toThrow(/unknown GGML tensor type id/);
      expect(quantTypeInfo(id)).toBeUndefined();
    }
  });

  it('lets the kernels attach a WGSL decoder to an entry', () => {
    registerWgslDecode(GGMLType.Q4_K, 'fn decode_q4_k() {}');
    expect(getQuantType(GGMLType.Q4_K).wgslDecode).toBe('fn decode_q4_k() {}');
    expect(() => registerWgslDecode(33 as GGMLType, 'x')).toThrow(UnsupportedTensorTypeError);
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
    expect(() => dequantizeTensor(GGMLType.IQ2_S, new Uint8Array(82), 256, { tensorName: 'x' })).toThrow(/tensor "x": tensor type IQ2_S/);
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
