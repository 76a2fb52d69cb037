/**
 * `npm run bench -- --quantize`: values per second of each quantizer, on this thread and through
 * the worker pool (all cores), plus whole mixtures (Q4_K_M and Q8_0 of a Llama-3.2-1B-shaped
 * layer, i.e. the per-tensor types llama-quantize would pick), with and without importance weights
 * (the imatrix path, `lowbit quantize --imatrix`). Rounds are interleaved (every row
 * once per round), so a busy machine slows all rows alike; each cell is the median over rounds
 * with its min–max spread. Beside wall-clock values/s each row has values per CPU-second (this
 * process's CPU time, all threads): on a shared machine that rate holds while the wall-clock one
 * drops with the load, and through the pool it shows what the transport costs on top of the work.
 */
import { availableParallelism } from 'node:os';
import { fileTypeByName, planMixture } from '../../src/quant/mixture.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { inlineRunner, quantizeRowChunks, type QuantizeRunner } from '../../src/quant/quantize-stream.ts';
import { quantTypeInfo } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { rng } from '../../test/helpers/random.ts';
import { spread, type Spread } from '../../src/stats.ts';
import { fmt, markdownTable } from './table.ts';

const SINGLE_TYPES = ['Q8_0', 'Q6_K', 'Q5_K', 'Q4_K', 'Q3_K', 'Q2_K', 'Q5_0', 'Q4_0', 'Q4_1', 'TQ2_0', 'TQ1_0', 'I2_S'];
const ROW = 2048;
const CHUNK_ROWS = 512; // 1 Mi values per job, as the quantize command uses

/** One tensor to quantize: its rows and target type. */
interface Work {
  type: number;
  rows: number;
  /** Quantize with importance weights (one per column, as an imatrix gives them). */
  weighted?: boolean;
}

interface Row {
  name: string;
  values: number;
  work: Work[];
}

