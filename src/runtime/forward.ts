/**
 * The transformer forward pass on the GPU, built once per model and context size.
 *
 * Two graphs share every buffer: a decode graph (one token, mat-vec, split-K attention) and a
 * prefill graph (up to `maxBatch` tokens, mat-mul, tiled causal attention). Both are lists of
 * pre-bound kernel calls: encoding a step sets pipelines and bind groups and dispatches, and
 * creates no GPU object. Per-step values (pos0, nTokens) live in the `stepParams` uniform, which
 * the caller rewrites with queue.writeBuffer before each submission.
 *
 * Token flow: `history` holds the token id of every position. Prompt tokens are written there by
 * the CPU; the embedding kernel reads ids by position; the sampler writes the chosen token at
 * history[kvLen], which the next decode step embeds — so decoding never waits for the CPU.
 *
 * Fewer dispatches per decode step (docs/kernels.md): the output and down projections add their
 * result into the residual stream `x` as they store it; in decode, the RMSNorm before a projection
 * runs inside that projection's mat-vec (its input load scales by the norm weight, its store by
 * 1/rms), while prefill's mat-mul reads a normalised copy `xn` written by a norm kernel. Q/K/V and
 * gate/up weights concatenated after loading (fused-weights.ts) run as one mat-vec each, the
 * latter storing act(gate)·up. So a llama decode layer is 7 dispatches: QKV, RoPE + KV store,
 * attention (2), output, gate·up, down. With int8 activations the int8 mat-vec does the same (the
 * norm weight applied by the quantize before it, 1/rms at its store), and output, gate·up and down
 * quantize their output for the next linear as they store it (q8Slot): one more dispatch per
 * layer, the quantize of the attention output. A batched decode's rows pass (decodeRows) over
 * weights that all have int8 mat-vecs is wired as decode is, its int8 mat-vecs taking one token
 * per row (int8Rows). With ggml activations (a parity mode) decode's norms run as kernels and
 * every linear, the LM heads included, first rounds its input as llama.cpp's CPU backend does for
 * its weight type into `actRound`, which its f32 kernel reads (createLinear).
 *
 * Construction has two parts: `allocate()` creates every buffer (activations, KV cache, step and
 * sampling I/O), then `buildGraph()` binds kernels to them, one transformer block at a time through
 * `buildLayer(l)`, the place where an architecture's layer structure is written down.
 */
import type { GpuContext } from '../gpu/device.ts';
import { createStorageBuffer, pad4 } from '../gpu/buffers.ts';
import { describePipelines, type PipelineSpec } from '../gpu/pipelines.ts';
import { maxWeightPartBytes } from '../gpu/weights.ts';
import { type AttentionBindings, createDecodeAttention, createPrefillAttention, type SlotRows } from '../kernels/attention.ts';
import type { BufferRef, KernelCall, StepShape } from '../kernels/common.ts';
import { createElementwise, type ElementwiseKernel, type ElementwiseOp } from '../kernels/elementwise.ts';
import { createEmbedding } from '../kernels/embedding.ts';
import { createRmsNorm, type RmsNormKernel } from '../kernels/norm.ts';
import { createRope, type RopeBindings } from '../kernels/rope.ts';
import { createArgmax, createPenalties, createSampler, createSamplingParams, createTopProbs } from '../kernels/sample.ts';
import { createStepParams } from '../kernels/step-params.ts';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LayerTensorNames, ModelTensorNames } from '../model/tensors.ts';
import { GGMLType } from '../quant/types.ts';
import { forwardBufferBytes, forwardBufferPlan, TOP_PROBS_K, type ForwardShape } from './buffer-plan.ts';
import { createLinear, type LinearKernel, withQuantizedInputs } from './linear.ts';
import { type ActivationPrecision, hasInt8MatVec, MAX_Q8_TOKENS, resolveActivations } from '../kernels/matvec-q8.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import type { MatmulFusion } from '../kernels/matmul.ts';
import type { KernelVariants } from '../kernels/autotune.ts';
import { fusedWeightName } from './fused-weights.ts';

export interface ForwardOptions extends ForwardShape {
  /** Llama-3 style per-pair RoPE frequency divisors (the rope_freqs.weight tensor's values). */
  ropeFreqFactors?: Float32Array;
  /**
   * A kernel call to run just before a linear reads its input, or undefined for none: how
   * activation statistics are collected (imatrix). Called once per linear per graph when it is
   * built (see LinearInput).
   */
  linearInputTap?: (at: LinearInput) => KernelCall | undefined;
  /** Kernel variants chosen for this device (kernels/autotune.ts); default: the device's defaults. */
  kernelVariants?: KernelVariants;
  /**
   * Where this pass's KV cache lives when it is one slot of caches shared by an engine's slots
   * (batch-decode.ts: SlotKvCache), instead of buffers of its own: per layer, its range of the
   * layer's K and V buffers, each the size its own buffer would have.
   */
  kvCache?: KvCacheSlot;
}

