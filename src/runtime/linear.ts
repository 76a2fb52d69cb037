/**
 * Weight × activation products for the forward pass: mat-vec for decode (one token) and mat-mul
 * for prefill (up to maxTokens tokens) over weights still quantized in GPU memory, through the
 * fused dequant kernels of src/kernels/matmul.ts. A weight split into several buffers by rows
 * (parts) is handled there, one dispatch per part. `fuse` adds the kernel's fusions (a norm in the
 * input load, gate·up, a residual add, a Q/K/V split).
 *
 * With int8 activations (resolveActivations), decode mat-vecs over types with an int8 decoder run
 * src/kernels/matvec-q8.ts instead, with the same fusions: they read the input quantized into
 * `inputQ8` (times the norm weight, with fuse.normIn), and `withQuantizedInputs` puts a quantize
 * dispatch before a call only when that copy is not there already — written by the quantize of a
 * call before it on the same input (Q/K/V, gate/up), or by the quantizing store (`quantizeOut`)
 * of the int8 mat-vec that produced the input. A batched decode step's linears (choice.fewRows)
 * run it too, over its rows (one per sequence): the kernel of each row count is bound once and a
 * step encodes the one of its count. Prefill's mat-muls over those types run the int8 GEMM
 * (src/kernels/matmul-q8.ts), which quantizes its f32 input itself, where the kernel variants
 * choose it (KernelVariants.gemm8).
 *
 * With ggml activations (a parity mode) every linear runs its f32 kernel on its input rounded first
 * as llama.cpp's CPU backend rounds it for the weight's type (kernels/ggml-round.ts), into
 * `inputRounded`: one more dispatch per linear.
 */
import type { GpuContext } from '../gpu/device.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { type BufferRef, dispatchTokens, type KernelCall } from '../kernels/common.ts';
import type { KernelVariants } from '../kernels/autotune.ts';
import {
  createMatMul,
  createMatVec,
  defaultMatmulVariant,
  type MatmulFusion,
  type MatmulVariant,
  tiledVariant,
} from '../kernels/matmul.ts';
import { createMatMulQ8 } from '../kernels/matmul-q8.ts';
import {
  type ActivationPrecision,
  canQuantizeOut,
  createMatVecQ8,
  createQuantizeQ8,
  hasInt8MatVec,
  MAX_Q8_TOKENS,
} from '../kernels/matvec-q8.ts';
import { getGpuQuantType } from '../quant/table.ts';
import { createGgmlRound, ggmlRoundsTo } from '../kernels/ggml-round.ts';
import { ModelFormatError } from '../errors.ts';

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
  /** With quantizeOut, int8 mat-vec only: where its quantizing store writes the output's int8 copy. */
  outputQ8?: BufferRef;
  /** With quantizeOut: the next linear's norm weight, which that copy is multiplied by (none: plain). */
  outputNormWeight?: BufferRef;
  /** ggml activations: where the input rounded as llama.cpp rounds it goes (its tokens × cols f32), read by the f32 kernel. */
  inputRounded?: BufferRef;
}

/** An int8 copy of `tokens` rows of `cols` f32 values of `input`, times `normWeight` if set, in `into`. */
export interface QuantizedCopy {
  input: BufferRef;
  cols: number;
  tokens: number;
  normWeight?: BufferRef;
  into: BufferRef;
}