function gaussian(n: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = 0.02 * Math.sqrt(-2 * Math.log(1 - next()));
    const a = 2 * Math.PI * next();
    out[i] = r * Math.cos(a);
    out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** The tensors of one Llama-3.2-1B layer (2048 wide, 8192 FFN, 512 KV) with the mixture's types. */
function layerMix(fileType: string): Work[] {
  const shapes: [string, number][] = [
    ['attn_q', 2048],
    ['attn_k', 512],
    ['attn_v', 512],
    ['attn_output', 2048],
    ['ffn_gate', 8192],
    ['ffn_up', 8192],
  ];
  const tensors = shapes.map(([n, rows]) => ({ name: `blk.0.${n}.weight`, dims: [ROW, rows], type: GGMLType.F32 }));
  // ffn_down is 8192 wide: benchmark it as 4× the rows of a 2048-wide tensor of the same type.
  tensors.push({ name: 'blk.0.ffn_down.weight', dims: [8192, 2048], type: GGMLType.F32 });
  const plan = planMixture({ arch: 'llama', nLayer: 16, nHead: 32, nHeadKv: 8 }, tensors, fileTypeByName(fileType));
  return plan.map((p) => ({ type: p.type, rows: (p.dims[0]! * p.dims[1]!) / ROW }));
}

/** Per-column importance weights of the benchmark's rows: positive, spread over a few decades. */
const IMPORTANCE = gaussian(ROW, 11).map((v) => 1e4 * v * v + 1e-3);

async function runWork(work: Work[], source: Float32Array, runner: QuantizeRunner): Promise<void> {
  for (const w of work) {
    const importance = w.weighted ? { weights: IMPORTANCE, rowLength: ROW, rowsPerMatrix: w.rows } : undefined;
    function* chunks() {
      for (let r = 0; r < w.rows; r += CHUNK_ROWS) {
        const rows = Math.min(CHUNK_ROWS, w.rows - r);
        // A fresh copy per job: the pool takes (detaches) each job's buffer.
        const start = ((r * ROW) % source.length) & ~(ROW - 1);
        yield source.slice(start, start + rows * ROW);
      }
    }
    for await (const bytes of quantizeRowChunks(chunks(), w.type, runner, undefined, importance)) {
      if (bytes.length === 0) throw new Error('empty output');
    }
  }
}

export interface QuantizeBenchResult {
  threads: number;
  rounds: number;
  rows: { name: string; values: number; singleThread: Spread; pool: Spread; singleThreadCpu: Spread; poolCpu: Spread }[];
}

export async function benchQuantize(opts: { rounds: number; threads?: number; log: (s: string) => void }): Promise<QuantizeBenchResult> {
  const threads = opts.threads ?? availableParallelism();
  const source = gaussian(CHUNK_ROWS * ROW * 2, 7);
  const rows: Row[] = [
    ...SINGLE_TYPES.map((name) => ({
      name,
      values: 4 * CHUNK_ROWS * ROW,
      work: [{ type: quantTypeInfo(GGMLType[name as 'Q8_0'])!.id, rows: 4 * CHUNK_ROWS }],
    })),
    ...['Q4_K', 'Q2_K'].map((name) => ({
      name: `${name} + imatrix`,
      values: 4 * CHUNK_ROWS * ROW,
      work: [{ type: quantTypeInfo(GGMLType[name as 'Q4_K'])!.id, rows: 4 * CHUNK_ROWS, weighted: true }],
    })),
    ...['Q4_K_M', 'Q8_0'].map((ft) => {
      const work = layerMix(ft);
      return { name: `${ft} mix (Llama-3.2-1B layer)`, values: work.reduce((n, w) => n + w.rows * ROW, 0), work };
    }),
    (() => {
      const work = layerMix('Q4_K_M').map((w) => ({ ...w, weighted: true }));
      return { name: 'Q4_K_M mix + imatrix', values: work.reduce((n, w) => n + w.rows * ROW, 0), work };
    })(),
  ];
  const pool = new NodeQuantizePool(threads);
  const single = rows.map(() => [] as number[]);
  const parallel = rows.map(() => [] as number[]);
  const singleCpu = rows.map(() => [] as number[]);
  const parallelCpu = rows.map(() => [] as number[]);
  try {
    await runWork([{ type: GGMLType.Q4_K, rows: CHUNK_ROWS * threads }], source, pool); // start the threads, warm the JIT
    for (let round = 0; round < opts.rounds; round++) {
      opts.log(`quantize round ${round + 1}/${opts.rounds} …`);
      for (let i = 0; i < rows.length; i++) {
        for (const [runner, out, outCpu] of [
          [inlineRunner, single, singleCpu],
          [pool, parallel, parallelCpu],
        ] as const) {
          const t0 = performance.now();
          const cpu0 = process.cpuUsage();
          await runWork(rows[i]!.work, source, runner);
          const cpu = process.cpuUsage(cpu0);
          out[i]!.push(rows[i]!.values / ((performance.now() - t0) / 1000));
          outCpu[i]!.push(rows[i]!.values / ((cpu.user + cpu.system) / 1e6));
        }
      }
    }
  } finally {
    await pool.close();
  }
  return {
    threads,
    rounds: opts.rounds,
    rows: rows.map((r, i) => ({
      name: r.name,
      values: r.values,
      singleThread: spread(single[i]!),
      pool: spread(parallel[i]!),
      singleThreadCpu: spread(singleCpu[i]!),
      poolCpu: spread(parallelCpu[i]!),
    })),
  };
}

export function quantizeTable(r: QuantizeBenchResult): string {
  const cell = (s: Spread) => `${fmt(s.median / 1e6, 2)} (${fmt(s.min / 1e6, 2)}–${fmt(s.max / 1e6, 2)})`;
  return markdownTable(
    [
      'type',
      'M values/s, 1 thread',
      `M values/s, ${r.threads} threads`,
      'M values/CPU-s, 1 thread',
      `M values/CPU-s, ${r.threads} threads`,
    ],
    r.rows.map((row) => [row.name, cell(row.singleThread), cell(row.pool), cell(row.singleThreadCpu), cell(row.poolCpu)]),
  );
}
