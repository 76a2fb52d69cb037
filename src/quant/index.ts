/** Public face of the quant layer: layouts, the type table, the CPU reference codecs and the GPU decoders. */

export * from './types.ts';
export {
  allQuantTypes,
  dequantizeTensor,
  type DequantizeFn,
  type ErrorBound,
  getGpuQuantType,
  getQuantType,
  type GpuQuantType,
  gpuQuantTypes,
  quantizeTensor,
  type QuantizeFn,
  type QuantType,
  quantTypeInfo,
  type TensorParams,
} from './table.ts';
export { type BlockGeometry, decoderSnippets, floatBlock, type GpuDecoder, gpuBlockGeometry } from './gpu-decoders.ts';
export {
  bf16ToF32,
  f16BitsTable,
  f16Table,
  f16ToF32,
  f32BitsToBf16,
  f32BitsToF16,
  f32ToBf16,
  f32ToF16,
  readF16,
  writeF16,
} from './cpu/float.ts';
export { nearestInt } from './cpu/rounding.ts';
export * from './cpu/legacy.ts';
export * from './cpu/kquants.ts';
export * from './cpu/ternary.ts';
export * from './cpu/iquants.ts';
export { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from './cpu/float.ts';
