/**
 * Weights in GPU memory, as the kernels take them, and the one rule splitting a weight into
 * buffers.
 *
 * rows = output features (ggml ne[1]), cols = input features (ne[0]). GGUF row-major bytes, or the
 * type's GPU row layout where its decoder has one (src/quant/gpu-layout.ts, repacked on upload):
 * row r of a part starts at (r − rowStart)·rowBytes in that part's buffer. A tensor larger than
 * the device's binding limit is split into several buffers by whole rows ({@link planRowParts});
 * kernels dispatch once per part. Buffers are padded to a multiple of 4 bytes. A per-tensor
 * trailer (the quant table entry's trailerBytes) is not uploaded: what it holds is read into the
 * weight's parameters (tensorScale).
 *
 * Weights read by the same kernel can be concatenated by rows into one (a layer's Q, K and V, or
 * its gate and up): {@link planConcatRows} says whether they can, {@link concatWeightRows} does it
 * on the GPU.
 */
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import { getGpuQuantType } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import type { GpuContext } from './device.ts';
import { createStorageBuffer, pad4 } from './buffers.ts';

/** One buffer of a weight: rows [rowStart, rowStart + rowCount). */
export interface GpuWeightPart<B = GPUBuffer> {
  buffer: B;
  rowStart: number;
  rowCount: number;
}

/**
 * A weight as the kernels take it. B is GPUBuffer everywhere but in tests of the streaming
 * loader, whose sinks may hold plain bytes.
 */
export interface GpuWeight<B = GPUBuffer> {
  name: string;
  type: GGMLType;
  /** Output features: product of ne[1..] (1 for a vector). */
  rows: number;
  /** Input features: ne[0]. */
  cols: number;
  /** Bytes per row in the buffers. */
  rowBytes: number;
  parts: GpuWeightPart<B>[];
  /** Multiplies every weight, for types whose trailer holds one (the entry's readTensorParams). */
  tensorScale?: number;
  /** A concatenation's members, in row order, each with its own per-tensor scale. */
  members?: { name: string; rows: number; tensorScale?: number }[];
}

/**
 * The row ranges a weight of `rows` rows of `rowBytes` bytes is split into so that each part's
 * buffer (padded to 4 bytes) fits `maxBytes`: as many whole rows per part as fit, the last part
 * taking the rest. The streaming loader and {@link uploadWeight} both use this rule.
 */
export function planRowParts(
  rows: number,
  rowBytes: number,
  maxBytes: number,
  tensorName = 'weight',
): { rowStart: number; rowCount: number }[] {
  if (!Number.isSafeInteger(rows) || rows < 1)
    throw new ModelFormatError(`tensor "${tensorName}": rows must be a positive integer, got ${rows}`);
  const limit = Math.floor(maxBytes / 4) * 4;
  if (pad4(rows * rowBytes) <= limit) return [{ rowStart: 0, rowCount: rows }];
  // limit is a multiple of 4, so pad4(n·rowBytes) ≤ limit exactly when n·rowBytes ≤ limit.
  const perPart = Math.floor(limit / rowBytes);
  if (perPart < 1) {
    throw new DeviceLimitError(
      `tensor "${tensorName}": one row is ${rowBytes} bytes, more than the device's buffer limit of ${maxBytes} bytes`,
    );
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
 * loader). `bytes` are the tensor's GGUF bytes, per-tensor trailer included.
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
  const entry = getGpuQuantType(type, name);
  const fileRowBytes = entry.rowBytes(cols, name);
  const rowBytes = entry.gpuRowBytes(cols, name);
  const rowsBytes = rows * fileRowBytes;
  const need = rowsBytes + entry.trailerBytes;
  if (bytes.byteLength < need) {
    throw new ModelFormatError(`${name}: ${entry.name} ${rows}×${cols} needs ${need} bytes, got ${bytes.byteLength}`);
  }
  const maxBytes = Math.min(options.maxPartBytes ?? Infinity, maxWeightPartBytes(ctx));
  const parts = planRowParts(rows, rowBytes, maxBytes, name).map(({ rowStart, rowCount }, i) => ({
    buffer: createStorageBuffer(ctx, toGpuRows(type, bytes.subarray(rowStart * fileRowBytes), cols, rowCount), {
      label: `${name}#${i}`,
    }),
    rowStart,
    rowCount,
  }));
  const weight: GpuWeight = { name, type, rows, cols, rowBytes, parts };
  if (entry.readTensorParams) weight.tensorScale = entry.readTensorParams(bytes.subarray(rowsBytes, need)).tensorScale;
  return weight;
}

