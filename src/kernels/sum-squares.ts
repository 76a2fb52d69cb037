/**
 * Per-column Σx² and Σx of a step's [nTokens][n] f32 activations, added to running totals on the
 * GPU: the statistics an importance matrix holds for each linear's input (quant/imatrix.ts).
 */
import sumSquaresWgsl from '../../shaders/sum_squares.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { type BufferRef, type KernelCall, checkDim, makeBindGroup, opsPipeline } from './common.ts';

export interface SumSquaresBindings {
  params: BufferRef;
  /** [nTokens][n] f32 activations. */
  input: BufferRef;
  /** [n] f32 running Σx², added to. */
  sum2: BufferRef;
  /** [n] f32 running Σx, added to. */
  sum: BufferRef;
}

export interface SumSquaresKernel {
  bind(b: SumSquaresBindings): KernelCall;
}

const WG = 64;

export function createSumSquares(ctx: GpuContext, cfg: { n: number }): SumSquaresKernel {
  checkDim('sum_squares', 'n', cfg.n);
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.ceil(cfg.n / WG);
  if (groups > maxDim) throw new RangeError(`sum_squares: n ${cfg.n} needs ${groups} workgroups, over ${maxDim}`);
  // No reductions across threads: the subgroup variant would be the same code.
  const pipeline = opsPipeline(ctx, 'sum_squares', sumSquaresWgsl, { N: cfg.n, WG }, { subgroups: false });
  return {
    bind(b) {
      const group = makeBindGroup(ctx, pipeline, 'sum_squares', [b.params, b.input, b.sum2, b.sum]);
      return {
        encode(pass) {
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(groups);
        },
      };
    },
  };
}
