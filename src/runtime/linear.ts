/**
 * Weight × activation products for the forward pass: mat-vec for decode (one token) and mat-mul
 * for prefill (up to maxTokens tokens) over weights still quantized in GPU memory, through the
 * fused dequant kernels of src/kernels/matmul.ts. A weight split into several buffers by rows
 * (parts) is handled there, one dispatch per part. `fuse` adds the kernel's fusions (a norm in the
 * input load, gate·up, a residual add, a Q/K/V split).
 *
 * With int8 activations (resolveActivations), decode mat-vecs over types with an int8 decoder run
 * src/kernels/matvec-q8.ts instead: they read the input quantized into `inputQ8`, and
 * `withQuantizedInputs` puts one quantize dispatch before each run of such calls on one input
 * (Q/K/V, gate/up), so the linears reading the same input share it. Of the fusions the int8
 * mat-vec has only the residual add (fuse.addOut); a call with another runs the f32 mat-vec.
 */
import type { GpuContext } from '../gpu/device.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { type BufferRef, type KernelCall } from '../kernels/common.ts';
import type { KernelVariants } from '../kernels/autotune.ts';
import {
  createMatMul,
  createMatVec,
  defaultMatmulVariant,
  type MatmulFusion,
  type MatmulVariant,
  tiledVariant,
} from '../kernels/matmul.ts';
import { type ActivationPrecision, createMatVecQ8, createQuantizeQ8, hasInt8MatVec } from '../kernels/matvec-q8.ts';
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
  /** int8 mat-vec only: where the input's quantized copy is (written by withQuantizedInputs' dispatch). */
  inputQ8?: BufferRef;
}

export interface LinearCall extends KernelCall {
  /** Set when the call reads its input quantized: the f32 input and its length, to quantize first. */
  readonly quantizedInput?: { input: BufferRef; cols: number };
}

export interface LinearKernel {
  bind(b: LinearBindings): LinearCall;
}

export function createLinear(
  ctx: GpuContext,
  weight: GpuWeight,
  maxTokens: number,
  activations: ActivationPrecision = 'f32',
  fuse?: MatmulFusion,
  choice: {
    /** A mat-mul over a few rows (ForwardShape.decodeRows): the row-mode kernel, each thread on every row. */
    fewRows?: boolean;
    /** The device's tuned variants (kernels/autotune.ts); absent ones take the device default. */
    variants?: KernelVariants;
  } = {},
): LinearKernel {
  const { fewRows = false, variants } = choice;
  const { type, rows, cols } = weight;
  getGpuQuantType(type, weight.name); // a type without a GPU decoder fails here, naming the weight
  const matvecVariant = variants?.matvec?.[type];
  // A GLU mat-mul runs in a row mode (matmul.ts), never on a GEMM tile.
  const tile = fuse?.glu === undefined ? variants?.gemm?.[type] : undefined;
  const matmulVariant = tile ? tiledVariant(tile) : undefined;
  // The int8 mat-vec has the residual add; the other fusions run in the f32 one.
  const f32Only = fuse !== undefined && (fuse.normIn !== undefined || fuse.glu !== undefined || fuse.split !== undefined);
  if (maxTokens === 1 && activations === 'int8' && hasInt8MatVec(type) && !f32Only) {
    const kernel = createMatVecQ8(ctx, { type, rows, cols, addOut: fuse?.addOut === true, variant: matvecVariant });
    return {
      bind: (b) => {
        if (!b.inputQ8) throw new RangeError(`linear "${weight.name}": int8 activations need an inputQ8 buffer`);
        const call = kernel.bind({ weight, input: b.inputQ8, output: b.output });
        return { encode: (pass) => call.encode(pass), quantizedInput: { input: b.input, cols } };
      },
    };
  }
  const kernel =
    maxTokens === 1
      ? createMatVec(ctx, { type, rows, cols, fuse, variant: matvecVariant })
      : createMatMul(ctx, { type, rows, cols, maxTokens, fuse, variant: fewRows ? rowModeFor(ctx, maxTokens) : matmulVariant });
  return {
    bind: (b) =>
      kernel.bind({
        weight,
        input: b.input,
        output: b.output,
        normWeight: b.normWeight,
        output1: b.output1,
        output2: b.output2,
        stepParams: maxTokens === 1 ? undefined : b.params,
      }),
  };
}

/**
 * The device's row-mode mat-mul with every row in one thread's registers (up to 8): each decoded
 * weight chunk serves all the rows, where the tiled GEMM's token tiles would be mostly empty.
 */
function rowModeFor(ctx: GpuContext, rows: number): Partial<MatmulVariant> {
  return { mode: defaultMatmulVariant(ctx, 'matvec').mode, tokensPerThread: Math.min(rows, 8) };
}

/**
 * `calls` with an activation-quantize dispatch (into `inputQ8`) before each run of consecutive
 * calls that read the same input quantized. Only consecutive calls share one: any other call in
 * between may write the input (or another input's quantize may overwrite `inputQ8`).
 */
export function withQuantizedInputs(ctx: GpuContext, calls: readonly LinearCall[], inputQ8: BufferRef | undefined): KernelCall[] {
  const out: KernelCall[] = [];
  let current: LinearCall['quantizedInput'];
  for (const call of calls) {
    const q = call.quantizedInput;
    if (q && !(current && current.input === q.input && current.cols === q.cols)) {
      if (!inputQ8) throw new RangeError('int8 activations need an inputQ8 buffer');
      out.push(createQuantizeQ8(ctx, { cols: q.cols }).bind({ input: q.input, output: inputQ8 }));
    }
    current = q;
    out.push(call);
  }
  return out;
}
