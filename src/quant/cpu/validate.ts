/**
 * Argument checks shared by the CPU codecs. Tensor bytes come from untrusted files, so a wrong
 * element count or a short buffer is a ModelFormatError naming the type and the sizes involved,
 * never an out-of-bounds read (typed arrays would silently yield undefined → NaN).
 */

import { ModelFormatError } from '../../errors.ts';

/** Throws unless `nElements` is a whole number of blocks and `src` holds all of their bytes. */
export function assertTensorBytes(type: string, src: Uint8Array, nElements: number, blockSize: number, blockBytes: number): number {
  if (!Number.isSafeInteger(nElements) || nElements < 0) {
    throw new ModelFormatError(`${type}: element count ${nElements} is not a non-negative integer`);
  }
  if (nElements % blockSize !== 0) {
    throw new ModelFormatError(`${type}: ${nElements} elements is not a multiple of the block size ${blockSize}`);
  }
  const nBlocks = nElements / blockSize;
  const need = nBlocks * blockBytes;
  if (src.length < need) {
    throw new ModelFormatError(`${type}: ${nElements} elements need ${need} bytes, got ${src.length}`);
  }
  return nBlocks;
}

/** Output array for a dequantize: the caller's (checked for size) or a new one. */
export function floatOutput(type: string, nElements: number, dst: Float32Array | undefined): Float32Array {
  if (!dst) return new Float32Array(nElements);
  if (dst.length < nElements) {
    throw new RangeError(`${type}: output holds ${dst.length} values, ${nElements} needed`);
  }
  return dst;
}

/** Block count of a quantize input, and its output bytes (the caller's, checked, or new, zeroed). */
export function quantizeOutput(
  type: string,
  src: Float32Array,
  blockSize: number,
  blockBytes: number,
  dst: Uint8Array | undefined,
): { nBlocks: number; out: Uint8Array } {
  if (src.length % blockSize !== 0) {
    throw new ModelFormatError(`${type}: ${src.length} values is not a multiple of the block size ${blockSize}`);
  }
  const nBlocks = src.length / blockSize;
  const need = nBlocks * blockBytes;
  if (!dst) return { nBlocks, out: new Uint8Array(need) };
  if (dst.length < need) throw new RangeError(`${type}: output holds ${dst.length} bytes, ${need} needed`);
  return { nBlocks, out: dst };
}

/**
 * The row length of an importance-weighted quantize: `importance` holds one weight per column, so
 * its length is the row length, which must be a whole number of blocks and divide the input.
 */
export function importanceRowLength(type: string, src: Float32Array, importance: Float32Array, blockSize: number): number {
  const rowLength = importance.length;
  if (rowLength === 0 || rowLength % blockSize !== 0 || src.length % rowLength !== 0) {
    throw new ModelFormatError(`${type}: importance weights for rows of ${rowLength} values do not fit ${src.length} values`);
  }
  return rowLength;
}
