/**
 * Weight × activation products for the forward pass: mat-vec for decode (one token) and mat-mul
 * for prefill (up to maxTokens tokens) over weights still quantized in GPU memory, through the
 * fused dequant kernels of src/kernels/matmul.ts. A weight split into several buffers by rows
 * (parts) is handled there, one dispatch per part. `fuse` adds the kernel's fusions (a norm in the
 * input load, gate·up, a residual add, a Q/K/V split).
 */
import type { GpuContext } from '../gpu/device.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { type BufferRef, type KernelCall } from '../kernels/common.ts';
import { createMatMul, createMatVec, type MatmulFusion } from '../kernels/matmul.ts';
import { getGpuQuantType } from '../quant/table.ts';

export interface LinearBindings {
  input: BufferRef;
  output: BufferRef;
  /** Step params (mat-mul reads the real token count from it). */
  params: BufferRef;
  /** fuse.normIn: the norm's weight. */
  normWeight?: BufferRef;
  /** fuse.split: the second and third outputs. */
  output1?: BufferRef;
  output2?: BufferRef;
}

export interface LinearKernel {
  bind(b: LinearBindings): KernelCall;
}

export function createLinear(ctx: GpuContext, weight: GpuWeight, maxTokens: number, fuse?: MatmulFusion): LinearKernel {
  const { type, rows, cols } = weight;
  getGpuQuantType(type, weight.name); // a type without a GPU decoder fails here, naming the weight
  const kernel = maxTokens === 1 ? createMatVec(ctx, { type, rows, cols, fuse }) : createMatMul(ctx, { type, rows, cols, maxTokens, fuse });
  return {
    bind: ({ params, ...b }) => kernel.bind({ weight, ...b, stepParams: maxTokens === 1 ? undefined : params }),
  };
}
