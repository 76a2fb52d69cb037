/**
 * The roofline reference: a plain WGSL kernel that reads every byte of a buffer once (XOR-folding
 * 16-byte words so nothing is optimised away) and writes one word per thread. Several thread
 * shapes are tried and the fastest counts: the ratio of a real kernel to it says how close that
 * kernel gets to what this device can stream, whatever the device.
 */
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import { composeWgsl, getPipeline } from '../../src/gpu/pipelines.ts';
import { timeGpu, type TimingOptions } from '../../src/gpu/timing.ts';

export interface ReadKernelResult {
  gbPerSec: number;
  bytes: number;
  /** Best shape: workgroup size and 16-byte words per thread. */
  best: { workgroupSize: number; wordsPerThread: number; contiguous: boolean };
  tried: { workgroupSize: number; wordsPerThread: number; contiguous: boolean; gbPerSec: number }[];
}

function source(wg: number, per: number, contiguous: boolean): string {
  // contiguous: thread i reads words [i·per, (i+1)·per); else the workgroup's threads interleave.
  const index = contiguous ? `g.x * ${per}u + i` : `w.x * ${wg * per}u + l + i * ${wg}u`;
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  var acc = vec4<u32>(0u);
  for (var i = 0u; i < ${per}u; i++) { acc ^= src[${index}]; }
  dst[g.x] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`;
}

export type ReadKernelShape = ReadKernelResult['best'];

/** A read kernel of one shape, ready to encode: it reads `bytesRead` bytes per call. */
export interface ReadKernel {
  shape: ReadKernelShape;
  bytesRead: number;
  encode: (pass: GPUComputePassEncoder) => void;
  destroy: () => void;
}

/** Source and destination buffers for reading `bytes` bytes. */
function readBuffers(ctx: GpuContext, bytes: number): { src: GPUBuffer; dst: GPUBuffer; words: number } {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 2654435761) >>> 24;
  const src = createStorageBuffer(ctx, data, { label: 'read-kernel:src' });
  const words = bytes / 16;
  const dst = createStorageBuffer(ctx, words * 4, { label: 'read-kernel:dst' });
  return { src, dst, words };
}

/** One call of `shape` over the buffers, or undefined when `words` is less than one workgroup's share. */
function readCall(
  ctx: GpuContext,
  src: GPUBuffer,
  dst: GPUBuffer,
  words: number,
  shape: ReadKernelShape,
): Omit<ReadKernel, 'destroy'> | undefined {
  const { workgroupSize, wordsPerThread, contiguous } = shape;
  const groups = Math.floor(words / (workgroupSize * wordsPerThread));
  if (groups < 1) return undefined;
  const pipeline = getPipeline(
    ctx,
    `bench:read:${workgroupSize}:${wordsPerThread}:${contiguous}`,
    composeWgsl(source(workgroupSize, wordsPerThread, contiguous)),
    'main',
  );
  const group = ctx.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: src } },
      { binding: 1, resource: { buffer: dst } },
    ],
  });
  return {
    shape,
    bytesRead: groups * workgroupSize * wordsPerThread * 16,
    encode: (pass) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(groups);
    },
  };
}

/** The read kernel of one shape over `bytes` bytes, to be timed next to other kernels. */
export function createReadKernel(ctx: GpuContext, bytes: number, shape: ReadKernelShape): ReadKernel {
  const { src, dst, words } = readBuffers(ctx, bytes);
  const call = readCall(ctx, src, dst, words, shape);
  const destroy = () => {
    src.destroy();
    dst.destroy();
  };
  if (!call) {
    destroy();
    throw new Error(`read kernel: ${bytes} bytes is less than one workgroup of shape ${JSON.stringify(shape)}`);
  }
  return { ...call, destroy };
}

/** Bytes read per call is `bytes` (rounded to whole workgroups). */
export async function measureReadKernel(ctx: GpuContext, bytes: number, timing: TimingOptions = {}): Promise<ReadKernelResult> {
  const { src, dst, words } = readBuffers(ctx, bytes);
  const tried: ReadKernelResult['tried'] = [];
  try {
    for (const workgroupSize of [64, 128]) {
      for (const wordsPerThread of [16, 64, 256]) {
        for (const contiguous of [true, false]) {
          const call = readCall(ctx, src, dst, words, { workgroupSize, wordsPerThread, contiguous });
          if (!call) continue;
          const t = await timeGpu(ctx, call.encode, timing);
          tried.push({ workgroupSize, wordsPerThread, contiguous, gbPerSec: call.bytesRead / (t.msPerCall * 1e6) });
        }
      }
    }
  } finally {
    src.destroy();
    dst.destroy();
  }
  const best = tried.reduce((a, b) => (b.gbPerSec > a.gbPerSec ? b : a));
  return {
    gbPerSec: best.gbPerSec,
    bytes,
    best: { workgroupSize: best.workgroupSize, wordsPerThread: best.wordsPerThread, contiguous: best.contiguous },
    tried,
  };
}