/** A pass's KV cache as ranges of shared buffers (ForwardOptions.kvCache). */
export interface KvCacheSlot {
  k: readonly GPUBufferBinding[];
  v: readonly GPUBufferBinding[];
}

/** A linear's input as ForwardOptions.linearInputTap sees it. */
export interface LinearInput {
  weightName: string;
  /** [nTokens][cols] f32 activations. */
  input: BufferRef;
  /** Values per token (the weight's row length). */
  cols: number;
  /** Token capacity of the graph (1 for decode). */
  maxTokens: number;
  /** The step-params uniform (nTokens of the step being run). */
  params: GPUBuffer;
}

export { TOP_PROBS_K };

/** How the last logits become a token. */
export type TokenChoice = 'greedy' | 'sample';

export interface ForwardBuffers {
  stepParams: GPUBuffer;
  samplingParams: GPUBuffer;
  /** u32 [contextSize + 1]: token id per position. */
  history: GPUBuffer;
  /** u32 [1]: the token chosen by the last step. */
  chosen: GPUBuffer;
  logits: GPUBuffer;
  /** (id, prob) × TOP_PROBS_K of softmax(raw logits) for the last step, when requested. */
  topProbs: GPUBuffer;
  /** With ForwardOptions.allLogits: [maxBatch][vocab] logits of every token of the last step. */
  allLogits?: GPUBuffer;
}

interface Graph {
  /** Everything up to and including the final norm. */
  body: KernelCall[];
}

/**
 * Whether a batched decode of `rows` sequences over these weights runs its linears as int8
 * mat-vecs over the rows (ForwardPass.int8Rows): int8 activations, every layer linear's type has
 * an int8 mat-vec, and the rows fit one (MAX_Q8_TOKENS).
 */
export function int8RowsFit(
  activations: ActivationPrecision,
  names: ModelTensorNames,
  weights: ReadonlyMap<string, { type: GGMLType }>,
  rows: number,
): boolean {
  const int8 = (n: string) => !weights.has(n) || hasInt8MatVec(weights.get(n)!.type);
  return (
    activations === 'int8' && rows <= MAX_Q8_TOKENS && names.layers.every((L) => [L.q, L.k, L.v, L.o, L.gate, L.up, L.down].every(int8))
  );
}

/** Activation buffers, sized for the largest batch (decode uses row 0). */
interface Activations {
  /** The residual stream. */
  x: GPUBuffer;
  /** Normalised input of the next block (and, after the last, of the LM head). */
  xn: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** q and k after per-head norms (the same buffers as q and k without qkNorm). */
  qn: GPUBuffer;
  kn: GPUBuffer;
  att: GPUBuffer;
  /** att after the attention sub-norm (att itself without one). */
  attN: GPUBuffer;
  /** Output of a block's attention or FFN, added to `x` by the next norm. */
  delta: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  /** The last token's row of xn, the LM head's input. */
  lastRow: GPUBuffer;
  /**
   * Decode with int8 activations: the linears' inputs quantized, those made from the residual
   * stream `x` in actQ8, the others in actQ8b — so a mat-vec reading one can quantize its output
   * into the other for the next linear (q8Slot).
   */
  actQ8?: GPUBuffer;
  actQ8b?: GPUBuffer;
  /** With ggml activations: a linear's input rounded as llama.cpp rounds it (createLinear). */
  actRound?: GPUBuffer;
}

/** Everything `allocate()` creates. */
interface Allocation {
  act: Activations;
  kCache: readonly BufferRef[];
  vCache: readonly BufferRef[];
  buffers: ForwardBuffers;
  kvCacheBytes: number;
  scratchBytes: number;
}

/**
 * Kernels of one graph (decode: 1 token, prefill: maxBatch tokens), shared by all its layers.
 * `norm`, `ew` and `linear` create a kernel for the given shape; pipelines are cached, so this is cheap.
 */
export interface GraphKernels {
  maxTokens: number;
  /**
   * Wired as decode: norms inside the linears (fuse.normIn), int8 activations with quantizing
   * stores. One-token graphs, and an int8 rows pass's rows graph (ForwardPass.int8Rows).
   */
  decodeWiring: boolean;
  norm(n: number, eps: number, rowsPerToken?: number, residual?: boolean): RmsNormKernel;
  ew(op: ElementwiseOp, n: number): ElementwiseKernel;
  /**
   * A mat-vec/mat-mul over the named weight, with the given fusions; `quantizeOut`: with int8
   * activations, also quantize the output for the next linear (createLinear).
   */
  linear(name: string, fuse?: MatmulFusion, quantizeOut?: 'plain' | 'normed'): LinearKernel;
  rope: SequenceKernels['rope'];
  attention: SequenceKernels['attention'];
}