export interface LinearCall extends KernelCall {
  /** Set when the call reads its input quantized: the copy it needs (withQuantizedInputs makes it). */
  readonly quantizedInput?: QuantizedCopy;
  /** Set when the call's quantizing store leaves this copy of its output. */
  readonly quantizedOutput?: QuantizedCopy;
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
    /**
     * A mat-mul over a few rows (ForwardShape.decodeRows): the row-mode kernel, each thread on every
     * row; with int8 activations (and at most MAX_Q8_TOKENS rows) the int8 mat-vec over the rows.
     */
    fewRows?: boolean;
    /** The device's tuned variants (kernels/autotune.ts); absent ones take the device default. */
    variants?: KernelVariants;
    /**
     * With int8 activations, also quantize the output for the next linear ('normed': times
     * bindings.outputNormWeight), saving that linear's quantize dispatch. Ignored where it cannot
     * run (f32 path, workgroups not covering whole blocks): the quantize dispatch stays.
     */
    quantizeOut?: 'plain' | 'normed';
  } = {},
): LinearKernel {
  const { fewRows = false, variants, quantizeOut } = choice;
  const { type, rows, cols } = weight;
  getGpuQuantType(type, weight.name); // a type without a GPU decoder fails here, naming the weight
  const matvecVariant = variants?.matvec?.[type];
  // A GLU mat-mul decodes a gate and an up row per output row: it takes the device's default tile
  // with half the rows (matmul.ts), not a tile autotune timed for the plain mat-mul.
  const tile = fuse?.glu === undefined ? variants?.gemm?.[type] : undefined;
  const matmulVariant = tile ? tiledVariant(tile) : undefined;
  const int8Tokens = maxTokens === 1 || (fewRows && maxTokens <= MAX_Q8_TOKENS);
  if (int8Tokens && activations === 'int8' && hasInt8MatVec(type)) {
    const qOut = quantizeOut && canQuantizeOut(ctx, weight, fuse, matvecVariant) ? quantizeOut : undefined;
    // One kernel per row count: a step runs the one of its count (the rows after it do nothing).
    const kernels = Array.from({ length: maxTokens }, (_, n) =>
      createMatVecQ8(ctx, { type, rows, cols, fuse, quantizeOut: qOut, variant: matvecVariant, tokens: n + 1 }),
    );
    const outRows = fuse?.glu ? rows / 2 : rows;
    return {
      bind: (b) => {
        if (!b.inputQ8) throw new RangeError(`linear "${weight.name}": int8 activations need an inputQ8 buffer`);
        if (qOut && !b.outputQ8) throw new RangeError(`linear "${weight.name}": quantizeOut needs an outputQ8 buffer`);
        const normWeight = fuse?.normIn ? b.normWeight : undefined;
        if (fuse?.normIn && !normWeight) throw new RangeError(`linear "${weight.name}": fuse.normIn needs bindings.normWeight`);
        const calls = kernels.map((kernel) =>
          kernel.bind({
            weight,
            input: b.inputQ8!,
            output: b.output,
            output1: b.output1,
            output2: b.output2,
            quantizedOutput: qOut ? b.outputQ8 : undefined,
            quantizeNormWeight: qOut === 'normed' ? b.outputNormWeight : undefined,
          }),
        );
        return {
          encode: (pass, step) => calls[dispatchTokens(step, maxTokens) - 1]!.encode(pass),
          quantizedInput: { input: b.input, cols, tokens: maxTokens, normWeight, into: b.inputQ8 },
          quantizedOutput: qOut
            ? {
                input: b.output,
                cols: outRows,
                tokens: maxTokens,
                normWeight: qOut === 'normed' ? b.outputNormWeight : undefined,
                into: b.outputQ8!,
              }
            : undefined,
        };
      },
    };
  }
  const round = activations === 'ggml' ? ggmlRounding(ctx, weight, maxTokens, fuse) : undefined;
  // Prefill with int8 activations: the int8 GEMM (it quantizes its f32 input as it stages it)
  // where the variants chose it for the type (KernelVariants.gemm8: autotune, or forced).
  const tile8 = variants?.gemm8?.[type];
  const kernel =
    maxTokens > 1 && !fewRows && activations === 'int8' && tile8 && hasInt8MatVec(type)
      ? createMatMulQ8(ctx, { type, rows, cols, maxTokens, fuse, tile: tile8 })
      : maxTokens === 1
        ? createMatVec(ctx, { type, rows, cols, fuse, variant: matvecVariant })
        : createMatMul(ctx, { type, rows, cols, maxTokens, fuse, variant: fewRows ? rowModeFor(ctx, maxTokens) : matmulVariant });
  const bindKernel = (b: LinearBindings, input: BufferRef) =>
    kernel.bind({
      weight,
      input,
      output: b.output,
      normWeight: b.normWeight,
      output1: b.output1,
      output2: b.output2,
      stepParams: maxTokens === 1 ? undefined : b.params,
    });
  if (!round) return { bind: (b) => bindKernel(b, b.input) };
  return {
    bind: (b) => {
      if (!b.inputRounded) throw new RangeError(`linear "${weight.name}": ggml activations need an inputRounded buffer`);
      const rounding = round.bind({ params: b.params, input: b.input, output: b.inputRounded });
      const call = bindKernel(b, b.inputRounded);
      return {
        encode(pass, step) {
          rounding.encode(pass, step);
          call.encode(pass, step);
        },
      };
    },
  };
}

