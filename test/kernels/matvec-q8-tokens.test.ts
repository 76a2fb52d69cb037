// The int8 mat-vec over several tokens (createMatVecQ8's `tokens`: the rows of a batched decode
// step, src/runtime/batch-decode.ts). Each token's outputs must be bit-identical to the one-token
// kernel run on that token alone — so a sequence decodes the same alone or batched — and within the
// f32 summation bound of the CPU reference over the GPU's quantized activations: every int8 type,
// odd row counts, 1–4 tokens, every store (plain, residual add, GLU, Q/K/V split, norm at the
// store, the quantizing store), every reduction mode.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { uploadWeight } from '../../src/gpu/weights.ts';
import type { MatmulFusion, MatmulVariant } from '../../src/kernels/matmul.ts';
import {
  createMatVecQ8,
  createQuantizeQ8,
  hasInt8MatVec,
  type Int8Products,
  MAX_Q8_TOKENS,
  quantizedActivationBytes,
} from '../../src/kernels/matvec-q8.ts';
import { getGpuQuantType, gpuQuantTypes } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { makeWeight, randomValues, referenceMatmul, tolerance } from './matmul-helpers.ts';
import { dequantizeQ8, readQ8, submitStep } from './q8-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

const EPS = 1e-5;

interface Spec {
  type: GGMLType;
  rows: number;
  cols: number;
  fuse?: MatmulFusion;
  quantizeOut?: 'plain' | 'normed';
  variant?: Partial<MatmulVariant>;
  products?: Int8Products;
}

interface Inputs {
  w: ReturnType<typeof makeWeight>;
  /** tokens × cols */
  x: Float32Array;
  g: Float32Array;
  /** tokens × outRows: the output before the kernel (addOut adds to it). */
  before: Float32Array;
  gOut: Float32Array;
}

const outRowsOf = (s: Spec) => (s.fuse?.glu ? s.rows / 2 : s.rows);

function makeInputs(s: Spec, tokens: number, seed: number): Inputs {
  const outRows = outRowsOf(s);
  return {
    w: makeWeight(s.type, s.rows, s.cols, seed),
    x: randomValues(tokens * s.cols, seed + 1, 3),
    g: Float32Array.from(randomValues(s.cols, seed + 2), (v) => 0.5 + Math.abs(v)),
    before: s.fuse?.addOut ? randomValues(tokens * outRows, seed + 3) : new Float32Array(tokens * outRows),
    gOut: Float32Array.from(randomValues(outRows, seed + 4), (v) => 0.5 + Math.abs(v)),
  };
}

/** The bits a run stores: its f32 outputs (token-major, split outputs one after the other) and quantized outputs. */
interface Stored {
  outs: Uint32Array[];
  quantized?: Uint32Array;
  /** The GPU's quantized activations of each token, as values. */
  xhat: Float32Array[];
  y: Float32Array[];
}

/** Quantizes `tokens` rows of in.x (rows `first`…) and runs the `tokens`-token int8 mat-vec on them. */
async function runTokens(s: Spec, inp: Inputs, first: number, tokens: number): Promise<Stored> {
  const { type, rows, cols } = s;
  const fuse = s.fuse ?? {};
  const outRows = outRowsOf(s);
  const split = fuse.split ?? [outRows];
  const weight = uploadWeight(ctx, 'w8t', type, rows, cols, inp.w.bytes);
  const bufs = {
    input: createStorageBuffer(ctx, inp.x.slice(first * cols, (first + tokens) * cols)),
    norm: createStorageBuffer(ctx, inp.g),
    xq: createStorageBuffer(ctx, tokens * quantizedActivationBytes(cols)),
    outs: split.map((n, i) =>
      createStorageBuffer(ctx, i === 0 ? inp.before.slice(first * outRows, (first + tokens) * outRows) : new Float32Array(tokens * n)),
    ),
    yq: createStorageBuffer(ctx, tokens * quantizedActivationBytes(outRows)),
    gOut: createStorageBuffer(ctx, inp.gOut),
  };
  try {
    const quantize = createQuantizeQ8(ctx, { cols, norm: fuse.normIn !== undefined, tokens }).bind({
      input: bufs.input,
      output: bufs.xq,
      normWeight: fuse.normIn ? bufs.norm : undefined,
    });
    const mv = createMatVecQ8(ctx, {
      type,
      rows,
      cols,
      fuse,
      variant: s.variant,
      products: s.products,
      quantizeOut: s.quantizeOut,
      tokens,
    });
    const call = mv.bind({
      weight,
      input: bufs.xq,
      output: bufs.outs[0]!,
      output1: bufs.outs[1],
      output2: bufs.outs[2],
      quantizedOutput: s.quantizeOut ? bufs.yq : undefined,
      quantizeNormWeight: s.quantizeOut === 'normed' ? bufs.gOut : undefined,
    });
    submitStep(ctx, { pos0: 0, nTokens: tokens }, quantize, call);
    const outs = await Promise.all(bufs.outs.map(async (b, i) => new Uint32Array((await readF32(ctx, b, tokens * split[i]!)).buffer)));
    const xqAll = await readQ8(ctx, bufs.xq, tokens * cols);
    const xhatAll = dequantizeQ8(xqAll);
    const xhat = Array.from({ length: tokens }, (_, t) => xhatAll.slice(t * cols, (t + 1) * cols));
    // Token t's outputs in row order, the split ones concatenated.
    const y = Array.from({ length: tokens }, (_, t) => {
      const row = new Float32Array(outRows);
      let at = 0;
      outs.forEach((o, i) => {
        row.set(new Float32Array(o.buffer).subarray(t * split[i]!, (t + 1) * split[i]!), at);
        at += split[i]!;
      });
      return row;
    });
    const quantized = s.quantizeOut
      ? new Uint32Array((await readF32(ctx, bufs.yq, (tokens * quantizedActivationBytes(outRows)) / 4)).buffer)
      : undefined;
    return { outs, quantized, xhat, y };
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    for (const b of Object.values(bufs).flat()) b.destroy();
  }
}