/**
 * The kernels that read or write one sequence's KV cache at its own positions: RoPE with the
 * K/V store, and attention. A batched decode graph (batch-decode.ts) puts its own in their place.
 */
export interface SequenceKernels {
  rope: { bind(b: RopeBindings): KernelCall };
  attention: { bind(b: AttentionBindings): KernelCall };
}

// GPUBufferUsage is a global only once a WebGPU implementation is loaded, so read it lazily.
const bufUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class ForwardPass {
  readonly buffers: ForwardBuffers;
  /** Bytes of the KV cache this pass allocated. */
  readonly kvCacheBytes: number;
  /** Bytes of its other buffers (activations, step/sampling I/O, logits): see forwardBufferPlan. */
  readonly scratchBytes: number;
  /** What the decode mat-vecs read: f32 activations, or int8 (options.activations, resolved on this device). */
  readonly activations: ActivationPrecision;
  /**
   * A rows pass (ForwardOptions.decodeRows) whose rows graph runs as decode does, with int8
   * activations: every layer linear has an int8 mat-vec and the rows fit one (MAX_Q8_TOKENS).
   * Otherwise its linears are f32 mat-muls over the rows.
   */
  readonly int8Rows: boolean;
  private readonly act: Activations;
  private readonly kCache: readonly BufferRef[];
  private readonly vCache: readonly BufferRef[];
  private readonly decode: Graph;
  /** Built by preparePrefill() or on the first prefill step (see the constructor). */
  private prefillGraph: Graph | null = null;
  private readonly lmHead: KernelCall;
  /** The LM head over every row of a step (ForwardOptions.allLogits). */
  private readonly allRowsLmHead: KernelCall | undefined;
  private readonly argmax: KernelCall;
  private readonly sampler: KernelCall;
  private readonly penalties: KernelCall;
  private readonly topProbsCall: KernelCall;
  private readonly owned: GPUBuffer[] = [];

  constructor(
    private readonly ctx: GpuContext,
    readonly cfg: ModelConfig,
    private readonly names: ModelTensorNames,
    private readonly weights: ReadonlyMap<string, GpuWeight>,
    readonly options: ForwardOptions,
  ) {
    const { contextSize, maxBatch } = options;
    if (contextSize < 1 || maxBatch < 1) throw new RangeError('contextSize and maxBatch must be positive');
    if (names.ropeFreqs && !options.ropeFreqFactors) throw new ModelFormatError(`${names.ropeFreqs} must be passed as ropeFreqFactors`);
    this.activations = resolveActivations(ctx, options.activations);
    this.int8Rows = options.decodeRows === true && !options.linearInputTap && int8RowsFit(this.activations, names, weights, maxBatch);

    const mem = this.allocate();
    this.act = mem.act;
    this.kCache = mem.kCache;
    this.vCache = mem.vCache;
    this.buffers = mem.buffers;
    this.kvCacheBytes = mem.kvCacheBytes;
    this.scratchBytes = mem.scratchBytes;

    this.decode = this.buildGraph(1);
    // The prefill graph's kernels (mat-mul, tiled attention) are about half of all pipelines, and
    // pipelines are most of a model's start-up: they are built apart, so a page can be ready once
    // decode's are compiled and compile these while the user types (engine.ts).
    if (maxBatch === 1) this.prefillGraph = this.decode;

    // LM head on one row: decode reads xn row 0 directly; prefill copies its last row first.
    const { stepParams: params, samplingParams, history, chosen, logits, topProbs } = this.buffers;
    const head = this.w(names.output ?? names.tokenEmbd);
    const lmHead = withQuantizedInputs(ctx, [
      createLinear(ctx, head, 1, this.activations, undefined, { variants: options.kernelVariants }).bind({
        input: this.act.lastRow,
        output: logits,
        params,
        inputQ8: this.q8Slot(this.act.lastRow),
        inputRounded: this.act.actRound,
      }),
    ]);
    this.lmHead = { encode: (pass) => lmHead.forEach((c) => c.encode(pass)) };
    const { allLogits } = this.buffers;
    if (allLogits && this.int8Rows) {
      // As decode's LM head, over the rows (the int8 mat-vec where the head's type has one).
      const rowsHead = withQuantizedInputs(ctx, [
        createLinear(ctx, head, maxBatch, 'int8', undefined, { fewRows: true, variants: options.kernelVariants }).bind({
          input: this.act.xn,
          output: allLogits,
          params,
          inputQ8: this.q8Slot(this.act.xn),
        }),
      ]);
      this.allRowsLmHead = { encode: (pass, step) => rowsHead.forEach((c) => c.encode(pass, step)) };
    } else if (allLogits)
      this.allRowsLmHead = createLinear(ctx, head, maxBatch, this.activations === 'ggml' ? 'ggml' : 'f32', undefined, {
        variants: options.kernelVariants,
      }).bind({ input: this.act.xn, output: allLogits, params, inputRounded: this.act.actRound });
    const vocab = cfg.vocabSize;
    this.penalties = createPenalties(ctx, { vocab }).bind({ params, sampling: samplingParams, history, logits });
    this.argmax = createArgmax(ctx, { vocab }).bind({ params, logits, out: chosen, history });
    this.sampler = createSampler(ctx, { vocab }).bind({ params, sampling: samplingParams, logits, out: chosen, history });
    this.topProbsCall = createTopProbs(ctx, { vocab, k: TOP_PROBS_K }).bind({ logits, out: topProbs });
  }

  /**
   * The pipelines a pass over weights of these shapes creates, described before any weight is on
   * the GPU (for warmPipelines): `decode` are those the constructor builds (the decode graph, the
   * LM head, sampling), `prefill` those preparePrefill() adds. Found by building the pass for
   * real against describePipelines' inert device, so they are exactly the ones it will ask for.
   * A weight whose type reads a per-tensor scale from the file is planned with scale 1.
   */
  static describePipelines(
    ctx: GpuContext,
    cfg: ModelConfig,
    names: ModelTensorNames,
    weights: readonly GpuWeight<null>[],
    options: ForwardOptions,
  ): { decode: PipelineSpec[]; prefill: PipelineSpec[] } {
    let pass: ForwardPass | undefined;
    let planCtx: GpuContext = ctx;
    const standIns = (c: GpuContext) =>
      new Map(
        weights.map((w) => [
          w.name,
          {
            ...w,
            tensorScale: 1,
            members: w.members?.map((m) => ({ ...m, tensorScale: 1 })),
            parts: w.parts.map((p) => ({
              ...p,
              buffer: c.device.createBuffer({ size: pad4(p.rowCount * w.rowBytes), usage: bufUsage() }),
            })),
          },
        ]),
      );
    const decode = describePipelines(ctx, (c) => {
      planCtx = c;
      // A tap's kernels belong to the real device; planning leaves them out.
      pass = new ForwardPass(c, cfg, names, standIns(c), { ...options, linearInputTap: undefined });
    });
    // The same inert device again, so the decode graph's pipelines are cached and not listed twice.
    const prefill = describePipelines(ctx, () => pass!.preparePrefill(), planCtx);
    return { decode, prefill };
  }

  /** Where a linear reading `buffer` finds its int8 copy (and a quantizing store writing it puts one). */
  private q8Slot(buffer: BufferRef): GPUBuffer | undefined {
    return buffer === this.act.x ? this.act.actQ8 : this.act.actQ8b;
  }

  private w(name: string): GpuWeight {
    const t = this.weights.get(name);
    if (!t) throw new ModelFormatError(`tensor ${name} was not loaded`);
    return t;
  }

  private vec(name: string): GPUBuffer {
    const t = this.w(name);
    if (t.type !== GGMLType.F32 || t.parts.length !== 1) {
      throw new ModelFormatError(`${name} must be an F32 vector, found ${GGMLType[t.type]}`);
    }
    return t.parts[0]!.buffer;
  }

  private buf(label: string, bytes: number): GPUBuffer {
    const limit = maxWeightPartBytes(this.ctx);
    if (bytes > limit) {
      throw new DeviceLimitError(
        `${label} needs ${bytes} bytes, over this GPU's buffer binding limit (${limit}); use a smaller context size`,
      );
    }
    const b = createStorageBuffer(this.ctx, bytes, { label, usage: bufUsage() });
    this.owned.push(b);
    return b;
  }

  /**
   * Creates every buffer the pass uses, as {@link forwardBufferPlan} lists them: activations for
   * `maxBatch` tokens, one K and one V cache buffer per layer for `contextSize` positions, and the
   * step/sampling/token I/O buffers. Nothing here depends on how a layer is wired, only on the
   * model's dimensions.
   */
  private allocate(): Allocation {
    const { ctx, cfg } = this;
    const plan = forwardBufferPlan(cfg, { ...this.options, activations: this.activations });
    const made = new Map<string, GPUBuffer>();
    const shared = this.options.kvCache;
    // A shared slot stands in for the planned cache buffers: a range per buffer, of its size.
    const sharedRange = (label: string) => {
      const [which, layer] = label.split('.');
      return (which === 'kCache' ? shared!.k : shared!.v)[Number(layer)];
    };
    if (shared && (shared.k.length !== cfg.nLayer || plan.some((b) => b.kind === 'kvCache' && sharedRange(b.label)?.size !== b.bytes)))
      throw new RangeError('kvCache: one K and one V range per layer, each the size of its planned buffer');
    for (const b of plan) {
      if (b.kind === 'kvCache' && shared) continue;
      if (b.label === 'stepParams') made.set(b.label, createStepParams(ctx));
      else if (b.label === 'samplingParams') made.set(b.label, createSamplingParams(ctx));
      else {
        made.set(b.label, this.buf(b.label, b.bytes));
        continue;
      }
      this.owned.push(made.get(b.label)!);
    }
    const get = (label: string) => made.get(label)!;
    const q = get('q');
    const k = get('k');
    const att = get('att');
    const totals = forwardBufferBytes(plan);
    return {
      act: {
        x: get('x'),
        xn: get('xn'),
        q,
        k,
        v: get('v'),
        qn: made.get('qn') ?? q,
        kn: made.get('kn') ?? k,
        att,
        attN: made.get('attN') ?? att,
        delta: get('delta'),
        gate: get('gate'),
        up: get('up'),
        lastRow: get('lastRow'),
        actQ8: made.get('actQ8'),
        actQ8b: made.get('actQ8b'),
        actRound: made.get('actRound'),
      },
      kCache: shared?.k ?? Array.from({ length: cfg.nLayer }, (_, l) => get(`kCache.${l}`)),
      vCache: shared?.v ?? Array.from({ length: cfg.nLayer }, (_, l) => get(`vCache.${l}`)),
      buffers: {
        stepParams: get('stepParams'),
        samplingParams: get('samplingParams'),
        history: get('history'),
        chosen: get('chosen'),
        logits: get('logits'),
        topProbs: get('topProbs'),
        allLogits: made.get('allLogits'),
      },
      kvCacheBytes: totals.kvCache,
      scratchBytes: totals.scratch,
    };
  }

  /**
   * RoPE + KV store and attention over this pass's context, for steps of up to `maxTokens`
   * tokens of one sequence (1: the decode kernels), or with `rows` the decode kernels over the
   * rows of a batched step, each row a sequence in its slot of shared caches (batch-decode.ts).
   */
  sequenceKernels(maxTokens: number, rows?: SlotRows): SequenceKernels {
    const { ctx, cfg, options } = this;
    const { contextSize } = options;
    const { nHead, nHeadKV, headDim } = cfg;
    return {
      rope: createRope(ctx, {
        headDim,
        nHeads: nHead,
        nKvHeads: nHeadKV,
        ropeDim: cfg.ropeDim,
        freqBase: cfg.ropeBase,
        freqScale: cfg.ropeScale,
        neox: cfg.ropeOrdering === 'neox',
        freqFactors: options.ropeFreqFactors,
        maxTokens: rows?.maxRows ?? maxTokens,
        kvCache: { maxCtx: contextSize },
        rows,
      }),
      attention:
        maxTokens === 1 || rows
          ? createDecodeAttention(ctx, { headDim, nHeads: nHead, nKvHeads: nHeadKV, maxCtx: contextSize, rows })
          : createPrefillAttention(ctx, {
              headDim,
              nHeads: nHead,
              nKvHeads: nHeadKV,
              maxCtx: contextSize,
              maxTokens,
              layout: options.kernelVariants?.attention,
            }),
    };
  }

  /** Layer `l`'s KV cache (what a batched decode binds its per-sequence kernels to). */
  layerKvCache(l: number): { k: BufferRef; v: BufferRef } {
    return { k: this.kCache[l]!, v: this.vCache[l]! };
  }

  /**
   * The body of a step over `maxBatch` rows whose RoPE + KV store and attention are `perSequence`'s
   * calls (one row per sequence: batch-decode.ts), then the LM head over every row into
   * buffers.allLogits. Needs a pass built with ForwardOptions.allLogits.
   */
  batchedBody(perSequence: SequenceKernels): KernelCall[] {
    if (!this.allRowsLmHead) throw new RangeError('a batched body needs a pass built with ForwardOptions.allLogits');
    return [...this.buildGraph(this.options.maxBatch, perSequence).body, this.allRowsLmHead];
  }

  /** One graph for steps of up to `maxTokens` tokens: embedding, every layer, the final norm. */
  private buildGraph(maxTokens: number, perSequence: SequenceKernels = this.sequenceKernels(maxTokens)): Graph {
    const { ctx, cfg, names, options } = this;
    const { nEmbd } = cfg;
    const { x, xn } = this.act;
    const { stepParams: params, history } = this.buffers;
    const body: KernelCall[] = [];
    // Decode's wiring (fusions, int8 activations): one token, or one per row of an int8 rows pass.
    const decodeWiring = maxTokens === 1 || this.int8Rows;
    const kernels: GraphKernels = {
      maxTokens,
      decodeWiring,
      norm: (n, eps, rowsPerToken = 1, residual = false) => createRmsNorm(ctx, { n, eps, maxTokens, rowsPerToken, residualAdd: residual }),
      ew: (op, n) => createElementwise(ctx, { op, n, maxTokens }),
      linear: (name, fuse, quantizeOut) => {
        // A rows pass not wired for int8 (no quantized-input slots) keeps its linears on f32; a
        // prefill graph passes the activations on, so the int8 GEMM runs where gemm8 chose it.
        // ggml activations round every linear's input, whatever the graph.
        const activations = decodeWiring || options.decodeRows !== true || this.activations === 'ggml' ? this.activations : 'f32';
        const kernel = createLinear(ctx, this.w(name), maxTokens, activations, fuse, {
          fewRows: options.decodeRows === true,
          variants: options.kernelVariants,
          quantizeOut,
        });
        return this.tapped(
          name,
          {
            bind: (b) => {
              const inputQ8 = this.q8Slot(b.input);
              const outputQ8 = this.q8Slot(b.output);
              // A quantizing store never writes the buffer its mat-vec reads.
              return kernel.bind({
                ...b,
                inputQ8,
                outputQ8: outputQ8 !== inputQ8 ? outputQ8 : undefined,
                inputRounded: this.act.actRound,
              });
            },
          },
          maxTokens,
        );
      },
      ...perSequence,
    };

    const embd = this.w(names.tokenEmbd);
    body.push(
      createEmbedding(ctx, { type: embd.type, rows: embd.rows, cols: embd.cols, maxTokens, idsByPosition: true }).bind({
        params,
        ids: history,
        table: embd,
        output: x,
      }),
    );
    // One pass over every layer: a layer's down projection may quantize the next layer's input.
    const layers: KernelCall[] = [];
    for (let l = 0; l < cfg.nLayer; l++) layers.push(...this.buildLayer(l, kernels));
    body.push(...withQuantizedInputs(ctx, layers));
    body.push(kernels.norm(nEmbd, cfg.rmsEps).bind({ params, input: x, weight: this.vec(names.outputNorm), output: xn }));
    return { body };
  }

  /**
   * The pre-bound kernel calls of transformer block `l`, in order. On entry `x` holds the residual
   * stream (layer 0: the embedding); each block adds its attention and FFN outputs to it.
   *
   * This is where an architecture plugs in. The Llama-style block below covers llama, qwen2/3,
   * bitnet and their variants through optional tensors (biases, q/k norms, sub-norms, scales) and
   * config fields (activation, RoPE ordering); a model whose block differs (parallel attention and
   * FFN, another attention type) adds its wiring here, over the buffers `allocate()` created and
   * the graph's `kernels`. Allocation, the embedding, the LM head and sampling stay as they are.
   */
  protected buildLayer(l: number, kernels: GraphKernels): KernelCall[] {
    const { cfg } = this;
    const { nEmbd, nHead, nHeadKV, headDim, headDimV, nFF } = cfg;
    const qDim = nHead * headDim;
    const kDim = nHeadKV * headDim;
    const vDim = nHeadKV * headDimV;
    const attDim = nHead * headDimV;
    const { x, xn, q, k, v, qn, kn, att, attN, delta, gate, up } = this.act;
    const params = this.buffers.stepParams;
    const kCache = this.kCache[l]!;
    const vCache = this.vCache[l]!;
    const vec = (name: string) => this.vec(name);
    const { norm, ew, linear, rope, attention } = kernels;
    const body: KernelCall[] = [];
    const L = this.names.layers[l]!;
    const scaleCall = (which: keyof LayerTensorNames['scales'], target: GPUBuffer, n: number) => {
      const s = L.scales[which];
      if (s) body.push(ew('scale', n).bind({ params, a: target, b: vec(s) }));
    };
    // rmsnorm(input)·weight as the input of the projections that follow: decode's f32 mat-vec does
    // it in its input load (fuse.normIn), decode's int8 mat-vec reads the input quantized times
    // the weight and applies 1/rms at its store; prefill's mat-mul reads the copy a norm kernel
    // writes into `scratch`.
    const normed = (input: GPUBuffer, weight: string, n: number, scratch: GPUBuffer) => {
      // A linear-input tap (imatrix) must see the normed input itself, and ggml activations round
      // it, so both keep the norm kernel.
      if (kernels.decodeWiring && !this.options.linearInputTap && this.activations !== 'ggml')
        return { input, normWeight: vec(weight), fuse: { normIn: { eps: cfg.rmsEps } } as MatmulFusion };
      body.push(norm(n, cfg.rmsEps).bind({ params, input, weight: vec(weight), output: scratch }));
      return { input: scratch, normWeight: undefined, fuse: {} as MatmulFusion };
    };
    // With int8 activations a decode mat-vec can quantize its output for the next linear, times
    // that linear's norm weight (none: plain), when the next reads it through an int8 mat-vec.
    // (Not under a linear-input tap: its norms run as kernels, so the stores' int8 slots would clash.)
    const int8Decode = kernels.decodeWiring && this.activations === 'int8' && !this.options.linearInputTap;
    const quantizeFor = (next: string | undefined, norm: string | undefined) =>
      int8Decode && next !== undefined && hasInt8MatVec(this.w(next).type)
        ? { quantizeOut: norm ? ('normed' as const) : ('plain' as const), outputNormWeight: norm ? vec(norm) : undefined }
        : { quantizeOut: undefined, outputNormWeight: undefined };
    const Lnext = this.names.layers[l + 1];
    const firstOf = (layer: LayerTensorNames) =>
      [fusedWeightName([layer.q, layer.k, layer.v]), fusedWeightName([layer.q, layer.k]), layer.q].find((n) => this.weights.has(n));
    const ffnFirst = [fusedWeightName([L.gate, L.up]), L.gate].find((n) => this.weights.has(n));
    // x += W·input, in the projection's store unless a scale tensor must multiply W·input first;
    // the store then also quantizes x for `next` (normed by `nextNorm`).
    const addInto = (
      name: string,
      which: 'o' | 'down',
      src: ReturnType<typeof normed>,
      next: ReturnType<typeof quantizeFor> = quantizeFor(undefined, undefined),
    ) => {
      if (!L.scales[which]) {
        const bind = { input: src.input, normWeight: src.normWeight, output: x, params, outputNormWeight: next.outputNormWeight };
        body.push(linear(name, { ...src.fuse, addOut: true }, next.quantizeOut).bind(bind));
        return;
      }
      body.push(linear(name, src.fuse).bind({ input: src.input, normWeight: src.normWeight, output: delta, params }));
      scaleCall(which, delta, nEmbd);
      body.push(ew('add', nEmbd).bind({ params, a: x, b: delta }));
    };

    const attIn = normed(x, L.attnNorm, nEmbd, xn);
    const qkv = fusedWeightName([L.q, L.k, L.v]);
    const qk = fusedWeightName([L.q, L.k]);
    const attBind = { input: attIn.input, normWeight: attIn.normWeight, params };
    if (this.weights.has(qkv)) {
      const fuse = { ...attIn.fuse, split: [qDim, kDim, vDim] as const };
      body.push(linear(qkv, fuse).bind({ ...attBind, output: q, output1: k, output2: v }));
    } else if (this.weights.has(qk)) {
      body.push(linear(qk, { ...attIn.fuse, split: [qDim, kDim] }).bind({ ...attBind, output: q, output1: k }));
      body.push(linear(L.v, attIn.fuse).bind({ ...attBind, output: v }));
    } else {
      body.push(linear(L.q, attIn.fuse).bind({ ...attBind, output: q }));
      body.push(linear(L.k, attIn.fuse).bind({ ...attBind, output: k }));
      body.push(linear(L.v, attIn.fuse).bind({ ...attBind, output: v }));
    }
    scaleCall('q', q, qDim);
    scaleCall('k', k, kDim);
    scaleCall('v', v, vDim);
    if (L.qBias) body.push(ew('bias', qDim).bind({ params, a: q, b: vec(L.qBias) }));
    if (L.kBias) body.push(ew('bias', kDim).bind({ params, a: k, b: vec(L.kBias) }));
    if (L.vBias) body.push(ew('bias', vDim).bind({ params, a: v, b: vec(L.vBias) }));
    if (L.qNorm && L.kNorm) {
      body.push(norm(headDim, cfg.rmsEps, nHead).bind({ params, input: q, weight: vec(L.qNorm), output: qn }));
      body.push(norm(headDim, cfg.rmsEps, nHeadKV).bind({ params, input: k, weight: vec(L.kNorm), output: kn }));
    }
    body.push(rope.bind({ params, q: qn, k: kn, v, kCache, vCache }));
    body.push(attention.bind({ params, q: qn, kCache, vCache, output: att }));
    const oIn = L.attnSubNorm ? normed(att, L.attnSubNorm, attDim, attN) : { input: att, normWeight: undefined, fuse: {} };
    addInto(L.o, 'o', oIn, quantizeFor(ffnFirst, L.ffnNorm));

    const ffnIn = normed(x, L.ffnNorm, nEmbd, xn);
    const act = cfg.ffnActivation === 'relu2' ? 'relu2' : cfg.ffnActivation === 'gelu' ? 'gelu' : 'silu';
    const gateUp = fusedWeightName([L.gate, L.up]);
    const ffnBind = { input: ffnIn.input, normWeight: ffnIn.normWeight, params };
    if (this.weights.has(gateUp)) {
      const next = quantizeFor(L.down, L.ffnSubNorm);
      const bind = { ...ffnBind, output: gate, outputNormWeight: next.outputNormWeight };
      body.push(linear(gateUp, { ...ffnIn.fuse, glu: act }, next.quantizeOut).bind(bind));
    } else {
      body.push(linear(L.gate, ffnIn.fuse).bind({ ...ffnBind, output: gate }));
      body.push(linear(L.up, ffnIn.fuse).bind({ ...ffnBind, output: up }));
      scaleCall('gate', gate, nFF);
      scaleCall('up', up, nFF);
      body.push(ew(`${act}_mul`, nFF).bind({ params, a: gate, b: up }));
    }
    const downIn = L.ffnSubNorm ? normed(gate, L.ffnSubNorm, nFF, up) : { input: gate, normWeight: undefined, fuse: {} };
    addInto(L.down, 'down', downIn, quantizeFor(Lnext && firstOf(Lnext), Lnext?.attnNorm));
    return body;
  }

  /** `kernel`, with ForwardOptions.linearInputTap's call (if any) encoded before each bound call. */
  private tapped(name: string, kernel: LinearKernel, maxTokens: number): LinearKernel {
    const tap = this.options.linearInputTap;
    if (!tap) return kernel;
    const cols = this.w(name).cols;
    return {
      bind: (b) => {
        const call = kernel.bind(b);
        const before = tap({ weightName: name, input: b.input, cols, maxTokens, params: this.buffers.stepParams });
        if (!before) return call;
        return {
          ...call, // keeps quantizedInput, which withQuantizedInputs reads
          encode(pass, step) {
            before.encode(pass, step);
            call.encode(pass, step);
          },
        };
      },
    };
  }

  /**
   * Encodes one step of `nTokens` tokens (1 = decode) into `encoder`: the body, the LM head on the
   * last token, then (optionally) the top-K probabilities and the token choice. With `allLogits`
   * (a pass built with ForwardOptions.allLogits) the LM head also runs over every token of the
   * step into buffers.allLogits. The caller has written stepParams = `step` and, for prefill, the
   * prompt ids into `history`.
   */
  encodeStep(
    encoder: GPUCommandEncoder,
    step: StepShape,
    opts: {
      choose?: TokenChoice;
      penalties?: boolean;
      topProbs?: boolean;
      logits?: boolean;
      allLogits?: boolean;
      /**
       * The step's tokens are prompt tokens: they take the prefill graph even when there is only
       * one, so a prompt gets the same numbers however it is cut into steps or how much of it
       * was cached (the decode graph rounds differently: another kernel, int8 activations).
       */
      prompt?: boolean;
    } = {},
  ): void {
    const { nTokens } = step;
    if (nTokens < 1 || nTokens > this.options.maxBatch) throw new RangeError(`nTokens ${nTokens} outside 1…${this.options.maxBatch}`);
    const graph = nTokens === 1 && !opts.prompt ? this.decode : this.prefill();
    let pass = encoder.beginComputePass();
    // The step's shape lets kernels dispatch only the tokens and KV chunks this step needs.
    for (const call of graph.body) call.encode(pass, step);
    if (opts.allLogits) {
      if (!this.allRowsLmHead) throw new RangeError('allLogits asked for, but this pass was built without ForwardOptions.allLogits');
      this.allRowsLmHead.encode(pass, step);
    }
    pass.end();
    const rowBytes = this.cfg.nEmbd * 4;
    encoder.copyBufferToBuffer(this.act.xn, (nTokens - 1) * rowBytes, this.act.lastRow, 0, rowBytes);
    if (opts.logits === false) return;
    pass = encoder.beginComputePass();
    this.lmHead.encode(pass);
    this.encodeChoice(pass, opts);
    pass.end();
  }

  /**
   * What follows the LM head once buffers.logits holds the step's logits: the top-K report, the
   * penalties, the token choice (into `chosen` and history[kvLen]).
   */
  encodeChoice(pass: GPUComputePassEncoder, opts: { choose?: TokenChoice; penalties?: boolean; topProbs?: boolean }): void {
    if (opts.topProbs) this.topProbsCall.encode(pass);
    if (opts.penalties) this.penalties.encode(pass);
    if (opts.choose === 'sample') this.sampler.encode(pass);
    else if (opts.choose === 'greedy') this.argmax.encode(pass);
  }

  /** Builds the prefill graph (creates its pipelines) now, unless built or destroyed already. */
  preparePrefill(): void {
    if (this.owned.length) this.prefill();
  }

  private prefill(): Graph {
    return (this.prefillGraph ??= this.buildGraph(this.options.maxBatch));
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