/**
 * The rounding of a linear's input with ggml activations: llama.cpp's for the weight's type
 * (its vec_dot_type), or none for weights stored as f32. Typed errors where llama.cpp has no such rounding
 * (a type it does not define) or could not round the row (not whole blocks); the input must be
 * the normalised values themselves, so a norm fused into the kernel is refused.
 */
function ggmlRounding(ctx: GpuContext, weight: GpuWeight, maxTokens: number, fuse: MatmulFusion | undefined) {
  const entry = getGpuQuantType(weight.type, weight.name);
  if (entry.vecDotType === undefined)
    throw new ModelFormatError(
      `linear "${weight.name}": llama.cpp defines no activation rounding for ${entry.name} weights (activations 'ggml')`,
    );
  if (!ggmlRoundsTo(entry.vecDotType)) return undefined;
  if (fuse?.normIn)
    throw new RangeError(`linear "${weight.name}": ggml activations round the normalised input, so the norm cannot be fused`);
  try {
    return createGgmlRound(ctx, { cols: weight.cols, vecDotType: entry.vecDotType, maxTokens });
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`linear "${weight.name}": ${e.message}`);
    throw e;
  }
}

/**
 * The device's row-mode mat-mul with every row in one thread's registers (up to 8): each decoded
 * weight chunk serves all the rows, where the tiled GEMM's token tiles would be mostly empty.
 */
function rowModeFor(ctx: GpuContext, rows: number): Partial<MatmulVariant> {
  return { mode: defaultMatmulVariant(ctx, 'matvec').mode, tokensPerThread: Math.min(rows, 8) };
}

const sameCopy = (a: QuantizedCopy | undefined, b: QuantizedCopy): boolean =>
  a !== undefined &&
  a.input === b.input &&
  a.cols === b.cols &&
  a.tokens === b.tokens &&
  a.normWeight === b.normWeight &&
  a.into === b.into;

/**
 * `calls` with an activation-quantize dispatch before each call whose quantized input is not
 * already in place. What is in place after a call: its own quantized input and the copy its
 * quantizing store made, nothing else — any call may write any buffer another copy was made from
 * (linears never write their own input).
 */
export function withQuantizedInputs(ctx: GpuContext, calls: readonly LinearCall[]): KernelCall[] {
  const out: KernelCall[] = [];
  let inPlace: QuantizedCopy[] = [];
  for (const call of calls) {
    const q = call.quantizedInput;
    if (q && !inPlace.some((c) => sameCopy(c, q))) {
      const norm = q.normWeight !== undefined;
      const quantize = createQuantizeQ8(ctx, { cols: q.cols, norm, tokens: q.tokens });
      out.push(quantize.bind({ input: q.input, output: q.into, normWeight: q.normWeight }));
    }
    out.push(call);
    const made = call.quantizedOutput;
    inPlace = [made, q && made?.into !== q.into ? q : undefined].filter((c): c is QuantizedCopy => c !== undefined);
  }
  return out;
}
