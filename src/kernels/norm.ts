/**
 * RMSNorm (with its weight multiply fused), optionally fused with the residual add that precedes
 * it in a transformer block:  residual += delta; output = rmsnorm(residual) * weight.
 */
import normWgsl from '../../shaders/norm.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import {
  type BufferRef,
  type KernelCall,
  type VariantOptions,
  checkDim,
  dispatchTokens,
  grid,
  makeBindGroup,
  opsPipeline,
} from './common.ts';

export interface RmsNormConfig extends VariantOptions {
  /** Values per row (n_embd, or head_dim for per-head norms). */
  n: number;
  /** Epsilon from metadata (`*.attention.layer_norm_rms_epsilon`). */
  eps: number;
  /** Largest nTokens the step params will hold (the dispatch size). Default 1. */
  maxTokens?: number;
  /** Rows per token (e.g. the number of heads for per-head q/k norms). Default 1. */
  rowsPerToken?: number;
  /** Multiply by a weight vector of n values (default true). */
  weight?: boolean;
  /** Fuse `residual += input` before the norm (default false). */
  residualAdd?: boolean;
  /**
   * 'workgroup': a workgroup per row, its threads striding over the row; 'rows': a thread per row
   * over vec4s (n a multiple of 4). Default: 'rows' on software adapters, else 'workgroup'.
   */
  layout?: RmsNormLayout;
  /** Threads per row, or with layout 'rows' rows per workgroup (power of two; default 64 for short rows or software devices, else 256). */
  workgroupSize?: number;
}

export type RmsNormLayout = 'workgroup' | 'rows';

export interface RmsNormBindings {
  params: BufferRef;
  /** [rows][n] f32; with residualAdd, the delta added to `residual`. */
  input: BufferRef;
  /** [n] f32. Required unless config.weight is false. */
  weight?: BufferRef;
  /** [rows][n] f32 (may not alias input). */
  output: BufferRef;
  /** [rows][n] f32, updated in place. Required with residualAdd. */
  residual?: BufferRef;
}

export interface RmsNormKernel {
  readonly pipeline: GPUComputePipeline;
  readonly layout: RmsNormLayout;
  bind(b: RmsNormBindings): KernelCall;
}

export function createRmsNorm(ctx: GpuContext, cfg: RmsNormConfig): RmsNormKernel {
  checkDim('rmsnorm', 'n', cfg.n);
  const maxTokens = cfg.maxTokens ?? 1;
  const rowsPerToken = cfg.rowsPerToken ?? 1;
  checkDim('rmsnorm', 'maxTokens', maxTokens);
  checkDim('rmsnorm', 'rowsPerToken', rowsPerToken);
  if (!(cfg.eps >= 0) || !Number.isFinite(cfg.eps)) throw new RangeError(`rmsnorm: eps must be a finite number ≥ 0, got ${cfg.eps}`);
  const hasWeight = cfg.weight !== false;
  const add = cfg.residualAdd === true;
  // The layout depends on the device alone, never on the row count: the two sum a row in different
  // orders, and a prompt's numbers must not depend on the batch it was fed in
  // (test/runtime/prompt-numerics.test.ts).
  const layout = cfg.layout ?? (ctx.isSoftware && cfg.n % 4 === 0 ? 'rows' : 'workgroup');
  if (layout !== 'rows' && layout !== 'workgroup')
    throw new RangeError(`rmsnorm: layout must be 'workgroup' or 'rows', got ${String(layout)}`);
  if (layout === 'rows' && cfg.n % 4 !== 0)
    throw new RangeError(`rmsnorm: layout 'rows' reads vec4s, so n must be a multiple of 4, got ${cfg.n}`);
  const wg = cfg.workgroupSize ?? (cfg.n <= 1024 || ctx.isSoftware ? 64 : 256);
  if (!Number.isInteger(Math.log2(wg)) || wg < 4) throw new RangeError(`rmsnorm: workgroupSize must be a power of two ≥ 4, got ${wg}`);
  const pipeline = opsPipeline(
    ctx,
    'rmsnorm',
    normWgsl,
    { WG: wg, N: cfg.n, ROWS_PER_TOKEN: rowsPerToken, HAS_WEIGHT: hasWeight, ADD: add, ROWS: layout === 'rows' },
    { subgroups: cfg.subgroups, constants: { EPS: cfg.eps } },
  );
  return {
    pipeline,
    layout,
    bind(b) {
      if (hasWeight && !b.weight) throw new RangeError('rmsnorm: bindings.weight is required (config.weight is not false)');
      if (add && !b.residual) throw new RangeError('rmsnorm: bindings.residual is required with residualAdd');
      const group = makeBindGroup(ctx, pipeline, 'rmsnorm', [
        b.params,
        b.input,
        b.output,
        hasWeight ? b.weight : undefined,
        add ? b.residual : undefined,
      ]);
      return {
        encode(pass, step) {
          const rows = dispatchTokens(step, maxTokens) * rowsPerToken;
          const [gx, gy] = grid(ctx, layout === 'rows' ? Math.ceil(rows / wg) : rows);
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}
