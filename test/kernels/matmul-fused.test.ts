// The mat-vec / mat-mul fusions (src/kernels/matmul.ts `fuse`) against the CPU reference: the
// RMSNorm applied in the input load, gate·up with the activation (GLU), the residual add into the
// output, and a fused Q/K/V weight split over three outputs — for a type of each decoder family,
// every reduction mode, and odd shapes (rows not a multiple of the workgroup's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { ModelFormatError } from '../../src/errors.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { concatWeightRows, planConcatRows, uploadWeight } from '../../src/gpu/weights.ts';
import { createMatMul, createMatVec, type GluActivation, type MatmulFusion, type MatmulVariant } from '../../src/kernels/matmul.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { dequantizeTensor, getGpuQuantType, quantizeTensor } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { makeWeight, randomTernary, randomValues, referenceMatmul, tolerance } from './matmul-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);

const ACT: Record<GluActivation, (x: number) => number> = {
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + Math.tanh(Math.min(15, Math.max(-15, 0.7978845608028654 * x * (1 + 0.044715 * x * x))))),
  relu2: (x) => (x > 0 ? x * x : 0),
};
/** |d act / dx| bound near x, for the tolerance. */
const SLOPE: Record<GluActivation, (x: number) => number> = { silu: () => 1.1, gelu: () => 1.13, relu2: (x) => 2 * Math.abs(x) + 1e-3 };

interface FusedSpec {
  type: GGMLType;
  /** Output rows (per segment for split: [q, k, v]). */
  rows: number | number[];
  cols: number;
  fuse: MatmulFusion;
  tokens?: number;
  variant?: Partial<MatmulVariant>;
}

/**
 * Runs the fused kernel and returns the worst error over every output, each divided by the bound
 * its CPU reference allows (≤ 1 passes).
 */
