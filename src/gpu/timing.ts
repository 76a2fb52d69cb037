/**
 * GPU timing shared by the benchmarks and the autotuner (src/kernels/autotune.ts): many calls of
 * one encoded workload in a single submission, timed on the CPU clock around submit →
 * onSubmittedWorkDone (SwiftShader and most browsers offer no timestamp queries; with ~13 µs per
 * submit, batching makes the submit cost negligible).
 * The batch grows until one submission takes at least `minBatchMs`.
 *
 * Two ways to repeat: `timeGpu` times one workload `repeats` times in a row (its median);
 * `timeInterleaved` times several workloads round-robin, one batch each per round, so that load
 * drifting on a shared machine hits every workload of a round alike and a ratio of two workloads
 * taken within one round cancels most of it.
 */
import type { GpuContext } from './device.ts';

export interface TimingOptions {
  /** Smallest wall time of one measured submission (default 150 ms). */
  minBatchMs?: number;
  /** Measured submissions (default 3; the median is reported). */
  repeats?: number;
  /** Upper bound on calls in one submission (default 4096). */
  maxCalls?: number;
}

export interface Timing {
  msPerCall: number;
  callsPerBatch: number;
  /** ms per call of every measured batch. */
  samples: number[];
}

type Encode = (pass: GPUComputePassEncoder) => void;

/** Wall ms of one submission holding `calls` calls. */
async function runBatch(ctx: GpuContext, encode: Encode, calls: number): Promise<number> {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let i = 0; i < calls; i++) encode(pass);
  pass.end();
  const cmd = enc.finish();
  const t0 = performance.now();
  ctx.device.queue.submit([cmd]);
  await ctx.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** Warms up, then finds the calls per submission that take at least `minBatchMs`; also returns that batch's ms. */
async function calibrate(ctx: GpuContext, encode: Encode, minBatchMs: number, maxCalls: number): Promise<{ calls: number; ms: number }> {
  await runBatch(ctx, encode, 1); // warm-up: first use compiles the pipeline in SwiftShader
  let calls = 1;
  let ms = await runBatch(ctx, encode, calls);
  while (ms < minBatchMs && calls < maxCalls) {
    calls = Math.min(maxCalls, Math.max(calls * 2, Math.ceil((calls * minBatchMs * 1.2) / Math.max(ms, 0.01))));
    ms = await runBatch(ctx, encode, calls);
  }
  return { calls, ms };
}

/** `encode` records one call into the pass (pipelines and bind groups already built). */
export async function timeGpu(ctx: GpuContext, encode: Encode, options: TimingOptions = {}): Promise<Timing> {
  const repeats = options.repeats ?? 3;
  const { calls, ms } = await calibrate(ctx, encode, options.minBatchMs ?? 150, options.maxCalls ?? 4096);
  const samples = [ms / calls];
  for (let i = 1; i < repeats; i++) samples.push((await runBatch(ctx, encode, calls)) / calls);
  const sorted = [...samples].sort((a, b) => a - b);
  return { msPerCall: sorted[Math.floor(sorted.length / 2)]!, callsPerBatch: calls, samples };
}

export interface InterleavedOptions {
  /** Smallest wall time of one submission (default 150 ms). */
  minBatchMs?: number;
  /** Rounds; each times every workload once (default 5). */
  rounds?: number;
  /** Upper bound on calls in one submission (default 4096). */
  maxCalls?: number;
  /** Called after each round (progress). */
  onRound?: (round: number) => void;
}

export interface InterleavedTiming {
  /** Calls per submission of each workload. */
  callsPerBatch: number[];
  /** msPerCall[w][r]: ms per call of workload w in round r. */
  msPerCall: number[][];
}

/**
 * Times every workload once per round, round-robin. Each round starts one workload later than the
 * previous one, so no workload always runs first (right after the previous round's last one).
 */
export async function timeInterleaved(
  ctx: GpuContext,
  encoders: readonly Encode[],
  options: InterleavedOptions = {},
): Promise<InterleavedTiming> {
  const rounds = options.rounds ?? 5;
  const minBatchMs = options.minBatchMs ?? 150;
  const maxCalls = options.maxCalls ?? 4096;
  const callsPerBatch: number[] = [];
  for (const encode of encoders) callsPerBatch.push((await calibrate(ctx, encode, minBatchMs, maxCalls)).calls);
  const msPerCall: number[][] = encoders.map(() => []);
  const n = encoders.length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) {
      const w = (i + r) % n;
      msPerCall[w]!.push((await runBatch(ctx, encoders[w]!, callsPerBatch[w]!)) / callsPerBatch[w]!);
    }
    options.onRound?.(r);
  }
  return { callsPerBatch, msPerCall };
}
