/**
 * Element-wise kernels over [nTokens][n] f32 activations: gated activations (SwiGLU, GeGLU,
 * squared ReLU), residual add, bias add and a one-element scale multiply. The result goes to
 * `output` when bound, otherwise back into `a` (in place).
 */
import elementwiseWgsl from '../../shaders/elementwise.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, makeBindGroup, opsPipeline } from './common.ts';

export type ElementwiseOp = 'silu_mul' | 'gelu_mul' | 'relu2_mul' | 'add' | 'bias' | 'scale';

const OP_DEFINE: Record<ElementwiseOp, string> = {
  silu_mul: 'SILU_MUL',
  gelu_mul: 'GELU_MUL',
  relu2_mul: 'RELU2_MUL',
  add: 'ADD',
  bias: 'BIAS',
  scale: 'SCALE',
};

export interface ElementwiseConfig {
  op: ElementwiseOp;
  /** Values per token. */
  n: number;
  /** Largest nTokens the step params will hold (the dispatch size). Default 1. */
  maxTokens?: number;
  /** Write to a separate `output` binding instead of in place into `a` (default false). */
  separateOutput?: boolean;
}

export interface ElementwiseBindings {
  params: BufferRef;
  /** [nTokens][n]: gate / residual stream / tensor to bias or scale; the result unless `output`. */
  a: BufferRef;
  /** [nTokens][n] (silu_mul, gelu_mul, relu2_mul, add), [n] (bias) or [1] (scale). */
  b: BufferRef;
  /** [nTokens][n], required when config.separateOutput. */
  output?: BufferRef;
}

export interface ElementwiseKernel {
  readonly pipeline: GPUComputePipeline;
  bind(b: ElementwiseBindings): KernelCall;
}

const WG = 256;

export function createElementwise(ctx: GpuContext, cfg: ElementwiseConfig): ElementwiseKernel {
  const define = OP_DEFINE[cfg.op];
  if (!define) throw new RangeError(`elementwise: unknown op '${String(cfg.op)}'`);
  checkDim(`elementwise ${cfg.op}`, 'n', cfg.n);
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim(`elementwise ${cfg.op}`, 'maxTokens', maxTokens);
  const vec = cfg.n % 4 === 0 ? 4 : 1;
  const defines: Record<string, string | number | boolean> = {
    N: cfg.n,
    VEC: vec,
    WG,
    TYPE: vec === 4 ? 'vec4<f32>' : 'f32',
    OUT: cfg.separateOutput === true,
  };
  for (const d of Object.values(OP_DEFINE)) defines[d] = d === define;
  // Elementwise code has no reductions; the subgroup variant would be identical.
  const pipeline = opsPipeline(ctx, 'elementwise', elementwiseWgsl, defines, { subgroups: false });
  return {
    pipeline,
    bind(b) {
      if (cfg.separateOutput && !b.output) throw new RangeError(`elementwise ${cfg.op}: bindings.output is required with separateOutput`);
      const group = makeBindGroup(ctx, pipeline, `elementwise:${cfg.op}`, [b.params, b.a, b.b, cfg.separateOutput ? b.output : undefined]);
      return {
        encode(pass, step) {
          const [gx, gy] = grid(ctx, Math.ceil((dispatchTokens(step, maxTokens) * cfg.n) / vec / WG));
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}