async function runFused(spec: FusedSpec): Promise<number> {
  const { type, cols, fuse } = spec;
  const T = spec.tokens ?? 1;
  const outRows = Array.isArray(spec.rows) ? spec.rows : [spec.rows];
  const wRows = fuse.glu ? 2 * outRows[0]! : outRows.reduce((a, b) => a + b, 0);
  const seed = wRows * 17 + cols;
  const q = makeWeight(type, wRows, cols, seed);
  const weight = uploadWeight(ctx, `fused:${GGMLType[type]}`, type, wRows, cols, q.bytes);
  const x = randomValues(T * cols, seed + 1);
  const g = randomValues(cols, seed + 2, 0.5);
  const before = outRows.map((n, i) => randomValues(T * n, seed + 3 + i));
  const eps = 1e-5;
  // The input the reference multiplies: g∘x/rms(x) per token (f64) with normIn, else x.
  const xIn = new Float32Array(x.length);
  const xn64 = new Float64Array(x.length);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[t * cols + c]! ** 2;
    const inv = fuse.normIn ? 1 / Math.sqrt(ss / cols + eps) : 1;
    for (let c = 0; c < cols; c++) {
      xn64[t * cols + c] = fuse.normIn ? x[t * cols + c]! * g[c]! * inv : x[t * cols + c]!;
      xIn[t * cols + c] = xn64[t * cols + c]!;
    }
  }
  // Reference in f64 over the f64 normalised input (the f32 copy only feeds the magnitude).
  const ref = referenceMatmul(q.values, wRows, cols, xIn, T);
  const exact = new Float64Array(T * wRows);
  for (let t = 0; t < T; t++)
    for (let r = 0; r < wRows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += q.values[r * cols + c]! * xn64[t * cols + c]!;
      exact[t * wRows + r] = s;
    }
  const input = createStorageBuffer(ctx, x);
  const normWeight = createStorageBuffer(ctx, g);
  const outputs = outRows.map((n, i) => createStorageBuffer(ctx, fuse.addOut ? before[i]! : new Float32Array(T * n).fill(Number.NaN)));
  const stepParams = createStepParams(ctx, { pos0: 0, nTokens: T });
  writeStepParams(ctx, stepParams, { pos0: 0, nTokens: T });
  const options = { type, rows: wRows, cols, fuse, variant: spec.variant };
  const kernel = T === 1 && !spec.variant?.tokensPerThread ? createMatVec(ctx, options) : createMatMul(ctx, { ...options, maxTokens: T });
  const call = kernel.bind({
    weight,
    input,
    output: outputs[0]!,
    output1: outputs[1],
    output2: outputs[2],
    normWeight: fuse.normIn ? normWeight : undefined,
    stepParams: kernel.maxTokens > 1 ? stepParams : undefined,
  });
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  call.encode(pass, { pos0: 0, nTokens: T });
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
  const got = await Promise.all(outputs.map((b, i) => readF32(ctx, b, T * outRows[i]!)));
  for (const b of [input, normWeight, ...outputs, stepParams]) b.destroy();
  for (const p of weight.parts) p.buffer.destroy();

  // Relative bound of one dot product; the norm's own sum of squares and 1/sqrt add a few
  // roundings over `cols` terms, hence the factor 2.
  const rel = 2 * tolerance(type, cols) + 8 * 2 ** -24;
  let worst = 0;
  const check = (got: number, want: number, bound: number) => {
    const e = Math.abs(got - want) / Math.max(bound, 1e-30);
    worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
  };
  for (let t = 0; t < T; t++) {
    if (fuse.glu) {
      const n = outRows[0]!;
      const act = ACT[fuse.glu];
      for (let r = 0; r < n; r++) {
        const gate = exact[t * wRows + r]!;
        const up = exact[t * wRows + n + r]!;
        const want = act(gate) * up;
        // Error of the gate (times the slope) carried by up, plus the up's error times act(gate).
        const bound =
          rel * (ref.mag[t * wRows + r]! * SLOPE[fuse.glu](gate) * Math.abs(up) + ref.mag[t * wRows + n + r]! * Math.abs(act(gate))) +
          4 * 2 ** -24 * Math.abs(want);
        check(got[0]![t * n + r]!, want, bound);
      }
      continue;
    }
    let row = 0;
    outRows.forEach((n, i) => {
      for (let r = 0; r < n; r++, row++) {
        const prior = fuse.addOut ? before[i]![t * n + r]! : 0;
        const want = prior + exact[t * wRows + row]!;
        check(got[i]![t * n + r]!, want, rel * ref.mag[t * wRows + row]! + 2 ** -24 * Math.abs(want));
      }
    });
  }
  return worst;
}

const SGROW: Partial<MatmulVariant> = { mode: 'subgroup-row', rowsPerThread: 2 };
const THREAD_SHARED: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 3, shareInput: true };
const THREAD_PLAIN: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 4, shareInput: false };
const WGROW: Partial<MatmulVariant> = { mode: 'workgroup-row', threadsPerRow: 4, workgroupSize: 32, rowsPerThread: 2 };
const VARIANTS: [string, Partial<MatmulVariant> | undefined][] = [
  ['default variant', undefined],
  ['subgroup per row', SGROW],
  ['thread per rows, shared input', THREAD_SHARED],
  ['thread per rows, plain loads', THREAD_PLAIN],
  ['workgroup-memory reduction', WGROW],
];
// One type per decoder family: float, legacy (unaligned blocks), K-quant with a min (16-byte
// words), K-quant without, the ternary ones (add-only chunk dot, per-tensor scale; TQ1_0's
// chunks carry padding vec4s the norm's sum of squares must skip).
const TYPES = [GGMLType.F32, GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.TQ2_0, GGMLType.TQ1_0, GGMLType.I2_S];
const unit = (type: GGMLType) => (getGpuQuantType(type).gpu.float ? 4 : getGpuQuantType(type).rowMultiple);

