/**
 * Weights in GPU memory, as the kernels take them (docs: notes/KERNELS.md).
 *
 * rows = output features (ggml ne[1]), cols = input features (ne[0]). Raw GGUF row-major bytes:
 * row r of a part starts at (r − rowStart)·rowBytes in that part's buffer. A tensor larger than
 * the device's binding limit is split into several buffers by whole rows ({@link planWeightParts});
 * kernels dispatch once per part. Buffers are padded to a multiple of 4 bytes.
 * I2_S: only the 2-bit codes are uploaded; the per-tensor scale is kept in `i2sScale`.
 */
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import { GGMLType, I2S_TRAILER_BYTES, quantLayout } from '../quant/types.ts';
import type { GpuContext } from './device.ts';
import { createStorageBuffer, pad4 } from './buffers.ts';

export interface GpuWeightPart {
  buffer: GPUBuffer;
  rowStart: number;
  rowCount: number;
}

export interface GpuWeight {
  name: string;
  type: GGMLType;
  rows: number;
  cols: number;
  /** Bytes per row in the buffers (the loader's field; derived from type and cols when absent). */
  rowBytes?: number;
  parts: GpuWeightPart[];
  /** I2_S only: the per-tensor scale taken from the tensor's trailer. */
  i2sScale?: number;
}

/**
 * Bytes of one row of `cols` elements of `type` as stored on the GPU (I2_S: codes only).
 * Throws ModelFormatError when cols is not a whole number of blocks.
 */
export function weightRowBytes(type: GGMLType, cols: number, name = 'weight'): number {
  const layout = quantLayout(type);
  if (!layout) throw new ModelFormatError(`${name}: unknown GGML type id ${type}`);
  if (!Number.isSafeInteger(cols) || cols < 1) throw new ModelFormatError(`${name}: cols must be a positive integer, got ${cols}`);
  const block = type === GGMLType.I2_S ? 128 : layout.blockSize;
  if (cols % block !== 0) {
    throw new ModelFormatError(`${name}: ${layout.name} rows of ${cols} elements are not a multiple of the ${block}-element block`);
  }
  return type === GGMLType.I2_S ? cols / 4 : (cols / layout.blockSize) * layout.blockBytes;
}

/**
 * The row ranges a weight is split into so that each part's buffer (padded to 4 bytes) fits
 * `maxBindingBytes`: as many whole rows per part as fit, the last part taking the rest. The
 * streaming loader and {@link uploadWeight} both use this rule.
 */
export function planWeightParts(
  type: GGMLType,
  rows: number,
  cols: number,
  maxBindingBytes: number,
  name = 'weight',
): { rowStart: number; rowCount: number }[] {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new ModelFormatError(`${name}: rows must be a positive integer, got ${rows}`);
  const rowBytes = weightRowBytes(type, cols, name);
  const limit = Math.floor(maxBindingBytes / 4) * 4;
  if (pad4(rows * rowBytes) <= limit) return [{ rowStart: 0, rowCount: rows }];
  // limit is a multiple of 4, so pad4(n·rowBytes) ≤ limit exactly when n·rowBytes ≤ limit.
  const perPart = Math.floor(limit / rowBytes);
  if (perPart < 1) {
    throw new DeviceLimitError(`${name}: one row is ${rowBytes} bytes, more than the buffer binding limit of ${maxBindingBytes} bytes`);
  }
  const parts: { rowStart: number; rowCount: number }[] = [];
  for (let r = 0; r < rows; r += perPart) parts.push({ rowStart: r, rowCount: Math.min(perPart, rows - r) });
  return parts;
}

/** Largest buffer a weight part may use on this device. */
export function maxWeightPartBytes(ctx: { limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'> }): number {
  return Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
}

export interface UploadWeightOptions {
  /** Cap on bytes per part (default: the device's binding limit); tests force small parts. */
  maxPartBytes?: number;
}

/**
 * Uploads a whole tensor held in memory (tests, small models; big models stream through the
 * loader). `bytes` are the tensor's GGUF bytes; for I2_S including the 32-byte trailer with the
 * per-tensor scale.
 */
export function uploadWeight(
  ctx: GpuContext,
  name: string,
  type: GGMLType,
  rows: number,
  cols: number,
  bytes: Uint8Array,
  options: UploadWeightOptions = {},
): GpuWeight {
  const rowBytes = weightRowBytes(type, cols, name);
  const codeBytes = rows * rowBytes;
  const need = type === GGMLType.I2_S ? codeBytes + I2S_TRAILER_BYTES : codeBytes;
  if (bytes.byteLength < need) {
    throw new ModelFormatError(`${name}: ${GGMLType[type]} ${rows}×${cols} needs ${need} bytes, got ${bytes.byteLength}`);
  }
  const maxBytes = Math.min(options.maxPartBytes ?? Infinity, maxWeightPartBytes(ctx));
  const parts = planWeightParts(type, rows, cols, maxBytes, name).map(({ rowStart, rowCount }, i) => ({
    buffer: createStorageBuffer(ctx, bytes.subarray(rowStart * rowBytes, (rowStart + rowCount) * rowBytes), { label: `${name}#${i}` }),
    rowStart,
    rowCount,
  }));
  const weight: GpuWeight = { name, type, rows, cols, rowBytes, parts };
  if (type === GGMLType.I2_S) {
    weight.i2sScale = new DataView(bytes.buffer, bytes.byteOffset + codeBytes, 4).getFloat32(0, true);
  }
  return weight;
}

/** Frees a weight's buffers. */
export function destroyWeight(weight: GpuWeight): void {
  for (const p of weight.parts) p.buffer.destroy();
}
