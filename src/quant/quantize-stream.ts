/**
 * Streaming quantization of one tensor: f32 row chunks in, the target type's bytes out in the same
 * order, with at most `parallelism × 2` chunks in flight so memory stays bounded whatever the
 * tensor's size. Where the jobs run (worker threads, Web Workers, this thread) is the runner's
 * business.
 */
import { i2sTrailer } from './cpu/ternary.ts';
import { runQuantizeJob, type JobImportance, type QuantizeJob, type QuantizeResult } from './quantize-job.ts';
import { GGMLType } from './types.ts';

export interface QuantizeRunner {
  /** Jobs that can usefully run at once. */
  readonly parallelism: number;
  /** May take ownership of the job's values (a worker pool transfers, and so detaches, their buffer). */
  run(job: QuantizeJob): Promise<QuantizeResult>;
}

/** Runs every job on the calling thread (tests, tiny tensors, hosts without workers). */
export const inlineRunner: QuantizeRunner = {
  parallelism: 1,
  run: async (job) => runQuantizeJob(job),
};

/**
 * The quantized bytes of a tensor whose rows arrive as `rows` (chunks of whole rows). Yields in
 * order; per-tensor trailers (I2_S's scale) come last. With `importance` (the tensor's imatrix
 * weights), each job carries them with the index of its first row.
 */
export async function* quantizeRowChunks(
  rows: AsyncIterable<Float32Array> | Iterable<Float32Array>,
  type: number,
  runner: QuantizeRunner,
  onValues?: (count: number) => void,
  importance?: Omit<JobImportance, 'firstRow'>,
): AsyncGenerator<Uint8Array> {
  const inFlight: { count: number; result: Promise<QuantizeResult> }[] = [];
  const depth = Math.max(1, runner.parallelism * 2);
  let absMax = 0;
  const settle = async () => {
    const head = inFlight.shift()!;
    const r = await head.result;
    if (r.absMax > absMax) absMax = r.absMax;
    onValues?.(head.count);
    return r.bytes;
  };
  try {
    let firstRow = 0;
    for await (const values of rows) {
      const job: QuantizeJob = importance ? { type, values, importance: { ...importance, firstRow } } : { type, values };
      if (importance) firstRow += values.length / importance.rowLength;
      const result = runner.run(job);
      // An early failure must not surface as an unhandled rejection while older jobs are awaited.
      result.catch(() => {});
      inFlight.push({ count: values.length, result });
      if (inFlight.length >= depth) yield await settle();
    }
    while (inFlight.length > 0) yield await settle();
  } finally {
    // Abandoned (consumer stopped or a job failed): let the remaining jobs finish unobserved.
    inFlight.length = 0;
  }
  if (type === GGMLType.I2_S) yield i2sTrailer(absMax);
}