describe.each(TYPES.map((t) => [GGMLType[t], t] as const))('%s fused mat-vec', (_name, type) => {
  const cols = unit(type) === 4 ? 68 : 2 * unit(type);
  for (const [label, variant] of VARIANTS) {
    it(`norm in the input load, ${label}`, async () => {
      expect(await runFused({ type, rows: 37, cols, fuse: { normIn: { eps: 1e-5 } }, variant })).toBeLessThanOrEqual(1);
    });
    it(`gate·up with SiLU and the norm in the load, ${label}`, async () => {
      expect(await runFused({ type, rows: 29, cols, fuse: { normIn: { eps: 1e-5 }, glu: 'silu' }, variant })).toBeLessThanOrEqual(1);
    });
    it(`Q/K/V split over three outputs with the norm in the load, ${label}`, async () => {
      const fuse = { normIn: { eps: 1e-5 }, split: [24, 8, 8] as const };
      expect(await runFused({ type, rows: [24, 8, 8], cols, fuse, variant })).toBeLessThanOrEqual(1);
    });
    it(`residual add into the output, ${label}`, async () => {
      expect(await runFused({ type, rows: 37, cols, fuse: { addOut: true }, variant })).toBeLessThanOrEqual(1);
    });
  }
  it('a two-way split (Q/K fused, V apart)', async () => {
    const fuse = { normIn: { eps: 1e-5 }, split: [24, 8] as const };
    expect(await runFused({ type, rows: [24, 8], cols, fuse })).toBeLessThanOrEqual(1);
  });
  it('the GELU and squared-ReLU gates, and a residual add after a norm in the load', async () => {
    expect(await runFused({ type, rows: 21, cols, fuse: { glu: 'gelu' } })).toBeLessThanOrEqual(1);
    expect(await runFused({ type, rows: 21, cols, fuse: { glu: 'relu2' } })).toBeLessThanOrEqual(1);
    expect(await runFused({ type, rows: 37, cols, fuse: { normIn: { eps: 1e-5 }, addOut: true } })).toBeLessThanOrEqual(1);
  });
});

describe('fused mat-mul (prefill): GLU, split and residual add over several tokens', () => {
  const MM_THREAD: Partial<MatmulVariant> = { mode: 'thread-row', rowsPerThread: 2, tokensPerThread: 4, shareInput: false };
  const MM_VARIANTS: [string, Partial<MatmulVariant>][] = [
    ['subgroup per row', { mode: 'subgroup-row', tokensPerThread: 2 }],
    ['thread per rows', MM_THREAD],
    ['workgroup-memory reduction', { ...WGROW, tokensPerThread: 3 }],
    // The tiled GEMM (its store has every epilogue): the device's default tile, and a tile with
    // three token threads whose input is staged in workgroup memory, then read from global memory.
    ['default variant', {}],
    [
      'tiled, staged, 3 token threads',
      { mode: 'tiled', workgroupSize: 6, tokenThreads: 3, rowsPerThread: 3, tokensPerThread: 2, stageInput: true },
    ],
    ['tiled, unstaged', { mode: 'tiled', workgroupSize: 4, tokenThreads: 1, rowsPerThread: 3, tokensPerThread: 2, stageInput: false }],
  ];
  for (const [label, variant] of MM_VARIANTS) {
    for (const type of [GGMLType.Q4_K, GGMLType.TQ2_0]) {
      const cols = 2 * unit(type);
      const cases: [string, Omit<FusedSpec, 'type' | 'cols'>][] = [
        ['gate·up', { rows: 19, fuse: { glu: 'silu' } }],
        ['Q/K/V split', { rows: [16, 8, 4], fuse: { split: [16, 8, 4] } }],
        ['residual add', { rows: 23, fuse: { addOut: true } }],
      ];
      for (const [what, c] of cases) {
        // Each case compiles its own mat-mul pipeline, slow on a busy software device.
        it(`${GGMLType[type]} ${what}, 5 tokens, ${label}`, { timeout: 300_000 }, async () => {
          expect(await runFused({ type, cols, ...c, tokens: 5, variant })).toBeLessThanOrEqual(1);
        });
      }
    }
  }
});

