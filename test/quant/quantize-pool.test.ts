// The transport-agnostic quantizer pool (Node worker threads and Web Workers both use it), over
// in-process fake workers: jobs spread over the workers, each reply reaches its job, failures
// reject with QuantizeError.
import { describe, expect, it } from 'vitest';
import { QuantizeError } from '../../src/errors.ts';
import { defaultBrowserWorkers } from '../../src/quant/browser-quantize-pool.ts';
import { runQuantizeJob } from '../../src/quant/quantize-job.ts';
import { answerQuantizeJob, QuantizeWorkerPool, type QuantizeReply } from '../../src/quant/quantize-pool.ts';
import { GGMLType } from '../../src/quant/types.ts';

/** A pool of `n` fake workers that answer asynchronously, in reverse order of arrival per tick. */
function fakePool(n: number, crashOn?: number) {
  const seen: number[] = [];
  let crash: ((e: Error) => void) | undefined;
  const pool = new QuantizeWorkerPool(n, (onReply, onError) => {
    crash = onError;
    const index = seen.length;
    seen.push(0);
    return {
      postMessage(m, transfer) {
        seen[index]!++;
        expect(transfer).toEqual([m.values.buffer]);
        if (crashOn !== undefined && m.id === crashOn) {
          setTimeout(() => crash!(new Error('worker died')), 0);
          return;
        }
        setTimeout(() => onReply(answerQuantizeJob(m).reply as QuantizeReply), 1);
      },
      terminate() {},
    };
  });
  return { pool, seen };
}

function values(seed: number, n = 256): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 31 + i) * 3);
}

describe('quantizer pool', () => {
  it('spreads jobs over its workers and gives each job its own bytes', async () => {
    const { pool, seen } = fakePool(3);
    expect(pool.parallelism).toBe(3);
    const jobs = Array.from({ length: 9 }, (_, i) => values(i));
    const expected = jobs.map((v) => runQuantizeJob({ type: GGMLType.Q4_K, values: v.slice() }).bytes);
    const results = await Promise.all(jobs.map((v) => pool.run({ type: GGMLType.Q4_K, values: v })));
    results.forEach((r, i) => expect([...r.bytes]).toEqual([...expected[i]!]));
    expect(seen.every((n) => n > 0)).toBe(true);
  });

  it('copies a view into a larger buffer before transferring it', async () => {
    const { pool } = fakePool(1);
    const big = values(7, 512);
    const r = await pool.run({ type: GGMLType.Q8_0, values: big.subarray(256) });
    expect([...r.bytes]).toEqual([...runQuantizeJob({ type: GGMLType.Q8_0, values: big.slice(256) }).bytes]);
    expect(big.length).toBe(512);
  });

  it('a job the worker cannot do rejects with QuantizeError; a crashed worker fails the pool', async () => {
    const { pool } = fakePool(1);
    await expect(pool.run({ type: 9999, values: values(1) })).rejects.toThrow(QuantizeError);
    const crashing = fakePool(1, 0).pool;
    await expect(crashing.run({ type: GGMLType.Q8_0, values: values(2) })).rejects.toThrow('worker died');
    await expect(crashing.run({ type: GGMLType.Q8_0, values: values(3) })).rejects.toThrow('worker died');
    await pool.close();
    await expect(pool.run({ type: GGMLType.Q8_0, values: values(4) })).rejects.toThrow(/closed/);
  });

  it("uses the browser's core count, within reason", () => {
    expect(defaultBrowserWorkers(8)).toBe(8);
    expect(defaultBrowserWorkers(128)).toBe(16);
    expect(defaultBrowserWorkers(undefined)).toBe(2);
    expect(defaultBrowserWorkers(0)).toBe(2);
    expect(defaultBrowserWorkers(2.5)).toBe(2);
  });
});
