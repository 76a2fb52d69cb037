/**
 * Kernel benchmark (not a test): fused dequant mat-vec and mat-mul for every weight type, against
 * a plain read-every-byte kernel on the same device in the same run.
 *
 *   npm run bench:kernels                  markdown table
 *   npm run bench:kernels -- --json        one JSON object on stdout
 *   options: --rows N --cols N (mat-vec shape, default 2048×2048), --mm-rows/--mm-cols/--tokens
 *            (mat-mul, default 1024×1024×32), --types Q4_0,TQ2_0, --no-matmul,
 *            --layout (unaligned types again with aligned loads: what a repack could gain),
 *            --variants / --mm-variants (also the non-default work splits), --min-ms N
 *
 * Times are wall-clock per call from many calls in one submission (bench/lib/gpu-timing.ts).
 * Weights are a 16-row tile, repeated, from the tests' weight maker (test/kernels/matmul-helpers.ts):
 * real quantizer output where src/quant has a quantizer, so scales and codes are realistic; random
 * valid blocks for the types lowbit only reads (the IQ types). GB/s counts weight bytes only
 * (activations are small and cached).
 */
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { requestNodeGpu } from '../src/gpu/device-node.ts';
import { uploadWeight } from '../src/gpu/weights.ts';
import { createMatMul, createMatVec, type MatmulVariant } from '../src/kernels/matmul.ts';
import { createStepParams } from '../src/kernels/step-params.ts';
import { gpuBlockGeometry } from '../src/quant/gpu-decoders.ts';
import { getGpuQuantType, gpuQuantTypes } from '../src/quant/table.ts';
import { GGMLType } from '../src/quant/types.ts';
import { makeWeight, randomValues } from '../test/kernels/matmul-helpers.ts';
import { timeGpu } from './lib/gpu-timing.ts';
import { measureReadKernel } from './lib/read-kernel.ts';
import { fmt, markdownTable } from './lib/table.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rows: { type: 'string', default: '2048' },
    cols: { type: 'string', default: '2048' },
    'mm-rows': { type: 'string', default: '1024' },
    'mm-cols': { type: 'string', default: '1024' },
    tokens: { type: 'string', default: '32' },
    types: { type: 'string' },
    'no-matmul': { type: 'boolean', default: false },
    layout: { type: 'boolean', default: false },
    variants: { type: 'boolean', default: false },
    'mm-variants': { type: 'boolean', default: false },
    'min-ms': { type: 'string', default: '150' },
  },
});

/** Alternatives --variants measures next to the default. */
const VARIANTS: Partial<MatmulVariant>[] = [
  { mode: 'subgroup-row', rowsPerThread: 1 },
  { mode: 'subgroup-row', rowsPerThread: 2 },
  { mode: 'thread-row', rowsPerThread: 1, shareInput: false },
  { mode: 'thread-row', rowsPerThread: 4, shareInput: false },
  { mode: 'thread-row', rowsPerThread: 2, shareInput: true },
  { mode: 'thread-row', rowsPerThread: 8, shareInput: true },
  { mode: 'workgroup-row', threadsPerRow: 8, workgroupSize: 64 },
];

const MM_VARIANTS: Partial<MatmulVariant>[] = [
  { mode: 'subgroup-row', tokensPerThread: 8 },
  { mode: 'thread-row', rowsPerThread: 1, tokensPerThread: 8, shareInput: true },
  { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 2, shareInput: true },
  { mode: 'thread-row', rowsPerThread: 4, tokensPerThread: 4, shareInput: true },
  { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 8, shareInput: false },
];

const timing = { minBatchMs: Number(args['min-ms']), repeats: 3 };

/** GGUF bytes of a rows×cols tensor: a 16-row tile (quantized, or random blocks), repeated. */
function weightBytes(type: GGMLType, rows: number, cols: number): Uint8Array {
  const tileRows = Math.min(16, rows);
  const tile = makeWeight(type, tileRows, cols, 7).bytes;
  const entry = getGpuQuantType(type);
  const rowBytes = entry.rowBytes(cols);
  const trailer = entry.trailerBytes;
  const out = new Uint8Array(rows * rowBytes + trailer);
  for (let r = 0; r < rows; r += tileRows) out.set(tile.subarray(0, Math.min(tileRows, rows - r) * rowBytes), r * rowBytes);
  out.set(tile.subarray(tileRows * rowBytes, tileRows * rowBytes + trailer), rows * rowBytes);
  return out;
}