describe('fusion options are checked', () => {
  const type = GGMLType.Q8_0;
  it('rejects what the kernel cannot do, naming it', () => {
    expect(() => createMatMul(ctx, { type, rows: 8, cols: 32, maxTokens: 4, fuse: { normIn: { eps: 1e-5 } } })).toThrow(/mat-vec only/);
    expect(() => createMatVec(ctx, { type, rows: 9, cols: 32, fuse: { glu: 'silu' } })).toThrow(/even count/);
    expect(() => createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { glu: 'tanh' as GluActivation } })).toThrow(/unknown fuse.glu/);
    expect(() => createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { split: [4, 4, 1] } })).toThrow(/adding up to 8/);
    expect(() => createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { split: [8, 0, 0] } })).toThrow(RangeError);
    expect(() => createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { glu: 'silu', addOut: true } })).toThrow(/exclude/);
    expect(() => createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { normIn: { eps: Number.NaN } } })).toThrow(/eps/);
  });
  it('prefill runs split, add and GLU in the tiled GEMM; GLU on a tile for its doubled work', () => {
    const mm = (fuse: MatmulFusion, t = type) => createMatMul(ctx, { type: t, rows: 8, cols: 256, maxTokens: 4, fuse }).variant;
    expect(mm({ split: [4, 2, 2] }).mode).toBe('tiled');
    expect(mm({ addOut: true }).mode).toBe('tiled');
    expect(mm({ glu: 'silu' }).mode).toBe('tiled');
    // Gate and up rows are both unrolled: a GLU tile holds at most half the outputs of a plain one.
    for (const t of [GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.TQ2_0]) {
      const outputs = (v: MatmulVariant) => v.rowsPerThread * v.tokensPerThread;
      expect(outputs(mm({ glu: 'silu' }, t)), GGMLType[t]).toBeLessThanOrEqual(outputs(mm({}, t)) / 2);
      // The plain tile with half its rows: the same kind of tile (threads, staging), even for
      // TQ2_0's 32-vec4 chunks, where sizing by the doubled work left only GPU-shaped tiles.
      const [glu, plain] = [mm({ glu: 'silu' }, t), mm({}, t)];
      expect({ ...glu, rowsPerThread: 2 * glu.rowsPerThread }, GGMLType[t]).toEqual(plain);
    }
  });
  it('rejects missing bindings and a fused weight in several parts', () => {
    const q = makeWeight(type, 8, 32, 1);
    const whole = uploadWeight(ctx, 'w', type, 8, 32, q.bytes);
    const split = uploadWeight(ctx, 'w2', type, 8, 32, q.bytes, { maxPartBytes: 4 * 34 });
    const buf = createStorageBuffer(ctx, 64 * 4);
    try {
      const norm = createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { normIn: { eps: 1e-5 } } });
      expect(() => norm.bind({ weight: whole, input: buf, output: buf })).toThrow(/normWeight/);
      const qkv = createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { split: [4, 2, 2] } });
      expect(() => qkv.bind({ weight: whole, input: buf, output: buf, output1: buf })).toThrow(/output2/);
      const glu = createMatVec(ctx, { type, rows: 8, cols: 32, fuse: { glu: 'silu' } });
      expect(() => glu.bind({ weight: split, input: buf, output: buf })).toThrow(ModelFormatError);
    } finally {
      for (const w of [whole, split]) for (const p of w.parts) p.buffer.destroy();
      buf.destroy();
    }
  });
});

