/**
 * The `ggml` activations mode's rounding (matvec-q8.ts ActivationsOption): llama.cpp's CPU backend
 * rounds each mat-mul's activation rows to its weight type's vec_dot_type (src/quant/table.ts
 * QuantType.vecDotType) before the dot products — Q8_0/Q8_1 per 32 values with an f16 scale, Q8_K
 * per 256 with an f32 scale, or f16/bf16 — so its run of a quantized model differs from its run of
 * the same weights in F32 by that rounding. This kernel writes the rounded values d·q as f32
 * (shaders/ggml_round.wgsl), for the f32 kernels to read: Σ w·(d·q) in f32 is llama.cpp's
 * Σ d_w·d_x·Σ(q_w·q_x) up to summation order. A verification mode, not a speed-up.
 *
 *   const round = createGgmlRound(ctx, { cols, vecDotType, maxTokens }).bind({ params, input, output });
 *   round.encode(pass, step);   // then the f32 mat-vec/mat-mul reads `output`
 *
 * Q8_1 rounds the codes as Q8_0 does; llama.cpp also keeps f16(d·Σq) for the weights' minimum
 * (Q4_1, Q5_1), which d·q summed in f32 matches to f16 precision only.
 */
import ggmlRoundWgsl from '../../shaders/ggml_round.wgsl?raw';
import { ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { GGMLType } from '../quant/types.ts';
import { type BufferRef, checkDim, dispatchTokens, grid, type KernelCall, makeBindGroup, opsPipeline } from './common.ts';

/** The vec_dot_types the kernel rounds to, and the values per block each rounds together. */
const FORMATS: ReadonlyMap<GGMLType, { define: string; block: number }> = new Map([
  [GGMLType.Q8_K, { define: 'Q8_K', block: 256 }],
  [GGMLType.Q8_0, { define: 'Q8_0', block: 32 }],
  [GGMLType.Q8_1, { define: 'Q8_0', block: 32 }],
  [GGMLType.F16, { define: 'F16', block: 1 }],
  [GGMLType.BF16, { define: 'BF16', block: 1 }],
]);

/** Whether activations rounded to `vecDotType` change at all (F32 leaves them as they are). */
export function ggmlRoundsTo(vecDotType: GGMLType): boolean {
  return FORMATS.has(vecDotType);
}

export interface GgmlRoundBindings {
  params: BufferRef;
  /** [nTokens][cols] f32. */
  input: BufferRef;
  /** [nTokens][cols] f32: the rounded values (never the input). */
  output: BufferRef;
}

const WG = 64;

/**
 * Rounds rows of `cols` f32 values as llama.cpp rounds them for a weight whose vec_dot_type is
 * `vecDotType`. ModelFormatError when cols is not a whole number of that type's blocks (a row
 * llama.cpp could not have rounded either), RangeError for a type it does not round to.
 */
export function createGgmlRound(
  ctx: GpuContext,
  o: { cols: number; vecDotType: GGMLType; maxTokens?: number },
): { bind(b: GgmlRoundBindings): KernelCall } {
  const format = FORMATS.get(o.vecDotType);
  if (!format) throw new RangeError(`ggml rounding: no activation rounding to type ${GGMLType[o.vecDotType] ?? o.vecDotType}`);
  checkDim('ggml rounding', 'cols', o.cols);
  const maxTokens = o.maxTokens ?? 1;
  checkDim('ggml rounding', 'maxTokens', maxTokens);
  if (o.cols % format.block !== 0)
    throw new ModelFormatError(`ggml rounding: rows of ${o.cols} values are not whole ${GGMLType[o.vecDotType]} blocks of ${format.block}`);
  const rowBlocks = o.cols / format.block;
  const defines: Record<string, string | number | boolean> = { COLS: o.cols, BLOCK: format.block, MAX_TOKENS: maxTokens };
  for (const f of new Set([...FORMATS.values()].map((v) => v.define))) defines[f] = f === format.define;
  const pipeline = opsPipeline(ctx, 'ggml_round', ggmlRoundWgsl, defines, { subgroups: false });
  return {
    bind(b) {
      if (b.input === b.output) throw new RangeError('ggml rounding: output must not be the input');
      const group = makeBindGroup(ctx, pipeline, 'ggml_round', [b.params, b.input, b.output]);
      return {
        encode(pass, step) {
          const [gx, gy] = grid(ctx, Math.ceil((dispatchTokens(step, maxTokens) * rowBlocks) / WG));
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(gx, gy);
        },
      };
    },
  };
}
