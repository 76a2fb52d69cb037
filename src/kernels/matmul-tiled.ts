/**
 * Tile shapes of the tiled GEMM (shaders/matmul_tiled.wgsl), the prefill mat-mul: which shapes a
 * device can run, and the one it runs by default. src/kernels/matmul.ts builds the kernel (mode
 * 'tiled' of its variants); this file only decides shapes, so an autotuner can time
 * {@link gemmTileCandidates} on the device and pass its pick as the variant.
 *
 * A tile is rowThreads × tokenThreads threads, each owning rowsPerThread rows × tokensPerThread
 * tokens of outputs in registers. Either the workgroup stages one decoder chunk of input for all
 * its tokens in workgroup memory (tokensPerThread · tokenThreads · chunkVec4s · 16 bytes), or
 * every thread reads its tokens' input from global memory (stageInput false: software devices).
 */
import type { GpuContext } from '../gpu/device.ts';

export interface GemmTile {
  /** Threads along the rows (each owning rowsPerThread rows). */
  rowThreads: number;
  /** Threads along the tokens (each owning tokensPerThread tokens); 1 decodes each weight once per workgroup. */
  tokenThreads: number;
  rowsPerThread: number;
  tokensPerThread: number;
  /**
   * Lanes of a subgroup read the staged input together and pass it round with subgroupBroadcast
   * (one token thread and a fixed subgroup size only): software devices, where every lane's read
   * is a separate gather.
   */
  shareInput: boolean;
  /**
   * The workgroup stages each chunk's input in workgroup memory (true), or every thread reads it
   * from global memory (false: no workgroup memory and no barriers).
   */
  stageInput: boolean;
}

/** Rows (BM) and tokens (BN) one workgroup computes. */
export function gemmTileSize(t: GemmTile): { rows: number; tokens: number; threads: number } {
  return { rows: t.rowThreads * t.rowsPerThread, tokens: t.tokenThreads * t.tokensPerThread, threads: t.rowThreads * t.tokenThreads };
}

/**
 * Workgroup memory a tile needs when it stages `stagedVec4s` 16-byte words of input per token and
 * chunk: the decoder's chunkVec4s for the f32 GEMM, NXB activation blocks' staged words for the
 * int8 GEMM (src/kernels/matmul-q8.ts). None when it reads its input from global memory.
 */
export function gemmTileStorageBytes(t: GemmTile, stagedVec4s: number): number {
  return t.stageInput ? gemmTileSize(t).tokens * stagedVec4s * 16 : 0;
}

/**
 * Every shape the selector may pick, software-device shapes first then GPU ones, before the
 * device's limits are applied; {@link gemmTileCandidates} also drops the ones that unroll too much
 * for the type's chunk (MAX_UNROLLED_VEC4S: large tiles are for 8-vec4 chunks only).
 */
const TILE_SHAPES: readonly Omit<GemmTile, 'shareInput'>[] = [
  // Software devices (a workgroup is a loop over SIMD lanes on one core, a lane's read a gather):
  // 16 threads, one token thread, so the subgroup shares each input read (shareInput); the more
  // rows × tokens per thread, the fewer reads per multiply-add. The input is read straight from
  // global memory: there a workgroup-memory read costs several times a storage read
  // (bench/probes/swiftshader-loads.ts), and with one token thread staging saves no global reads
  // that the subgroup's sharing does not already save (measured with bench/kernels.ts
  // --mm-variants).
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 16, stageInput: false },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 8, tokensPerThread: 8, stageInput: false },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 8, stageInput: false },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 2, tokensPerThread: 16, stageInput: false },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 4, stageInput: false },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 2, tokensPerThread: 8, stageInput: false },
  // The same with the input staged in workgroup memory, the previous software default.
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 8, stageInput: true },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 16, stageInput: true },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 8, tokensPerThread: 8, stageInput: true },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 2, tokensPerThread: 16, stageInput: true },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 4, tokensPerThread: 4, stageInput: true },
  { rowThreads: 16, tokenThreads: 1, rowsPerThread: 2, tokensPerThread: 8, stageInput: true },
  { rowThreads: 8, tokenThreads: 2, rowsPerThread: 4, tokensPerThread: 8, stageInput: true },
  // GPUs: 64–256 threads, several token threads sharing each staged chunk.
  { rowThreads: 16, tokenThreads: 4, rowsPerThread: 4, tokensPerThread: 4, stageInput: true },
  { rowThreads: 32, tokenThreads: 2, rowsPerThread: 2, tokensPerThread: 8, stageInput: true },
  { rowThreads: 32, tokenThreads: 4, rowsPerThread: 2, tokensPerThread: 4, stageInput: true },
  { rowThreads: 64, tokenThreads: 4, rowsPerThread: 1, tokensPerThread: 4, stageInput: true },
];