interface KernelRow {
  op: 'matvec' | 'matmul';
  type: string;
  rows: number;
  cols: number;
  tokens: number;
  msPerCall: number;
  gbPerSec: number;
  rooflineRatio: number;
  weightsPerSec: number;
  variant: string;
}

function variantLabel(v: MatmulVariant, aligned: boolean): string {
  const mode =
    v.mode === 'thread-row'
      ? `thread-row${v.shareInput ? '+shareX' : ''}`
      : v.mode === 'workgroup-row'
        ? `workgroup-row/${v.threadsPerRow}`
        : v.mode;
  return `${mode} rr${v.rowsPerThread} wg${v.workgroupSize}${v.tokensPerThread > 1 ? ` tt${v.tokensPerThread}` : ''}${aligned ? ' ALIGNED-PROBE' : ''}`;
}

async function benchOne(
  ctx: GpuContext,
  op: 'matvec' | 'matmul',
  type: GGMLType,
  rows: number,
  cols: number,
  tokens: number,
  readGbPerSec: number,
  extra: { variant?: Partial<MatmulVariant>; assumeAligned?: boolean } = {},
): Promise<KernelRow> {
  const bytes = weightBytes(type, rows, cols);
  const weight = uploadWeight(ctx, `bench:${GGMLType[type]}`, type, rows, cols, bytes);
  const input = createStorageBuffer(ctx, randomValues(tokens * cols, 3));
  const output = createStorageBuffer(ctx, tokens * rows * 4);
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: tokens });
  try {
    const kernel =
      op === 'matvec'
        ? createMatVec(ctx, { type, rows, cols, variant: extra.variant, assumeAligned: extra.assumeAligned })
        : createMatMul(ctx, { type, rows, cols, maxTokens: tokens, variant: extra.variant, assumeAligned: extra.assumeAligned });
    const call = kernel.bind({ weight, input, output, stepParams: op === 'matmul' ? stepParams : undefined });
    const t = await timeGpu(ctx, (pass) => call.encode(pass), timing);
    const weightBytesRead = rows * getGpuQuantType(type).rowBytes(cols);
    const gbPerSec = weightBytesRead / (t.msPerCall * 1e6);
    return {
      op,
      type: GGMLType[type]!,
      rows,
      cols,
      tokens,
      msPerCall: t.msPerCall,
      gbPerSec,
      rooflineRatio: gbPerSec / readGbPerSec,
      weightsPerSec: (rows * cols) / (t.msPerCall / 1000),
      variant: variantLabel(kernel.variant, Boolean(extra.assumeAligned)),
    };
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    input.destroy();
    output.destroy();
    stepParams.destroy();
  }
}