/**
 * Runs `tokens` tokens at once and each token alone (the one-token kernel); expects every stored
 * bit to agree, and returns the batched run with its inputs.
 */
async function checkAgainstOneToken(s: Spec, tokens: number, seed: number): Promise<{ batched: Stored; inp: Inputs }> {
  const inp = makeInputs(s, tokens, seed);
  const batched = await runTokens(s, inp, 0, tokens);
  const split = s.fuse?.split ?? [outRowsOf(s)];
  const qWords = quantizedActivationBytes(outRowsOf(s)) / 4;
  for (let t = 0; t < tokens; t++) {
    const alone = await runTokens(s, inp, t, 1);
    split.forEach((n, i) => {
      expect(Array.from(batched.outs[i]!.subarray(t * n, (t + 1) * n)), `token ${t} of ${tokens}, output ${i}`).toEqual(
        Array.from(alone.outs[i]!),
      );
    });
    if (s.quantizeOut)
      expect(Array.from(batched.quantized!.subarray(t * qWords, (t + 1) * qWords)), `token ${t} quantized`).toEqual(
        Array.from(alone.quantized!),
      );
  }
  return { batched, inp };
}

/** |y − W·x̂| within the f32 summation bound, per token (y minus the output before, with addOut). */
function expectNearReference(s: Spec, r: { batched: Stored; inp: Inputs }, scale: (t: number) => number = () => 1): void {
  const { rows, cols, type } = s;
  r.batched.y.forEach((y, t) => {
    const ref = referenceMatmul(r.inp.w.values, rows, cols, r.batched.xhat[t]!, 1);
    for (let i = 0; i < rows; i++) {
      const before = s.fuse?.addOut ? r.inp.before[t * rows + i]! : 0;
      const k = scale(t);
      const bound = (tolerance(type, cols) + 1e-6) * ref.mag[i]! * k + 1e-6 * Math.abs(before);
      expect(Math.abs(y[i]! - before - ref.y[i]! * k), `token ${t} row ${i}`).toBeLessThanOrEqual(bound);
    }
  });
}

const INT8_TYPES = gpuQuantTypes().filter((t) => hasInt8MatVec(t.id));
const TOKENS = [1, 2, 3, 4];

it('the token count is checked', () => {
  expect(() => createMatVecQ8(ctx, { type: GGMLType.Q8_0, rows: 32, cols: 32, tokens: 0 })).toThrow(RangeError);
  expect(() => createMatVecQ8(ctx, { type: GGMLType.Q8_0, rows: 32, cols: 32, tokens: MAX_Q8_TOKENS + 1 })).toThrow(RangeError);
  expect(() => createQuantizeQ8(ctx, { cols: 32, tokens: 1.5 })).toThrow(RangeError);
  // A buffer for fewer tokens than the kernel takes is refused.
  const small = createStorageBuffer(ctx, quantizedActivationBytes(32));
  const out = createStorageBuffer(ctx, 3 * 32 * 4);
  expect(() => createQuantizeQ8(ctx, { cols: 32, tokens: 2 }).bind({ input: out, output: small })).toThrow(RangeError);
  small.destroy();
  out.destroy();
});