/**
 * `nRows` file rows from the start of `fileRows` as the GPU buffers hold them: the same bytes, or
 * repacked where the type's decoder reads a row layout of its own (as the streaming loader does).
 */
export function toGpuRows(type: GGMLType, fileRows: Uint8Array, cols: number, nRows: number): Uint8Array {
  const entry = getGpuQuantType(type);
  const layout = entry.gpu.rowLayout;
  if (!layout) return fileRows.subarray(0, nRows * entry.rowBytes(cols));
  const dst = new Uint8Array(nRows * entry.gpuRowBytes(cols));
  layout.repack(fileRows, cols, nRows, dst);
  return dst;
}

/** Frees a weight's buffers. */
export function destroyWeight(weight: GpuWeight): void {
  for (const p of weight.parts) p.buffer.destroy();
}

/**
 * The weight that `group` concatenated by rows (in order) would be, without its buffer — or null
 * when one kernel cannot read it as one buffer: types, row lengths or row sizes differ, a member
 * is itself split in parts, a member would not start on a 4-byte boundary (buffer copies move
 * whole words), or the whole exceeds `maxBytes`. Row r of member i is row (Σ_{j<i} rows_j) + r.
 */
export function planConcatRows(name: string, group: readonly GpuWeight<unknown>[], maxBytes: number): GpuWeight<null> | null {
  const first = group[0];
  if (!first || group.length < 2) return null;
  let rows = 0;
  for (const w of group) {
    if (w.type !== first.type || w.cols !== first.cols || w.rowBytes !== first.rowBytes || w.parts.length !== 1) return null;
    if ((rows * w.rowBytes) % 4 !== 0) return null;
    rows += w.rows;
  }
  if (pad4(rows * first.rowBytes) > Math.floor(maxBytes / 4) * 4) return null;
  return {
    name,
    type: first.type,
    rows,
    cols: first.cols,
    rowBytes: first.rowBytes,
    parts: [{ buffer: null, rowStart: 0, rowCount: rows }],
    tensorScale: first.tensorScale,
    members: group.map((w) => ({ name: w.name, rows: w.rows, tensorScale: w.tensorScale })),
  };
}

/**
 * Concatenates `group` by rows into one new weight with GPU-side copies (no bytes pass through
 * JS), then frees the members' buffers. Returns null, changing nothing, when planConcatRows says
 * it cannot, or when the device has no memory left for the new buffer.
 */
export async function concatWeightRows(
  ctx: GpuContext,
  name: string,
  group: readonly GpuWeight[],
  maxBytes = maxWeightPartBytes(ctx),
): Promise<GpuWeight | null> {
  const plan = planConcatRows(name, group, Math.min(maxBytes, maxWeightPartBytes(ctx)));
  if (!plan) return null;
  const { device } = ctx;
  device.pushErrorScope('out-of-memory');
  const buffer = device.createBuffer({
    label: name,
    size: pad4(plan.rows * plan.rowBytes),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  if (await device.popErrorScope()) {
    buffer.destroy();
    return null;
  }
  const encoder = device.createCommandEncoder({ label: `concat ${name}` });
  let offset = 0;
  // Each member's buffer is padded to 4 bytes; the next copy overwrites that padding.
  for (const w of group) {
    encoder.copyBufferToBuffer(w.parts[0]!.buffer, 0, buffer, offset, pad4(w.rows * w.rowBytes));
    offset += w.rows * w.rowBytes;
  }
  device.queue.submit([encoder.finish()]);
  for (const w of group) destroyWeight(w);
  return { ...plan, parts: [{ buffer, rowStart: 0, rowCount: plan.rows }] };
}
