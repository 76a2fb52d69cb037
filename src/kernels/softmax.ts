/** Softmax over rows (e.g. logits → probabilities), one workgroup per row. */
import softmaxWgsl from '../../shaders/softmax.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { type BufferRef, type KernelCall, type VariantOptions, checkDim, grid, makeBindGroup, opsPipeline } from './common.ts';

export interface SoftmaxConfig extends VariantOptions {
  n: number;
  /** Rows (default 1). */
  rows?: number;
  workgroupSize?: number;
}

export function createSoftmax(ctx: GpuContext, cfg: SoftmaxConfig): { bind(b: { input: BufferRef; output: BufferRef }): KernelCall } {
  checkDim('softmax', 'n', cfg.n);
  const rows = cfg.rows ?? 1;
  checkDim('softmax', 'rows', rows);
  const wg = cfg.workgroupSize ?? (ctx.isSoftware || cfg.n <= 1024 ? 64 : 256);
  if (!Number.isInteger(Math.log2(wg)) || wg < 4 || wg > 256)
    throw new RangeError(`softmax: workgroupSize must be a power of two in [4, 256], got ${wg}`);
  const pipeline = opsPipeline(ctx, 'softmax', softmaxWgsl, { WG: wg, N: cfg.n, ROWS: rows }, { subgroups: cfg.subgroups });
  const [gx, gy] = grid(ctx, rows);
  return {
    bind(b) {
      const group = makeBindGroup(ctx, pipeline, 'softmax', [b.input, b.output]);
      return {
        encode(pass) {
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}
