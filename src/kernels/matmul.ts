/**
 * Fused dequant mat-vec (decode: y = W·x) and mat-mul (prefill: Y = X·Wᵀ for T tokens) over
 * weights still quantized in GPU memory, for every type whose quant-table entry has a GPU decoder
 * (src/quant/gpu-decoders.ts).
 *
 *   const mv = createMatVec(ctx, { type, rows, cols });
 *   const call = mv.bind({ weight, input, output });   // bind groups + per-part uniforms, once
 *   call.encode(pass);                                  // every step; creates nothing
 *
 *   const mm = createMatMul(ctx, { type, rows, cols, maxTokens: 64 });
 *   const call = mm.bind({ weight, input, output, stepParams }); // T = stepParams word 1 (≤ maxTokens)
 *
 * Mat-mul reads the real token count from the caller's step-params uniform (word 1, as
 * src/kernels/step-params.ts writes it), so one bind group serves every prefill chunk; it
 * dispatches ceil(maxTokens / TT) token tiles and tiles past T return at once. Without
 * stepParams the token count is maxTokens.
 *
 * Layouts: input token t at inputOffset + t·inputStride (f32 elements; offset and stride multiples
 * of 4, the shader reads vec4s), output token t at outputOffset + t·outputStride.
 * A weight split into parts gets one dispatch per part, each writing its own rows.
 *
 * Fusions (options.fuse), which save a decode step the dispatches of the kernels they replace:
 *   normIn  RMSNorm of the input inside the input load (bindings.normWeight: the norm's weight);
 *           mat-vec only, as the whole input row passes through each row group there.
 *   glu     the weight's rows are [gate; up] (a weight fused by fuseProjections); the output is
 *           act(gate)·up, rows / 2 values per token.
 *   addOut  output += W·x (a residual add).
 *   split   the rows go to two or three outputs (output, output1[, output2]) at the given row
 *           counts: a fused Q/K/V weight writing q, k and v (or Q/K writing q and k).
 * The fused weights (glu, split) must be one part.
 */
