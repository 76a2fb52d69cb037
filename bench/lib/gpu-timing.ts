/**
 * GPU timing shared by the benchmarks: many calls of one encoded workload in a single submission,
 * timed on the CPU clock around submit → onSubmittedWorkDone (SwiftShader and most browsers offer
 * no timestamp queries; with ~13 µs per submit, batching makes the submit cost negligible).
 * The batch grows until one submission takes at least `minBatchMs`; the result is the median of
 * `repeats` such batches after a warm-up batch.
 */
import type { GpuContext } from '../../src/gpu/device.ts';

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

/** `encode` records one call into the pass (pipelines and bind groups already built). */
export async function timeGpu(
  ctx: GpuContext,
  encode: (pass: GPUComputePassEncoder) => void,
  options: TimingOptions = {},
): Promise<Timing> {
  const minBatchMs = options.minBatchMs ?? 150;
  const repeats = options.repeats ?? 3;
  const maxCalls = options.maxCalls ?? 4096;
  const run = async (calls: number): Promise<number> => {
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < calls; i++) encode(pass);
    pass.end();
    const cmd = enc.finish();
    const t0 = performance.now();
    ctx.device.queue.submit([cmd]);
    await ctx.device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await run(1); // warm-up: first use compiles the pipeline in SwiftShader
  let calls = 1;
  let ms = await run(calls);
  while (ms < minBatchMs && calls < maxCalls) {
    calls = Math.min(maxCalls, Math.max(calls * 2, Math.ceil((calls * minBatchMs * 1.2) / Math.max(ms, 0.01))));
    ms = await run(calls);
  }
  const samples = [ms / calls];
  for (let i = 1; i < repeats; i++) samples.push((await run(calls)) / calls);
  const sorted = [...samples].sort((a, b) => a - b);
  return { msPerCall: sorted[Math.floor(sorted.length / 2)]!, callsPerBatch: calls, samples };
}