async function main(): Promise<void> {
  const ctx = await requestNodeGpu({ warn: null });
  const log = (s: string) => (args.json ? process.stderr.write(`${s}\n`) : console.log(s));
  try {
    const rows = Number(args.rows);
    const cols = Number(args.cols);
    const mmRows = Number(args['mm-rows']);
    const mmCols = Number(args['mm-cols']);
    const tokens = Number(args.tokens);
    const types = args.types
      ? args.types.split(',').map((n) => {
          const t = GGMLType[n.trim().toUpperCase() as keyof typeof GGMLType];
          if (t === undefined) throw new Error(`--types: unknown type ${n}`);
          return t;
        })
      : gpuQuantTypes().map((t) => t.id);

    const read = await measureReadKernel(ctx, rows * cols, timing);
    log(
      `read kernel: ${fmt(read.gbPerSec)} GB/s over ${rows * cols} bytes (best of ${read.tried.length} shapes: wg${read.best.workgroupSize}, ${read.best.wordsPerThread} vec4/thread, ${read.best.contiguous ? 'contiguous' : 'interleaved'})`,
    );

    const results: KernelRow[] = [];
    const push = (r: KernelRow) => {
      results.push(r);
      log(
        `${r.op} ${r.type} ${r.rows}x${r.cols}x${r.tokens} ${r.variant}: ${fmt(r.msPerCall)} ms, ${fmt(r.gbPerSec)} GB/s, ${fmt(r.rooflineRatio, 2)} of read`,
      );
    };
    for (const type of types) {
      push(await benchOne(ctx, 'matvec', type, rows, cols, 1, read.gbPerSec));
      if (args.variants) {
        for (const variant of VARIANTS.filter((v) => ctx.hasSubgroups || !(v.mode === 'subgroup-row' || v.shareInput))) {
          push(await benchOne(ctx, 'matvec', type, rows, cols, 1, read.gbPerSec, { variant }));
        }
      }
      const entry = getGpuQuantType(type);
      if (args.layout && !gpuBlockGeometry(entry.layout, entry.gpu, cols).aligned) {
        push(await benchOne(ctx, 'matvec', type, rows, cols, 1, read.gbPerSec, { assumeAligned: true }));
      }
    }
    if (!args['no-matmul']) {
      for (const type of types) {
        push(await benchOne(ctx, 'matmul', type, mmRows, mmCols, tokens, read.gbPerSec));
        if (args['mm-variants']) {
          for (const variant of MM_VARIANTS.filter((v) => ctx.hasSubgroups || !(v.mode === 'subgroup-row' || v.shareInput))) {
            push(await benchOne(ctx, 'matmul', type, mmRows, mmCols, tokens, read.gbPerSec, { variant }));
          }
        }
      }
    }

    // The first (default-variant) Q4_0 row of each op: the baseline of the "vs Q4_0" column.
    const q40ByOp = new Map<string, KernelRow>();
    for (const r of results) if (r.type === 'Q4_0' && !q40ByOp.has(r.op)) q40ByOp.set(r.op, r);
    const q40 = q40ByOp.get('matvec');
    const device = {
      ...ctx.adapterInfo,
      hasSubgroups: ctx.hasSubgroups,
      hasF16: ctx.hasF16,
      subgroupMinSize: ctx.subgroupMinSize,
      subgroupMaxSize: ctx.subgroupMaxSize,
      isSoftware: ctx.isSoftware,
    };
    if (args.json) {
      const kernels = results.map(({ variant, ...r }) => ({ ...r, variant }));
      process.stdout.write(`${JSON.stringify({ device, kernels, readKernelGbPerSec: read.gbPerSec })}\n`);
      return;
    }
    console.log(
      `\n## Kernel benchmark — ${device.description || device.vendor} (${ctx.isSoftware ? 'software' : 'hardware'}; subgroups ${ctx.hasSubgroups ? `${ctx.subgroupMinSize}–${ctx.subgroupMaxSize}` : 'no'}, shader-f16 ${ctx.hasF16 ? 'yes' : 'no'})\n`,
    );
    console.log(`Read-every-byte kernel: **${fmt(read.gbPerSec)} GB/s**\n`);
    console.log(
      markdownTable(
        ['op', 'type', 'shape', 'variant', 'ms/call', 'GB/s', 'of read', 'Gweights/s', 'vs Q4_0'],
        results.map((r) => [
          r.op,
          r.type,
          `${r.rows}×${r.cols}${r.op === 'matmul' ? `×${r.tokens}` : ''}`,
          r.variant,
          fmt(r.msPerCall),
          fmt(r.gbPerSec),
          `${Math.round(r.rooflineRatio * 100)}%`,
          fmt(r.weightsPerSec / 1e9),
          q40ByOp.has(r.op) ? `${fmt(r.weightsPerSec / q40ByOp.get(r.op)!.weightsPerSec, 2)}×` : '',
        ]),
      ),
    );
    // The targets of issue 3: decode mat-vec ≥ 80% of the read kernel for these types, TQ2_0 ≥ 1.8× Q4_0 weights/s.
    const plain = (t: string) => results.find((r) => r.op === 'matvec' && r.type === t && !r.variant.includes('PROBE'));
    const lines = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K', 'TQ2_0', 'TQ1_0', 'I2_S']
      .map((t) => plain(t))
      .filter((r): r is KernelRow => r !== undefined)
      .map((r) => `${r.type} ${Math.round(r.rooflineRatio * 100)}%`);
    if (lines.length) console.log(`\nMat-vec share of the read kernel's bandwidth (target ≥ 80%): ${lines.join(', ')}`);
    const tq2 = plain('TQ2_0');
    if (tq2 && q40) console.log(`TQ2_0 weights/s ÷ Q4_0 weights/s (target ≥ 1.8): ${fmt(tq2.weightsPerSec / q40.weightsPerSec, 2)}`);
  } finally {
    await ctx.device.queue.onSubmittedWorkDone();
    ctx.device.destroy();
  }
}

await main();