import actWgsl from '../../shaders/common/act.wgsl?raw';
import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import matmulTiledWgsl from '../../shaders/matmul_tiled.wgsl?raw';
import chunkWgsl from '../../shaders/common/chunk.wgsl?raw';
import matmulIoWgsl from '../../shaders/common/matmul_io.wgsl?raw';
import { DeviceLimitError, ModelFormatError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createUniformBuffer } from '../gpu/buffers.ts';
import { composeWgsl, definesKey, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { decoderSnippets, gpuBlockGeometry, kernelChunk } from '../quant/gpu-decoders.ts';
import { getGpuQuantType, quantTypeInfo } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { type BufferRef, dispatchTokens, grid, isGpuBuffer, type KernelCall, refSize, type StepShape } from './common.ts';
import { defaultGemmTile, type GemmTile, gemmTileSize, gemmTileStorageBytes } from './matmul-tiled.ts';

/**
 * How the work is split; defaults come from {@link defaultMatmulVariant}.
 *   subgroup-row   a subgroup per rowsPerThread rows, lanes stride over the row, subgroupAdd.
 *   thread-row     a thread per rowsPerThread whole rows, no reduction; with shareInput the lanes
 *                  of a subgroup load the input chunk once between them (subgroupBroadcast).
 *   workgroup-row  threadsPerRow threads per row group, one barrier + workgroup-memory sum.
 *   tiled          mat-mul only: the tiled GEMM (shaders/matmul_tiled.wgsl), workgroupSize /
 *                  tokenThreads row threads × tokenThreads token threads, each owning
 *                  rowsPerThread × tokensPerThread outputs; shapes in matmul-tiled.ts.
 */
export type MatmulMode = 'subgroup-row' | 'thread-row' | 'workgroup-row' | 'tiled';

export interface MatmulVariant {
  mode: MatmulMode;
  /** Threads per workgroup. */
  workgroupSize: number;
  /** Rows each thread (thread-row) or subgroup / thread group accumulates at once. */
  rowsPerThread: number;
  /** workgroup-row only: threads sharing a row group. */
  threadsPerRow: number;
  /** thread-row only: share input loads across the subgroup (needs a fixed subgroup size). */
  shareInput: boolean;
  /** Tokens each thread accumulates (mat-mul); every decoded chunk is reused TT times. */
  tokensPerThread: number;
  /** tiled only: threads along the tokens of a tile (the rest of the workgroup runs along rows). */
  tokenThreads: number;
  /** tiled only: stage each chunk's input in workgroup memory (GemmTile.stageInput; default true). */
  stageInput?: boolean;
}

/** The variant that runs a GEMM tile shape. */
export function tiledVariant(t: GemmTile): MatmulVariant {
  const { threads } = gemmTileSize(t);
  return {
    mode: 'tiled',
    workgroupSize: threads,
    rowsPerThread: t.rowsPerThread,
    threadsPerRow: 1,
    shareInput: t.shareInput,
    tokensPerThread: t.tokensPerThread,
    tokenThreads: t.tokenThreads,
    stageInput: t.stageInput,
  };
}

function tileOf(v: MatmulVariant): GemmTile {
  return {
    rowThreads: v.workgroupSize / v.tokenThreads,
    tokenThreads: v.tokenThreads,
    rowsPerThread: v.rowsPerThread,
    tokensPerThread: v.tokensPerThread,
    shareInput: v.shareInput,
    stageInput: v.stageInput ?? true,
  };
}

/** Work fused into a mat-vec / mat-mul (see the file comment). */
export interface MatmulFusion {
  normIn?: { eps: number };
  glu?: GluActivation;
  addOut?: boolean;
  split?: readonly [number, number] | readonly [number, number, number];
}

export type GluActivation = 'silu' | 'gelu' | 'relu2';

export interface MatVecOptions {
  type: GGMLType;
  /** Rows of the weight (with fuse.glu, gate and up rows together). */
  rows: number;
  cols: number;
  fuse?: MatmulFusion;
  /** Force parts of the variant (tests force subgroups on and off). */
  variant?: Partial<MatmulVariant>;
  /**
   * Benchmark probe only — gives WRONG results for types with unaligned blocks: loads words as if
   * every block were 4-byte aligned, i.e. the speed a load-time repack to aligned blocks would
   * reach at the same byte count (bench/kernels.ts --layout).
   */
  assumeAligned?: boolean;
}

export interface MatMulOptions extends MatVecOptions {
  /** Largest token count per call (prefill chunk). */
  maxTokens: number;
  /** f32 elements between tokens' inputs (default cols). */
  inputStride?: number;
  /** f32 elements between tokens' outputs (default rows). */
  outputStride?: number;
}

export interface MatmulBindings {
  weight: GpuWeight;
  input: BufferRef;
  output: BufferRef;
  /** f32 elements before token 0's input (multiple of 4). */
  inputOffset?: number;
  /** f32 elements before token 0's output. */
  outputOffset?: number;
  /** Mat-mul only: the step-params uniform (word 1 = tokens this call, ≤ maxTokens). */
  stepParams?: BufferRef;
  /** fuse.normIn: the norm's weight, cols f32. */
  normWeight?: BufferRef;
  /** fuse.split: the second and (3 outputs) third outputs (offset 0, token stride = their row count). */
  output1?: BufferRef;
  output2?: BufferRef;
}

export interface MatmulKernel {
  readonly variant: MatmulVariant;
  readonly maxTokens: number;
  bind(b: MatmulBindings): KernelCall;
}

/**
 * Variant choice (measured on SwiftShader with bench/kernels.ts --variants; the GPU defaults follow
 * usual GEMV practice, as no GPU is available here to tune on). Mat-mul is the tiled GEMM on every
 * device, its tile shape from defaultGemmTile (chunkVec4s: the chunk the GEMM decodes, BlockGeometry.gemmChunkVec4s).
 * For mat-vec, and for mat-mul when a row mode is forced:
 *  - software device (SwiftShader: a subgroup is one CPU SIMD register, every lane's load is a
 *    separate gather, barriers are expensive): thread-row; mat-vec 4 rows per thread so each input
 *    chunk is loaded once for 4 rows, input loads shared across the subgroup (subgroupBroadcast)
 *    when its size is fixed; mat-mul 2 rows × 4 tokens per thread.
 *  - GPU with subgroups: subgroup-row (coalesced row reads, one subgroupAdd per row), mat-mul 8
 *    tokens per thread.
 *  - GPU without subgroups: workgroup-row, 16 threads per row, one barrier.
 */
export function defaultMatmulVariant(ctx: GpuContext, op: 'matvec' | 'matmul', chunkVec4s = 8, rowsPerOutput: 1 | 2 = 1): MatmulVariant {
  if (op === 'matmul') return tiledVariant(defaultGemmTile(ctx, chunkVec4s, rowsPerOutput));
  return defaultRowVariant(ctx, op);
}

/** The row-mode variant (subgroup-row / thread-row / workgroup-row) for this device. */
function defaultRowVariant(ctx: GpuContext, op: 'matvec' | 'matmul'): MatmulVariant {
  const tokensPerThread = op === 'matvec' ? 1 : 8;
  if (ctx.isSoftware) {
    const fixedSg = ctx.hasSubgroups && ctx.subgroupMinSize > 0 && ctx.subgroupMinSize === ctx.subgroupMaxSize;
    return {
      mode: 'thread-row',
      workgroupSize: 16,
      rowsPerThread: op === 'matvec' ? 4 : 2,
      threadsPerRow: 1,
      shareInput: fixedSg,
      tokensPerThread: op === 'matvec' ? 1 : 4,
      tokenThreads: 1,
    };
  }
  if (ctx.hasSubgroups)
    return {
      mode: 'subgroup-row',
      workgroupSize: 64,
      rowsPerThread: 1,
      threadsPerRow: 0,
      shareInput: false,
      tokensPerThread,
      tokenThreads: 1,
    };
  return {
    mode: 'workgroup-row',
    workgroupSize: 64,
    rowsPerThread: 1,
    threadsPerRow: 16,
    shareInput: false,
    tokensPerThread,
    tokenThreads: 1,
  };
}

/**
 * The variant a kernel runs: the device's default under whatever was forced. For mat-mul tiles:
 * the decoder's chunk, and weight rows decoded per output row (2 with GLU: gate and up).
 */
export function resolveVariant(
  ctx: GpuContext,
  op: 'matvec' | 'matmul',
  forced: Partial<MatmulVariant> | undefined,
  chunkVec4s = 8,
  rowsPerOutput: 1 | 2 = 1,
): MatmulVariant {
  if (op === 'matvec' && forced?.mode === 'tiled') throw new RangeError('mat-vec: the tiled variant is a mat-mul (prefill) kernel');
  // A forced row mode starts from the row modes' defaults (mat-mul's default is the tiled GEMM).
  const rowMode = forced?.mode !== undefined && forced.mode !== 'tiled';
  const base = rowMode ? defaultRowVariant(ctx, op) : defaultMatmulVariant(ctx, op, chunkVec4s, rowsPerOutput);
  let v: MatmulVariant = { ...base, ...forced };
  if (forced?.mode && forced.mode !== base.mode) {
    // Other mode than the default: its own sensible defaults under whatever was forced.
    const modeDefaults: Record<MatmulMode, Partial<MatmulVariant>> = {
      'subgroup-row': { workgroupSize: 64, rowsPerThread: 1, threadsPerRow: 0, shareInput: false, tokenThreads: 1 },
      'thread-row': { workgroupSize: 16, rowsPerThread: op === 'matvec' ? 4 : 2, threadsPerRow: 1, shareInput: false, tokenThreads: 1 },
      'workgroup-row': { workgroupSize: 64, rowsPerThread: 1, threadsPerRow: 16, shareInput: false, tokenThreads: 1 },
      tiled: tiledVariant(defaultGemmTile(ctx, chunkVec4s, rowsPerOutput)),
    };
    v = { ...base, ...modeDefaults[forced.mode], ...forced };
  }
  const needsSubgroups = v.mode === 'subgroup-row' || ((v.mode === 'thread-row' || v.mode === 'tiled') && v.shareInput);
  if (needsSubgroups && !ctx.hasSubgroups) {
    throw new DeviceLimitError(
      `mat-vec: the ${v.mode}${v.shareInput ? ' shared-input' : ''} variant needs subgroups, which the device does not have`,
    );
  }
  if (
    (v.mode === 'thread-row' || v.mode === 'tiled') &&
    v.shareInput &&
    !(ctx.subgroupMinSize > 0 && ctx.subgroupMinSize === ctx.subgroupMaxSize)
  ) {
    throw new DeviceLimitError(
      `mat-vec: shareInput needs a fixed subgroup size; the device reports ${ctx.subgroupMinSize}–${ctx.subgroupMaxSize}`,
    );
  }
  if (v.mode === 'workgroup-row' && (v.threadsPerRow < 1 || v.workgroupSize % v.threadsPerRow !== 0)) {
    throw new RangeError(`mat-vec variant: workgroupSize ${v.workgroupSize} is not a multiple of threadsPerRow ${v.threadsPerRow}`);
  }
  if (v.mode === 'tiled') {
    checkInt('tokenThreads', v.tokenThreads, 1);
    if (v.workgroupSize % v.tokenThreads !== 0)
      throw new RangeError(`mat-mul tile: workgroupSize ${v.workgroupSize} is not a multiple of tokenThreads ${v.tokenThreads}`);
    const bytes = gemmTileStorageBytes(tileOf(v), chunkVec4s);
    if (bytes > ctx.limits.maxComputeWorkgroupStorageSize)
      throw new DeviceLimitError(
        `mat-mul tile: ${bytes} bytes of workgroup storage exceed maxComputeWorkgroupStorageSize ${ctx.limits.maxComputeWorkgroupStorageSize}`,
      );
  }
  if (v.workgroupSize > ctx.limits.maxComputeInvocationsPerWorkgroup) {
    throw new DeviceLimitError(
      `mat-vec: workgroup of ${v.workgroupSize} exceeds maxComputeInvocationsPerWorkgroup ${ctx.limits.maxComputeInvocationsPerWorkgroup}`,
    );
  }
  if (op === 'matvec') v.tokensPerThread = 1;
  return v;
}

export function rowsPerWorkgroup(ctx: GpuContext, v: MatmulVariant): number {
  if (v.mode === 'subgroup-row')
    return Math.max(1, Math.floor(v.workgroupSize / (ctx.subgroupMinSize > 0 ? ctx.subgroupMinSize : 32))) * v.rowsPerThread;
  if (v.mode === 'thread-row') return v.workgroupSize * v.rowsPerThread;
  if (v.mode === 'tiled') return gemmTileSize(tileOf(v)).rows;
  return (v.workgroupSize / v.threadsPerRow) * v.rowsPerThread;
}

const layoutCache = new WeakMap<GPUDevice, Map<string, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>>();

/**
 * Explicit layout (W, X, Y, part uniform, [step uniform], [W as 16-byte words], [norm weight],
 * [Y1, Y2], [quantized output, its norm weight]): decoders that read only W4 leave W unused, and
 * 'auto' layouts would drop it. The quantized output (bindings 9, 10) is the int8 mat-vec's
 * quantizing store (src/kernels/matvec-q8.ts): 'plain' binds the int8 blocks, 'normed' also the
 * norm weight they are multiplied by.
 */
export function matmulLayout(
  ctx: GpuContext,
  dynamicT: boolean,
  usesW4: boolean,
  normIn = false,
  outputs = 1,
  quantOut: 'none' | 'plain' | 'normed' = 'none',
): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
  let perDevice = layoutCache.get(ctx.device);
  if (!perDevice) layoutCache.set(ctx.device, (perDevice = new Map()));
  const key = `${dynamicT}:${usesW4}:${normIn}:${outputs}:${quantOut}`;
  let l = perDevice.get(key);
  if (!l) {
    const ro = { type: 'read-only-storage' as const };
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: ro },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: ro },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    ];
    if (dynamicT) entries.push({ binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    if (usesW4) entries.push({ binding: 5, visibility: GPUShaderStage.COMPUTE, buffer: ro });
    if (normIn) entries.push({ binding: 6, visibility: GPUShaderStage.COMPUTE, buffer: ro });
    for (let i = 1; i < outputs; i++) entries.push({ binding: 6 + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
    if (quantOut !== 'none') entries.push({ binding: 9, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
    if (quantOut === 'normed') entries.push({ binding: 10, visibility: GPUShaderStage.COMPUTE, buffer: ro });
    const group = ctx.device.createBindGroupLayout({ label: `matmul:${key}`, entries });
    l = { group, pipeline: ctx.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
    perDevice.set(key, l);
  }
  return l;
}

function checkInt(field: string, v: number, min: number, multipleOf = 1): void {
  if (!Number.isSafeInteger(v) || v < min || v % multipleOf !== 0) {
    throw new RangeError(
      `mat-vec: ${field} must be an integer ≥ ${min}${multipleOf > 1 ? ` and a multiple of ${multipleOf}` : ''}, got ${v}`,
    );
  }
}

function createKernel(ctx: GpuContext, op: 'matvec' | 'matmul', o: MatMulOptions): MatmulKernel {
  const entry = getGpuQuantType(o.type);
  const decoder = entry.gpu;
  const typeName = entry.name;
  checkInt('rows', o.rows, 1);
  checkInt('cols', o.cols, 4, 4);
  checkInt('maxTokens', o.maxTokens, 1);
  const geo = gpuBlockGeometry(entry.layout, decoder, o.cols);
  if (o.cols % geo.blockElems !== 0) {
    throw new ModelFormatError(`mat-vec: ${typeName} rows of ${o.cols} elements are not a multiple of the ${geo.blockElems}-element block`);
  }
  const inputStride = o.inputStride ?? o.cols;
  const fuse = checkFusion(op, o);
  // Rows each output receives per token (the first output's is also its default token stride).
  const outRows = fuse.split ? [...fuse.split] : [fuse.glu ? o.rows / 2 : o.rows];
  const outputStride = o.outputStride ?? outRows[0]!;
  checkInt('inputStride', inputStride, o.cols, 4);
  checkInt('outputStride', outputStride, outRows[0]!);
  // GLU decodes a gate and an up row for each output row, so its tile has half the rows.
  const variant = resolveVariant(ctx, op, o.variant, geo.gemmChunkVec4s, fuse.glu ? 2 : 1);
  const tiled = variant.mode === 'tiled';
  const chunk = kernelChunk(decoder, geo, tiled);
  const chunkVec4s = chunk.vec4s;
  const tt = variant.tokensPerThread;
  checkInt('tokensPerThread', tt, 1);
  checkInt('rowsPerThread', variant.rowsPerThread, 1);
  const blocksPerRow = o.cols / geo.blockElems;
  const rowBytes = geo.rowBytes;
  const sgx = ctx.subgroupMinSize;
  // Sharing needs whole vec4 groups per lane; otherwise plain loads.
  // thread-row holds the chunk's input for all tile tokens in registers (shared across the
  // subgroup) while it decodes each row once; past 32 vec4s of input that spills, so bigger
  // chunks × tiles stream the input per token instead (as the GPU modes always do).
  const preloadX = tt === 1 || (variant.mode === 'thread-row' && tt * chunkVec4s <= 32);
  // Sharing needs whole vec4 groups per lane; otherwise plain loads.
  // The tiled GEMM shares reads of its staged input when every lane of a subgroup reads the same
  // token (one token thread) and the workgroup is whole subgroups.
  const shareX =
    (preloadX && variant.mode === 'thread-row' && variant.shareInput && chunkVec4s % sgx === 0) ||
    (tiled && variant.shareInput && variant.tokenThreads === 1 && chunkVec4s % sgx === 0 && variant.workgroupSize % sgx === 0);
  const rowsPerWg = rowsPerWorkgroup(ctx, variant);
  // Tokens one workgroup (row modes: one thread) covers: the z extent of the dispatch grid.
  const tokensPerTile = tiled ? gemmTileSize(tileOf(variant)).tokens : tt;
  const defines = {
    DECODER: decoder.snippet,
    ALIGNED: geo.aligned || Boolean(o.assumeAligned),
    USES_W4: geo.usesW4,
    TERNARY: Boolean(decoder.ternary),
    FB: decoder.float ? geo.blockElems : 0,
    CW: chunkVec4s,
    NG: chunk.groups,
    GS: chunkVec4s / chunk.groups,
    HAS_MIN: decoder.hasMin,
    CW_SG: shareX ? chunkVec4s / sgx : 0,
    SGX: shareX ? sgx : 1,
    SHARE_X: shareX,
    PRELOAD_X: preloadX,
    MODE_SGROW: variant.mode === 'subgroup-row',
    MODE_THREAD: variant.mode === 'thread-row',
    MODE_WGROW: variant.mode === 'workgroup-row',
    TT: tt,
    RR: fuse.glu ? 2 * variant.rowsPerThread : variant.rowsPerThread,
    RH: variant.rowsPerThread,
    NORM_IN: fuse.normIn !== undefined,
    GLU: fuse.glu !== undefined,
    ACT: fuse.glu ?? 'silu',
    ADD_OUT: fuse.addOut === true,
    INT8_X: false,
    QOUT: false,
    OUT2: outRows.length >= 2,
    OUT3: outRows.length === 3,
    WG: variant.workgroupSize,
    TPR: variant.mode === 'workgroup-row' ? variant.threadsPerRow : 1,
    ROWS_PER_WG: rowsPerWg,
    ...(tiled
      ? {
          STAGE_X: variant.stageInput ?? true,
          RM: variant.rowsPerThread,
          TN: tt,
          WT: variant.tokenThreads,
          BM: rowsPerWg,
          BN: tokensPerTile,
        }
      : {}),
  };
  const subgroups = variant.mode === 'subgroup-row' || shareX;
  const snippets = { ...decoderSnippets(decoder), act: actWgsl, chunk: chunkWgsl, matmul_io: matmulIoWgsl };
  const layoutFor = (dynamicT: boolean) => matmulLayout(ctx, dynamicT, geo.usesW4, defines.NORM_IN, outRows.length);
  const pipelineFor = (dynamicT: boolean) => {
    const all = { ...defines, DYNAMIC_T: dynamicT };
    return getPipeline(
      ctx,
      definesKey(tiled ? 'matmul-tiled' : 'matmul', all, subgroups),
      composeWgsl(tiled ? matmulTiledWgsl : matmulWgsl, { subgroups, defines: all, snippets }),
      'main',
      undefined,
      {
        layout: layoutFor(dynamicT).pipeline,
      },
    );
  };
  // Compile the common case now, so errors surface at creation rather than at bind.
  const dynamicDefault = op === 'matmul';
  pipelineFor(dynamicDefault);
  const tokenTiles = Math.ceil(o.maxTokens / tokensPerTile);

  return {
    variant,
    maxTokens: o.maxTokens,
    bind(b: MatmulBindings): KernelCall {
      const w = b.weight;
      checkKernelWeight('mat-vec', o, w, rowBytes, fuse);
      const inputOffset = b.inputOffset ?? 0;
      const outputOffset = b.outputOffset ?? 0;
      checkInt('inputOffset', inputOffset, 0, 4);
      checkInt('outputOffset', outputOffset, 0);
      const inNeed = (inputOffset + (o.maxTokens - 1) * inputStride + o.cols) * 4;
      const outNeed = (outputOffset + (o.maxTokens - 1) * outputStride + outRows[0]!) * 4;
      if (refSize(b.input) < inNeed) throw new RangeError(`mat-vec "${w.name}": input holds ${refSize(b.input)} bytes, needs ${inNeed}`);
      if (refSize(b.output) < outNeed)
        throw new RangeError(`mat-vec "${w.name}": output holds ${refSize(b.output)} bytes, needs ${outNeed}`);
      const extra = [b.output1, b.output2].slice(0, outRows.length - 1);
      extra.forEach((ref, i) => {
        const need = o.maxTokens * outRows[i + 1]! * 4;
        if (!ref) throw new RangeError(`mat-vec "${w.name}": a ${outRows.length}-way fuse.split needs bindings.output${i + 1}`);
        if (refSize(ref) < need) throw new RangeError(`mat-vec "${w.name}": output${i + 1} holds ${refSize(ref)} bytes, needs ${need}`);
      });
      if (fuse.normIn) {
        if (!b.normWeight) throw new RangeError(`mat-vec "${w.name}": fuse.normIn needs bindings.normWeight`);
        if (refSize(b.normWeight) < o.cols * 4)
          throw new RangeError(`mat-vec "${w.name}": normWeight holds ${refSize(b.normWeight)} bytes, needs ${o.cols * 4}`);
      }
      const scales = fusionScales(w, fuse, o.rows);
      const dynamicT = op === 'matmul' && b.stepParams !== undefined;
      const pipeline = pipelineFor(dynamicT);
      let covered = 0;
      const calls = w.parts.map((part, i) => {
        covered = checkWeightPart(w, i, covered, rowBytes);
        const params = partParams({
          rows: fuse.glu ? part.rowCount / 2 : part.rowCount,
          outBase: outputOffset + part.rowStart,
          inBase4: inputOffset / 4,
          scales,
          rowBytes,
          rowChunks: blocksPerRow * chunk.perBlock,
          xStride4: inputStride / 4,
          yStride: outputStride,
          maxT: o.maxTokens,
          cols: o.cols,
          fuse,
        });
        const uniform = createUniformBuffer(ctx, params, `${w.name}#${i}:part`);
        const entries: GPUBindGroupEntry[] = [
          { binding: 0, resource: { buffer: part.buffer } },
          { binding: 1, resource: resourceOf(b.input) },
          { binding: 2, resource: resourceOf(b.output) },
          { binding: 3, resource: { buffer: uniform } },
        ];
        if (dynamicT) entries.push({ binding: 4, resource: resourceOf(b.stepParams!) });
        if (geo.usesW4) entries.push({ binding: 5, resource: { buffer: part.buffer } });
        if (fuse.normIn) entries.push({ binding: 6, resource: resourceOf(b.normWeight!) });
        extra.forEach((ref, j) => entries.push({ binding: 7 + j, resource: resourceOf(ref!) }));
        const group = ctx.device.createBindGroup({
          label: `${op}:${w.name}#${i}`,
          layout: layoutFor(dynamicT).group,
          entries,
        });
        const [gx, gy] = grid(ctx, Math.ceil((fuse.glu ? part.rowCount / 2 : part.rowCount) / rowsPerWg));
        return { group, gx, gy };
      });
      if (covered !== o.rows) throw new ModelFormatError(`weight "${w.name}": parts cover ${covered} of ${o.rows} rows`);
      return {
        // `step` (the values the caller wrote to stepParams) sizes the token tiles to this call's
        // tokens; without it every tile up to maxTokens is dispatched and the idle ones return.
        encode(pass: GPUComputePassEncoder, step?: StepShape) {
          const tiles = dynamicT ? Math.ceil(dispatchTokens(step, o.maxTokens) / tokensPerTile) : tokenTiles;
          pass.setPipeline(pipeline);
          for (const c of calls) {
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(c.gx, c.gy, tiles);
          }
        },
      };
    },
  };
}

/**
 * Checks that weight `w` is the one a kernel was built for (`kernel`: its name in messages): its
 * type and shape, its GPU row size, and a single part when the kernel fuses (split or GLU).
 */
export function checkKernelWeight(
  kernel: string,
  o: { type: GGMLType; rows: number; cols: number },
  w: GpuWeight,
  rowBytes: number,
  fuse: MatmulFusion,
): void {
  const typeName = quantTypeInfo(o.type)?.name ?? String(o.type);
  if (w.type !== o.type || w.rows !== o.rows || w.cols !== o.cols) {
    throw new ModelFormatError(
      `${kernel} for ${typeName} ${o.rows}×${o.cols} cannot run weight "${w.name}" (${quantTypeInfo(w.type)?.name ?? w.type} ${w.rows}×${w.cols})`,
    );
  }
  if (w.rowBytes !== rowBytes)
    throw new ModelFormatError(`weight "${w.name}": rows of ${w.rowBytes} bytes, the ${typeName} kernel expects ${rowBytes}`);
  if ((fuse.glu || fuse.split) && w.parts.length !== 1)
    throw new ModelFormatError(`fused weight "${w.name}" is in ${w.parts.length} parts; a fused kernel takes one`);
}

/**
 * Checks part i of a weight before a kernel binds it: parts cover the rows in order, each at least
 * one row, and its buffer holds its rows at the kernel's row size. Returns the rows covered so far.
 */
export function checkWeightPart(w: GpuWeight, i: number, covered: number, rowBytes: number): number {
  const part = w.parts[i]!;
  if (part.rowStart !== covered || part.rowCount < 1)
    throw new ModelFormatError(`weight "${w.name}": part ${i} starts at row ${part.rowStart}, expected ${covered}`);
  if (part.buffer.size < part.rowCount * rowBytes) {
    throw new ModelFormatError(
      `weight "${w.name}": part ${i} buffer holds ${part.buffer.size} bytes, ${part.rowCount} rows need ${part.rowCount * rowBytes}`,
    );
  }
  return covered + part.rowCount;
}

/**
 * Per-tensor scales of each output segment: the weight's, or each member's of a concatenation
 * (GLU: gate, up; split: q, k, v), which must then be the kernel's outputs or share one scale.
 */
export function fusionScales(w: GpuWeight, fuse: MatmulFusion, rows: number): number[] {
  const entry = getGpuQuantType(w.type);
  const scales = (w.members ?? [w]).map((m) => {
    if (!entry.readTensorParams) return 1;
    if (m.tensorScale === undefined || !Number.isFinite(m.tensorScale))
      throw new ModelFormatError(`${entry.name} weight "${m.name}" has no per-tensor scale`);
    return m.tensorScale;
  });
  if (w.members) {
    const expected = fuse.split ? [...fuse.split] : fuse.glu ? [rows / 2, rows / 2] : undefined;
    const fits = expected
      ? w.members.length === expected.length && w.members.every((m, i) => m.rows === expected[i])
      : scales.every((x) => x === scales[0]);
    if (!fits) throw new ModelFormatError(`weight "${w.name}": its members do not match the kernel's outputs`);
  } else if (fuse.glu || fuse.split) scales.push(scales[0]!, scales[0]!);
  return scales;
}

/** The Part uniform of shaders/common/matmul_io.wgsl for one weight part (rows: output rows). */
export function partParams(p: {
  rows: number;
  outBase: number;
  inBase4: number;
  scales: readonly number[];
  rowBytes: number;
  rowChunks: number;
  xStride4: number;
  yStride: number;
  maxT: number;
  cols: number;
  fuse: MatmulFusion;
}): ArrayBuffer {
  const params = new ArrayBuffer(80);
  const u = new Uint32Array(params);
  const f = new Float32Array(params);
  u[0] = p.rows;
  u[1] = p.outBase;
  u[2] = p.inBase4;
  f[3] = p.scales[0]!;
  f[15] = p.scales[1] ?? 1;
  f[16] = p.scales[2] ?? 1;
  u[4] = p.rowBytes;
  u[5] = p.rowChunks;
  u[6] = p.xStride4;
  u[7] = p.yStride;
  u[8] = p.maxT;
  f[9] = p.fuse.normIn?.eps ?? 0;
  f[10] = 1 / p.cols;
  const split = p.fuse.split;
  if (split) {
    u[11] = split[0];
    u[12] = split[0] + split[1];
    u[13] = split[1];
    u[14] = split[2] ?? 0;
  }
  return params;
}

function resourceOf(ref: BufferRef): GPUBufferBinding {
  return isGpuBuffer(ref) ? { buffer: ref } : ref;
}

/** The options' fusions, checked against the kernel's shape (RangeError naming the problem). */
export function checkFusion(op: 'matvec' | 'matmul', o: Pick<MatMulOptions, 'rows' | 'fuse'>): MatmulFusion {
  const fuse = o.fuse ?? {};
  if (fuse.normIn) {
    if (op !== 'matvec') throw new RangeError('mat-mul: fuse.normIn is for mat-vec only (prefill keeps its norm kernel)');
    const eps = fuse.normIn.eps;
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`mat-vec: fuse.normIn.eps must be a finite number ≥ 0, got ${eps}`);
  }
  if (fuse.glu !== undefined) {
    if (!['silu', 'gelu', 'relu2'].includes(fuse.glu)) throw new RangeError(`mat-vec: unknown fuse.glu activation '${String(fuse.glu)}'`);
    if (o.rows % 2) throw new RangeError(`mat-vec: fuse.glu needs [gate; up] rows, an even count, got ${o.rows}`);
  }
  if (fuse.split) {
    const counts: readonly number[] = fuse.split;
    const total = counts.reduce((a, b) => a + b, 0);
    if (counts.length < 2 || counts.length > 3 || !counts.every((n) => Number.isSafeInteger(n) && n >= 1) || total !== o.rows)
      throw new RangeError(`mat-vec: fuse.split [${counts.join(', ')}] must be two or three positive row counts adding up to ${o.rows}`);
  }
  const combined = Number(fuse.glu !== undefined) + Number(fuse.split !== undefined) + Number(fuse.addOut === true);
  if (combined > 1) throw new RangeError('mat-vec: fuse.glu, fuse.split and fuse.addOut exclude one another');
  return fuse;
}

/** Decode mat-vec y = W·x for one token. */
export function createMatVec(ctx: GpuContext, options: MatVecOptions): MatmulKernel {
  return createKernel(ctx, 'matvec', { ...options, maxTokens: 1 });
}

/** Prefill mat-mul: Y[t] = W·X[t] for up to maxTokens tokens. */
export function createMatMul(ctx: GpuContext, options: MatMulOptions): MatmulKernel {
  return createKernel(ctx, 'matmul', options);
}