describe('weights concatenated by rows on the GPU (concatWeightRows)', () => {
  it('a fused I2_S Q/K/V keeps each member its own per-tensor scale', async () => {
    const cols = 128;
    const rows = [40, 8, 8];
    const scales = [0.05, 0.2, 0.7];
    const members = rows.map((n, i) => {
      const bytes = quantizeTensor(GGMLType.I2_S, randomTernary(n * cols, 70 + i, scales[i]));
      return {
        values: dequantizeTensor(GGMLType.I2_S, bytes, n * cols),
        weight: uploadWeight(ctx, `m${i}`, GGMLType.I2_S, n, cols, bytes),
      };
    });
    const fused = await concatWeightRows(
      ctx,
      'qkv',
      members.map((m) => m.weight),
    );
    expect(fused).not.toBeNull();
    expect(fused!.members!.map((m) => m.tensorScale)).toEqual(members.map((m) => m.weight.tensorScale));
    const x = randomValues(cols, 9);
    const input = createStorageBuffer(ctx, x);
    const outs = rows.map((n) => createStorageBuffer(ctx, new Float32Array(n).fill(Number.NaN)));
    const kernel = createMatVec(ctx, { type: GGMLType.I2_S, rows: 56, cols, fuse: { split: [40, 8, 8] } });
    const call = kernel.bind({ weight: fused!, input, output: outs[0]!, output1: outs[1], output2: outs[2] });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    call.encode(pass);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    try {
      for (const [i, m] of members.entries()) {
        const got = await readF32(ctx, outs[i]!, rows[i]!);
        const ref = referenceMatmul(m.values, rows[i]!, cols, x, 1);
        for (let r = 0; r < rows[i]!; r++)
          expect(Math.abs(got[r]! - ref.y[r]!), `member ${i} row ${r}`).toBeLessThanOrEqual(
            tolerance(GGMLType.I2_S, cols) * ref.mag[r]! + 1e-7,
          );
      }
    } finally {
      for (const b of [input, ...outs]) b.destroy();
      for (const p of fused!.parts) p.buffer.destroy();
    }
  });

  it('declines members that cannot share one buffer, leaving them as they are', async () => {
    const a = makeWeight(GGMLType.Q4_K, 8, 256, 1);
    const b = makeWeight(GGMLType.Q6_K, 8, 256, 2);
    const wa = uploadWeight(ctx, 'a', GGMLType.Q4_K, 8, 256, a.bytes);
    const wb = uploadWeight(ctx, 'b', GGMLType.Q6_K, 8, 256, b.bytes);
    try {
      // Types differ; a member split in parts; the whole over the byte limit; an odd start.
      expect(planConcatRows('ab', [wa, wb], 1 << 20)).toBeNull();
      expect(planConcatRows('aa', [wa, { ...wa, parts: [...wa.parts, ...wa.parts] }], 1 << 20)).toBeNull();
      expect(planConcatRows('aa', [wa, wa], 2 * 8 * wa.rowBytes - 4)).toBeNull();
      expect(planConcatRows('bb', [{ ...wb, rows: 1, parts: [{ ...wb.parts[0]!, rowCount: 1 }] }, wb], 1 << 20)).toBeNull();
      expect(planConcatRows('aa', [wa, wa], 1 << 20)).toMatchObject({ rows: 16, members: [{ rows: 8 }, { rows: 8 }] });
      expect(await concatWeightRows(ctx, 'ab', [wa, wb])).toBeNull();
      // Still usable: a mat-vec over `a` runs.
      const kernel = createMatVec(ctx, { type: GGMLType.Q4_K, rows: 8, cols: 256 });
      const [input, output] = [createStorageBuffer(ctx, 256 * 4), createStorageBuffer(ctx, 8 * 4)];
      expect(() => kernel.bind({ weight: wa, input, output })).not.toThrow();
      input.destroy();
      output.destroy();
    } finally {
      for (const w of [wa, wb]) for (const p of w.parts) p.buffer.destroy();
    }
  });
});