/**
 * Multiply-adds of vec4s one thread unrolls per chunk (rowsPerThread × tokensPerThread ×
 * chunkVec4s). The kernel body is straight-line code of that many statements, and pipeline
 * compile time grows with it: on SwiftShader, with TQ2_0's 32-vec4 chunks (before its GEMM
 * decoded 8-vec4 ones, gpu-decoders.ts gemmChunkVec4s), a tile of 4 rows × 16 tokens (2048) took
 * 1.75× as long to compile as 4 × 8 (1024), and 4 × 4 (512) half as long again, at model load.
 */
const MAX_UNROLLED_VEC4S = 512;

/**
 * The tile shapes this device can run for a decoder with `chunkVec4s`-vec4 chunks (the unrolled
 * work per row and token), staging `stagedVec4s` words per token and chunk, default first.
 * `rowsPerOutput` is 2 for a GLU mat-mul, whose threads decode a gate and an up row per output
 * row: every shape then has half the rows, so it unrolls as much as the plain shape and does as
 * many multiply-adds per input read (bench/probes/glu-tiles.ts).
 */
export function gemmTileCandidates(ctx: GpuContext, chunkVec4s: number, stagedVec4s = chunkVec4s, rowsPerOutput: 1 | 2 = 1): GemmTile[] {
  const fits = (t: GemmTile) => {
    const { threads } = gemmTileSize(t);
    return (
      threads <= ctx.limits.maxComputeInvocationsPerWorkgroup &&
      threads <= ctx.limits.maxComputeWorkgroupSizeX &&
      gemmTileStorageBytes(t, stagedVec4s) <= ctx.limits.maxComputeWorkgroupStorageSize &&
      rowsPerOutput * t.rowsPerThread * t.tokensPerThread * chunkVec4s <= Math.max(MAX_UNROLLED_VEC4S, rowsPerOutput * chunkVec4s)
    );
  };
  const fixedSubgroup = ctx.hasSubgroups && ctx.subgroupMinSize > 0 && ctx.subgroupMinSize === ctx.subgroupMaxSize;
  const sg = ctx.subgroupMinSize;
  const shapes = TILE_SHAPES.filter((t) => t.rowsPerThread % rowsPerOutput === 0).map((t) => ({
    ...t,
    rowsPerThread: t.rowsPerThread / rowsPerOutput,
  }));
  const all = shapes
    .map((t) => ({
      ...t,
      shareInput:
        ctx.isSoftware && fixedSubgroup && t.tokenThreads === 1 && chunkVec4s % sg === 0 && (t.rowThreads * t.tokenThreads) % sg === 0,
    }))
    .filter(fits);
  const preferred = ctx.isSoftware
    ? all.filter((t) => t.rowThreads * t.tokenThreads <= 16)
    : all.filter((t) => t.rowThreads * t.tokenThreads > 16);
  const rest = all.filter((t) => !preferred.includes(t));
  const ordered = [...preferred, ...rest];
  if (ordered.length === 0) {
    // Every device allows 1 thread and a chunk of staged input for one token (≥ 16 KiB storage).
    ordered.push({ rowThreads: 1, tokenThreads: 1, rowsPerThread: 1, tokensPerThread: 1, shareInput: false, stageInput: true });
  }
  return ordered;
}

/** The tile the prefill GEMM uses on this device for this decoder (the first candidate). */
export function defaultGemmTile(ctx: GpuContext, chunkVec4s: number, rowsPerOutput: 1 | 2 = 1): GemmTile {
  return gemmTileCandidates(ctx, chunkVec4s, chunkVec4s, rowsPerOutput)[0]!;
}