describe.each(INT8_TYPES.map((t) => [t.name, t.id] as const))('%s over 1–4 tokens', (_name, type) => {
  const qk = getGpuQuantType(type).rowMultiple;
  it('plain store: each token as alone, and near W·x̂', async () => {
    for (const tokens of TOKENS) {
      const s = { type, rows: 37, cols: 3 * qk };
      expectNearReference(s, await checkAgainstOneToken(s, tokens, 11 * tokens));
    }
  });
  it('residual add, and the norm at the store', async () => {
    for (const tokens of TOKENS) {
      const s = { type, rows: 45, cols: 2 * qk, fuse: { addOut: true } };
      expectNearReference(s, await checkAgainstOneToken(s, tokens, 13 * tokens));
      const n = { type, rows: 45, cols: 2 * qk, fuse: { normIn: { eps: EPS } } };
      const r = await checkAgainstOneToken(n, tokens, 17 * tokens);
      // x̂ is G∘x quantized; the store divides by the rms of the token's own x.
      const inv = (t: number) => {
        let ss = 0;
        for (let i = 0; i < n.cols; i++) ss += r.inp.x[t * n.cols + i]! ** 2;
        return 1 / Math.sqrt(ss / n.cols + EPS);
      };
      expectNearReference(n, r, inv);
    }
  });
});

describe('fused stores over 1–4 tokens: bit-identical to each token alone', () => {
  const cases: [string, Spec][] = [
    ['glu silu with normIn', { type: GGMLType.Q4_K, rows: 2 * 45, cols: 256, fuse: { normIn: { eps: EPS }, glu: 'silu' } }],
    ['glu relu2 (BitNet)', { type: GGMLType.I2_S, rows: 2 * 37, cols: 256, fuse: { glu: 'relu2' } }],
    ['Q/K/V split with normIn', { type: GGMLType.Q6_K, rows: 128, cols: 256, fuse: { normIn: { eps: EPS }, split: [64, 32, 32] } }],
    ['Q/K split', { type: GGMLType.TQ1_0, rows: 64, cols: 256, fuse: { split: [40, 24] } }],
    ['quantizing store, plain', { type: GGMLType.Q4_0, rows: 96, cols: 64, quantizeOut: 'plain' }],
    [
      'quantizing store, normed after the residual add',
      { type: GGMLType.Q8_0, rows: 160, cols: 96, fuse: { normIn: { eps: EPS }, addOut: true }, quantizeOut: 'normed' },
    ],
    ['quantizing store after glu', { type: GGMLType.TQ2_0, rows: 2 * 64, cols: 256, fuse: { glu: 'relu2' }, quantizeOut: 'normed' }],
    [
      'SWAR products, quantizing store',
      { type: GGMLType.Q4_1, rows: 64, cols: 64, fuse: { addOut: true }, quantizeOut: 'plain', products: 'swar' },
    ],
    ['dot4 products', { type: GGMLType.I2_S, rows: 37, cols: 256, products: 'dot4' }],
    [
      'subgroup rows',
      { type: GGMLType.Q4_K, rows: 37, cols: 512, fuse: { addOut: true }, variant: { mode: 'subgroup-row', rowsPerThread: 2 } },
    ],
    [
      'workgroup-memory reduction with glu and normIn',
      {
        type: GGMLType.Q6_K,
        rows: 2 * 37,
        cols: 256,
        fuse: { normIn: { eps: EPS }, glu: 'gelu' },
        variant: { mode: 'workgroup-row', threadsPerRow: 4, workgroupSize: 32 },
      },
    ],
    [
      'workgroup-memory reduction, quantizing store',
      {
        type: GGMLType.Q6_K,
        rows: 64,
        cols: 256,
        fuse: { addOut: true },
        quantizeOut: 'normed',
        variant: { mode: 'workgroup-row', workgroupSize: 64, threadsPerRow: 2, rowsPerThread: 1 },
      },
    ],
    ['thread per 3 rows', { type: GGMLType.TQ2_0, rows: 37, cols: 256, variant: { mode: 'thread-row', rowsPerThread: 3 } }],
  ];
  it.each(cases)('%s', async (_label, s) => {
    for (const tokens of TOKENS) {
      const r = await checkAgainstOneToken(s, tokens, 7 * tokens + s.rows);
      if (!s.fuse?.glu && !s.fuse?.normIn) expectNearReference(s, r);
    }
  });
});
