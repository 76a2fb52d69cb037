/**
 * Buffer helpers shared by kernels, tests and the loader. Storage buffers are padded to a
 * multiple of 4 bytes (WebGPU copy/bind granularity; shaders read whole u32 words).
 */
import type { GpuContext } from './device.ts';

type DeviceLike = GpuContext | GPUDevice;

function dev(d: DeviceLike): GPUDevice {
  return 'device' in d ? d.device : d;
}

export const pad4 = (n: number): number => Math.ceil(n / 4) * 4;
export const pad16 = (n: number): number => Math.ceil(n / 16) * 16;

function bytesOf(data: ArrayBufferView | ArrayBuffer): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface BufferOptions {
  label?: string;
  /** Extra usage bits, OR-ed with STORAGE | COPY_DST | COPY_SRC. */
  usage?: GPUBufferUsageFlags;
}

const STORAGE_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * A storage buffer holding `data` (or `size` zero bytes when a number is given), padded to 4
 * bytes (at least 4). Usable as a copy source and destination too.
 */
export function createStorageBuffer(d: DeviceLike, data: ArrayBufferView | ArrayBuffer | number, options: BufferOptions = {}): GPUBuffer {
  const device = dev(d);
  const usage = STORAGE_USAGE() | (options.usage ?? 0);
  if (typeof data === 'number') {
    return device.createBuffer({ label: options.label, size: Math.max(4, pad4(data)), usage });
  }
  const src = bytesOf(data);
  const buffer = device.createBuffer({ label: options.label, size: Math.max(4, pad4(src.byteLength)), usage, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(src);
  buffer.unmap();
  return buffer;
}

/** A uniform buffer (COPY_DST too, for per-step writeBuffer), padded to 16 bytes. */
export function createUniformBuffer(d: DeviceLike, data: ArrayBufferView | ArrayBuffer | number, label?: string): GPUBuffer {
  const device = dev(d);
  const usage = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
  if (typeof data === 'number') return device.createBuffer({ label, size: Math.max(16, pad16(data)), usage });
  const src = bytesOf(data);
  const buffer = device.createBuffer({ label, size: Math.max(16, pad16(src.byteLength)), usage, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(src);
  buffer.unmap();
  return buffer;
}

/**
 * queue.writeBuffer for data whose length may not be a multiple of 4 (the tail is zero-padded;
 * the buffer must have room for the padded length).
 */
export function writeBufferPadded(d: DeviceLike, buffer: GPUBuffer, offset: number, data: ArrayBufferView | ArrayBuffer): void {
  const device = dev(d);
  const src = bytesOf(data);
  if (src.byteLength % 4 === 0) {
    device.queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset, src.byteLength);
    return;
  }
  const padded = new Uint8Array(pad4(src.byteLength));
  padded.set(src);
  device.queue.writeBuffer(buffer, offset, padded);
}

/** Copies `size` bytes (default: the rest of the buffer) from `offset` to the CPU. For tests and occasional reads. */
export async function readBuffer(d: DeviceLike, buffer: GPUBuffer, offset = 0, size?: number): Promise<ArrayBuffer> {
  const device = dev(d);
  const n = pad4(size ?? buffer.size - offset);
  const staging = device.createBuffer({ size: n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, n);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0, size ?? n);
  } finally {
    staging.destroy();
  }
}

/** Reads `count` f32 values starting at element `start`. */
export async function readF32(d: DeviceLike, buffer: GPUBuffer, count?: number, start = 0): Promise<Float32Array> {
  const n = count ?? (buffer.size - start * 4) / 4;
  return new Float32Array(await readBuffer(d, buffer, start * 4, n * 4));
}

/** Reads `count` u32 values starting at element `start`. */
export async function readU32(d: DeviceLike, buffer: GPUBuffer, count?: number, start = 0): Promise<Uint32Array> {
  const n = count ?? (buffer.size - start * 4) / 4;
  return new Uint32Array(await readBuffer(d, buffer, start * 4, n * 4));
}
