// How quantizeModel cuts tensors into jobs: tensors are written one after another, so each must
// give every worker of the pool a job, or a model of small tensors runs on one core.
import { describe, expect, it } from 'vitest';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { runQuantizeJob } from '../../src/quant/quantize-job.ts';
import { jobValues, quantizeModel } from '../../src/quant/quantize-model.ts';
import { inlineRunner, type QuantizeRunner } from '../../src/quant/quantize-stream.ts';
import { tinyF32Llama } from './helpers.ts';

/** A one-layer llama of 256-wide tensors, `rows` rows each: every tensor far below one 1 Mi job. */
function smallModel(rows: number) {
  const names = ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.0.attn_v.weight', 'blk.0.ffn_up.weight'];
  return tinyF32Llama(
    5,
    names.map((n): [string, number] => [n, rows]),
    'small.gguf',
  );
}

/** A runner of `parallelism` slots that answers after a delay and records how many jobs overlap. */
function countingRunner(parallelism: number) {
  let inFlight = 0;
  const stats = { jobs: 0, maxInFlight: 0 };
  const runner: QuantizeRunner = {
    parallelism,
    run: async (job) => {
      stats.jobs++;
      stats.maxInFlight = Math.max(stats.maxInFlight, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return runQuantizeJob(job);
    },
  };
  return { runner, stats };
}

describe('quantizeModel job sizes', () => {
  it('splits a tensor smaller than a chunk so that every worker gets a job, and the bytes do not change', async () => {
    const { file, source } = await smallModel(8);
    const fileType = fileTypeByName('Q4_K_M');
    const { runner, stats } = countingRunner(2);
    const pooled = await writeGGUFToBytes(quantizeModel(file, source, { fileType, runner }).spec);
    expect(stats.maxInFlight).toBe(2);
    expect(stats.jobs).toBe(2 * 4); // 4 tensors of 8 rows, each 2 jobs of 4 rows
    expect(pooled).toEqual(await writeGGUFToBytes(quantizeModel(file, source, { fileType, runner: inlineRunner }).spec));
  });

  it('jobValues: whole rows, at most the chunk, one job per worker when the tensor is small', () => {
    const info = (rows: number, width = 256) => ({ dims: [width, rows], nElements: width * rows }) as never;
    expect(jobValues(info(7), 1 << 20, 2)).toBe(4 * 256); // 7 rows over 2 workers: jobs of 4 and 3
    expect(jobValues(info(7), 1 << 20, 1)).toBe(7 * 256);
    expect(jobValues(info(1), 1 << 20, 8)).toBe(256); // never less than a row
    expect(jobValues(info(8192, 2048), 1 << 20, 2)).toBe(1 << 20); // large tensors keep the chunk size
    expect(jobValues(info(10, 4096), 1000, 2)).toBe(1000); // the chunk still caps (rows.ts reads one row then)
  });
});
