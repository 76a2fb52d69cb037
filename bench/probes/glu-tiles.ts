/**
 * Which GEMM tile suits a gate·up (GLU) mat-mul: every unstaged tile that fits twice the chunk's
 * unrolled work, timed interleaved on a [gate; up] weight, next to the device's default tile for
 * it. A GLU thread decodes a gate and an up row per output row, so a tile of R rows decodes 2R.
 *
 *   node --import ./src/node/register.js bench/probes/glu-tiles.ts [--types Q4_0,Q4_K,Q6_K,TQ2_0]
 *     [--rows 768] [--cols 256] [--tokens 128] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { createStorageBuffer } from '../../src/gpu/buffers.ts';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import { timeInterleaved } from '../../src/gpu/timing.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMul, type MatmulVariant, tiledVariant } from '../../src/kernels/matmul.ts';
import { createStepParams } from '../../src/kernels/step-params.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { spread } from '../../src/stats.ts';
import { makeWeight, randomValues } from '../../test/kernels/matmul-helpers.ts';

const { values: args } = parseArgs({
  options: {
    types: { type: 'string', default: 'Q4_0,Q4_K,Q6_K,TQ2_0' },
    rows: { type: 'string', default: '768' },
    cols: { type: 'string', default: '256' },
    tokens: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
  },
});
const int = (name: string, v: string, lo: number, hi: number) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new RangeError(`--${name}: ${lo}–${hi}, got ${v}`);
  return n;
};
const rows = int('rows', args.rows, 1, 65536);
const cols = int('cols', args.cols, 32, 65536);
const tokens = int('tokens', args.tokens, 2, 4096);
const rounds = int('rounds', args.rounds, 1, 50);
const types = args.types.split(',').map((name) => {
  const t = GGMLType[name as keyof typeof GGMLType];
  if (t === undefined) throw new RangeError(`--types: unknown type ${name}`);
  return t;
});

const ctx = await requestNodeGpu({ warn: null });
const SHAPES = [
  [4, 8],
  [2, 16],
  [4, 4],
  [2, 8],
  [2, 4],
  [1, 16],
] as const;
for (const type of types) {
  const w = makeWeight(type, 2 * rows, cols, 1);
  const weight = uploadWeight(ctx, `glu:${GGMLType[type]}`, type, 2 * rows, cols, w.bytes);
  const input = createStorageBuffer(ctx, randomValues(tokens * cols, 3));
  const output = createStorageBuffer(ctx, tokens * rows * 4);
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: tokens });
  const kernels: { label: string; encode: (p: GPUComputePassEncoder) => void }[] = [];
  const add = (label: string, variant?: Partial<MatmulVariant>) => {
    try {
      const k = createMatMul(ctx, { type, rows: 2 * rows, cols, maxTokens: tokens, fuse: { glu: 'silu' }, variant });
      const call = k.bind({ weight, input, output, stepParams });
      kernels.push({ label: `${label} (${k.variant.rowsPerThread}×${k.variant.tokensPerThread})`, encode: (p) => call.encode(p) });
    } catch (e) {
      console.log(`${GGMLType[type]} ${label}: ${(e as Error).message}`);
    }
  };
  add('default');
  for (const [r, t] of SHAPES) {
    add(
      `unstaged`,
      tiledVariant({ rowThreads: 16, tokenThreads: 1, rowsPerThread: r, tokensPerThread: t, shareInput: true, stageInput: false }),
    );
  }
  const timed = await timeInterleaved(
    ctx,
    kernels.map((k) => k.encode),
    { rounds },
  );
  const base = timed.msPerCall[0]!;
  console.log(
    `\n${GGMLType[type]} GLU ${rows} (×2) × ${cols} × ${tokens} tokens, ms per call, median of ${rounds} rounds (min–max), ÷ default per round`,
  );
  kernels.forEach((k, i) => {
    const s = spread(timed.msPerCall[i]!);
    const r = spread(timed.msPerCall[i]!.map((ms, j) => ms / base[j]!));
    console.log(
      `${k.label.padEnd(26)} ${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})  ×${r.median.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)})`,
    );
  });
  for (const p of weight.parts) p.buffer.destroy();
  input.destroy();
  output.destroy();
  stepParams.destroy();
}
ctx.device.destroy();
