// The int8-activation path (src/kernels/matvec-q8.ts): the GPU activation quantizer against a CPU
// model of the same arithmetic, and the int8 mat-vec of every type with an int8 decoder against a
// CPU reference over the same quantized activations (exact integer dots, per-block scales): odd
// row counts, several blocks per row, every reduction mode, weights split into several buffers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { DeviceLimitError, ModelFormatError } from '../../src/errors.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { planRowParts, uploadWeight } from '../../src/gpu/weights.ts';
import type { MatmulVariant } from '../../src/kernels/matmul.ts';
import {
  createMatVecQ8,
  createQuantizeQ8,
  hasInt8MatVec,
  quantizedActivationBytes,
  resolveActivations,
  type Int8Products,
} from '../../src/kernels/matvec-q8.ts';
import { dequantizeTensor, getGpuQuantType, gpuQuantTypes } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import type { MatmulFusion } from '../../src/kernels/matmul.ts';
import { makeWeight, randomValues, referenceMatmul, rng, tolerance } from './matmul-helpers.ts';
import { dequantizeQ8, type Q8, quantizeQ8Cpu, readQ8 as readQ8On, submitOn } from './q8-helpers.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testGpu();
});
afterAll(releaseTestGpu);
const readQ8 = (buffer: GPUBuffer, cols: number) => readQ8On(ctx, buffer, cols);
const submit = (...calls: { encode(p: GPUComputePassEncoder): void }[]) => submitOn(ctx, ...calls);

describe('device feature', () => {
  it('Dawn exposes packed_4x8_integer_dot_product, and auto picks int8 with it', () => {
    expect(ctx.hasPackedInt8Dot).toBe(true);
    expect(resolveActivations(ctx)).toBe('int8');
    expect(resolveActivations(ctx, 'f32')).toBe('f32');
  });
  it('without the feature: auto falls back to f32, an explicit int8 is a DeviceLimitError', () => {
    const without = { ...ctx, hasPackedInt8Dot: false };
    expect(resolveActivations(without, 'auto')).toBe('f32');
    expect(() => resolveActivations(without, 'int8')).toThrow(DeviceLimitError);
    expect(() => createQuantizeQ8(without, { cols: 64 })).toThrow(DeviceLimitError);
    expect(() => resolveActivations(ctx, 'int4' as never)).toThrow(RangeError);
  });
});

describe('activation quantize', () => {
  it('matches the CPU model on blocks of mixed magnitude, all-zero and single-spike blocks', async () => {
    const cols = 32 * 67;
    const x = randomValues(cols, 5, 3);
    x.fill(0, 64, 96); // an all-zero block: d = 0, q = 0
    x.fill(0, 96, 128);
    x[100] = -7.25; // one spike: it quantizes to −127 exactly
    // d = 1 exactly, and every other element a tie: rounded away from zero (roundf, not WGSL's round).
    for (let i = 128; i < 160; i++) x[i] = i - 144 + 0.5;
    x[128] = -127;
    const input = createStorageBuffer(ctx, x);
    const output = createStorageBuffer(ctx, quantizedActivationBytes(cols));
    submit(createQuantizeQ8(ctx, { cols }).bind({ input, output }));
    const gpu = await readQ8(output, cols);
    const cpu = quantizeQ8Cpu(x);
    // WGSL division is not correctly rounded (2.5 ulp): a code may land on the other side of a
    // tie, so codes may differ by one, rarely; the scales within a few ulp.
    let off = 0;
    for (let i = 0; i < cols; i++) {
      const dq = Math.abs(gpu.q[i]! - cpu.q[i]!);
      expect(dq, `element ${i}`).toBeLessThanOrEqual(1);
      off += dq;
    }
    expect(off).toBeLessThanOrEqual(cols / 500);
    for (let b = 0; b < cols / 32; b++) {
      expect(Math.abs(gpu.d[b]! - cpu.d[b]!)).toBeLessThanOrEqual(cpu.d[b]! * 4e-7);
      let sum = 0;
      for (let i = 0; i < 32; i++) sum += gpu.q[32 * b + i]!;
      expect(gpu.s[b]).toBe(Math.fround(gpu.d[b]! * sum));
      expect(gpu.n[b]).toBe(sum);
    }
    expect(gpu.d[2]).toBe(0);
    expect(Array.from(gpu.q.subarray(64, 128)).filter((q) => q !== 0 && q !== -127)).toEqual([]);
    expect(gpu.q[100]).toBe(-127);
    expect(gpu.d[4]).toBe(1);
    expect(Array.from(gpu.q.subarray(128, 160))).toEqual([-127, ...Array.from({ length: 31 }, (_, j) => (j < 15 ? j - 15 : j - 14))]);
    input.destroy();
    output.destroy();
  });

  it('rejects a row length that is not whole blocks, and buffers too small', () => {
    expect(() => createQuantizeQ8(ctx, { cols: 48 })).toThrow(RangeError);
    const small = createStorageBuffer(ctx, 64);
    expect(() => createQuantizeQ8(ctx, { cols: 64 }).bind({ input: small, output: small })).toThrow(RangeError);
    small.destroy();
  });
});

interface RunSpec {
  type: GGMLType;
  rows: number;
  cols: number;
  variant?: Partial<MatmulVariant>;
  products?: Int8Products;
  maxPartBytes?: number;
  seed?: number;
  /** Run with addOut over an output holding random values, and check y − those. */
  addOut?: boolean;
}

/**
 * Quantizes a random input on the GPU and runs the int8 mat-vec on it. Returns the worst error
 * relative to Σ|w·x̂| against the reference over the GPU's own quantized activations x̂ (the
 * integer dots are exact; only per-block scale products round), and against the f32 input x.
 */
async function run(spec: RunSpec): Promise<{ exact: number; vsF32: number }> {
  const { type, rows, cols } = spec;
  const seed = spec.seed ?? rows * 31 + cols;
  const w = makeWeight(type, rows, cols, seed);
  const weight = uploadWeight(ctx, `w8:${GGMLType[type]}`, type, rows, cols, w.bytes, { maxPartBytes: spec.maxPartBytes });
  const x = randomValues(cols, seed + 1);
  const input = createStorageBuffer(ctx, x);
  const xq = createStorageBuffer(ctx, quantizedActivationBytes(cols));
  const before = spec.addOut ? randomValues(rows, seed + 2) : new Float32Array(rows).fill(Number.NaN);
  const output = createStorageBuffer(ctx, before);
  try {
    const quantize = createQuantizeQ8(ctx, { cols }).bind({ input, output: xq });
    const mv = createMatVecQ8(ctx, {
      type,
      rows,
      cols,
      variant: spec.variant,
      products: spec.products,
      fuse: { addOut: spec.addOut },
    }).bind({
      weight,
      input: xq,
      output,
    });
    submit(quantize, mv);
    const y = (await readF32(ctx, output, rows)).map((v, r) => (spec.addOut ? v - before[r]! : v));
    const xhat = dequantizeQ8(await readQ8(xq, cols));
    const exact = referenceMatmul(w.values, rows, cols, xhat, 1);
    const f32 = referenceMatmul(w.values, rows, cols, x, 1);
    let worst = 0;
    let worstF32 = 0;
    for (let r = 0; r < rows; r++) {
      const e = Math.abs(y[r]! - exact.y[r]!) / Math.max(exact.mag[r]!, 1e-30);
      worst = Number.isNaN(e) ? Infinity : Math.max(worst, e);
      worstF32 = Math.max(worstF32, Math.abs(y[r]! - f32.y[r]!) / Math.max(f32.mag[r]!, 1e-30));
    }
    return { exact: worst, vsF32: worstF32 };
  } finally {
    for (const p of weight.parts) p.buffer.destroy();
    input.destroy();
    xq.destroy();
    output.destroy();
  }
}

const INT8_TYPES = gpuQuantTypes().filter((t) => hasInt8MatVec(t.id));
/** Types with both product kinds (codes of ≤ 4 bits). */
const SWAR_TYPES = new Set([GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q4_K, GGMLType.TQ2_0, GGMLType.TQ1_0, GGMLType.I2_S]);

it('the int8 path covers the types the issue names', () => {
  expect(INT8_TYPES.map((t) => t.name).sort()).toEqual(['I2_S', 'Q4_0', 'Q4_1', 'Q4_K', 'Q6_K', 'Q8_0', 'TQ1_0', 'TQ2_0']);
  expect(() => createMatVecQ8(ctx, { type: GGMLType.Q5_K, rows: 4, cols: 256 })).toThrow(ModelFormatError);
});

const VARIANTS: [string, Partial<MatmulVariant>][] = [
  ['thread per rows (software default)', {}],
  ['thread per 3 rows', { mode: 'thread-row', rowsPerThread: 3 }],
  ['subgroup per 2 rows', { mode: 'subgroup-row', rowsPerThread: 2 }],
  ['workgroup-memory reduction', { mode: 'workgroup-row', threadsPerRow: 4, workgroupSize: 32 }],
];

describe.each(INT8_TYPES.map((t) => [t.name, t.id] as const))('%s int8 mat-vec', (_name, type) => {
  const qk = getGpuQuantType(type).rowMultiple;
  // Rows not a multiple of any workgroup's rows; one block and three blocks per row.
  const shapes = [
    { rows: 37, cols: qk },
    { rows: 70, cols: 3 * qk },
  ];
  for (const [label, variant] of VARIANTS) {
    it(label, async () => {
      for (const s of shapes) {
        const { exact, vsF32 } = await run({ type, ...s, variant });
        expect(exact, `${GGMLType[type]} ${s.rows}×${s.cols}`).toBeLessThanOrEqual(tolerance(type, s.cols));
        // Against the unquantized input: int8 rounding (≤ d/2 per element, d = max|x|/127).
        expect(vsF32).toBeLessThan(0.05);
      }
    });
  }
  if (SWAR_TYPES.has(type)) {
    // Both ways of taking the products, whichever the device defaults to.
    it.each([['dot4'], ['swar']] as const)('products by %s', async (products) => {
      for (const s of shapes) {
        for (const variant of [{}, { mode: 'subgroup-row', rowsPerThread: 2 }] as Partial<MatmulVariant>[]) {
          const { exact } = await run({ type, ...s, variant, products });
          expect(exact, `${GGMLType[type]} ${s.rows}×${s.cols}`).toBeLessThanOrEqual(tolerance(type, s.cols));
        }
      }
    });
  }
  it('weight split into several buffers', async () => {
    const s = shapes[1]!;
    const rowBytes = getGpuQuantType(type).rowBytes(s.cols);
    const maxPartBytes = rowBytes * 16 + 4;
    expect(planRowParts(s.rows, rowBytes, maxPartBytes).length).toBe(5);
    const { exact } = await run({ type, ...s, maxPartBytes });
    expect(exact).toBeLessThanOrEqual(tolerance(type, s.cols));
  });
  // The residual add of the output and down projections, in every reduction mode and over parts.
  it('addOut adds W·x to the output', async () => {
    const s = shapes[1]!;
    const maxPartBytes = getGpuQuantType(type).rowBytes(s.cols) * 16 + 4;
    for (const variant of VARIANTS.map(([, v]) => v)) {
      const { exact } = await run({ type, ...s, variant, maxPartBytes, addOut: true });
      expect(exact, `${GGMLType[type]} ${JSON.stringify(variant)}`).toBeLessThanOrEqual(tolerance(type, s.cols));
    }
  });
});

describe('ternary code 3 with int8 activations', () => {
  it.each([
    ['TQ2_0', GGMLType.TQ2_0],
    ['I2_S', GGMLType.I2_S],
  ] as const)('%s reads code 3 as +2, as the f32 path and ggml do', async (_n, type) => {
    const rows = 21;
    const cols = 512;
    const r = rng(78);
    const rowBytes = getGpuQuantType(type).rowBytes(cols);
    const bytes = new Uint8Array(rows * rowBytes + (type === GGMLType.I2_S ? 32 : 0));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
    const view = new DataView(bytes.buffer);
    if (type === GGMLType.TQ2_0) {
      for (let b = 0; b < (rows * cols) / 256; b++) view.setUint16(b * 66 + 64, 0x2e66, true); // d ≈ 0.1
    } else {
      view.setFloat32(rows * rowBytes, 0.25, true);
    }
    const values = dequantizeTensor(type, bytes, rows * cols);
    expect(values.some((v) => Math.abs(v) > 0.15)).toBe(true); // +2·scale present
    const weight = uploadWeight(ctx, 'codes3', type, rows, cols, bytes);
    const x = randomValues(cols, 9);
    const input = createStorageBuffer(ctx, x);
    const xq = createStorageBuffer(ctx, quantizedActivationBytes(cols));
    const output = createStorageBuffer(ctx, rows * 4);
    for (const products of ['dot4', 'swar'] as const) {
      submit(
        createQuantizeQ8(ctx, { cols }).bind({ input, output: xq }),
        createMatVecQ8(ctx, { type, rows, cols, products }).bind({ weight, input: xq, output }),
      );
      const y = await readF32(ctx, output, rows);
      const ref = referenceMatmul(values, rows, cols, dequantizeQ8(await readQ8(xq, cols)), 1);
      for (let i = 0; i < rows; i++) expect(Math.abs(y[i]! - ref.y[i]!)).toBeLessThanOrEqual(tolerance(type, cols) * ref.mag[i]!);
    }
    for (const p of weight.parts) p.buffer.destroy();
  });
});

// The fused int8 decode graph (issue 11 item 4): the norm applied at the store from the blocks'
// sums of squares must equal norm-then-quantize; gate·up, the Q/K/V split, and the quantizing
// store that hands the next int8 mat-vec its input.
describe('fused int8 mat-vec', () => {
  const EPS = 1e-5;
  /** CPU reference of the activations; the GPU's own quantized copy of G∘x is the exact input. */
  const act = {
    silu: (v: number) => v / (1 + Math.exp(-v)),
    gelu: (v: number) => 0.5 * v * (1 + Math.tanh(0.7978845608028654 * v * (1 + 0.044715 * v * v))),
    relu2: (v: number) => Math.max(v, 0) ** 2,
  };

  interface FusedSpec {
    type: GGMLType;
    rows: number;
    cols: number;
    fuse: MatmulFusion;
    variant?: Partial<MatmulVariant>;
    products?: Int8Products;
    quantizeOut?: 'plain' | 'normed';
  }

  /**
   * Quantizes G∘x with the norm (the quantizer's `norm`), runs the fused int8 mat-vec and returns
   * what it stored, the reference W·x̂ over the GPU's quantized G∘x divided by the f64 rms of x,
   * and (quantizeOut) the int8 blocks it wrote next to what the quantizer makes of its output.
   */
  async function runFused(spec: FusedSpec) {
    const { type, rows, cols, fuse } = spec;
    const seed = rows * 7 + cols;
    const w = makeWeight(type, rows, cols, seed);
    const weight = uploadWeight(ctx, 'w8f', type, rows, cols, w.bytes);
    const x = randomValues(cols, seed + 1, 3);
    const g = Float32Array.from(randomValues(cols, seed + 2), (v) => 0.5 + Math.abs(v));
    const outRows = fuse.glu ? rows / 2 : rows;
    const before = fuse.addOut ? randomValues(outRows, seed + 3) : new Float32Array(outRows);
    const gOut = Float32Array.from(randomValues(outRows, seed + 4), (v) => 0.5 + Math.abs(v));
    const split = fuse.split ?? [outRows];
    const bufs = {
      input: createStorageBuffer(ctx, x),
      norm: createStorageBuffer(ctx, g),
      xq: createStorageBuffer(ctx, quantizedActivationBytes(cols)),
      outs: split.map((n, i) => createStorageBuffer(ctx, i === 0 ? before : new Float32Array(n))),
      yq: createStorageBuffer(ctx, quantizedActivationBytes(outRows)),
      yqRef: createStorageBuffer(ctx, quantizedActivationBytes(outRows)),
      gOut: createStorageBuffer(ctx, gOut),
    };
    try {
      const quantize = createQuantizeQ8(ctx, { cols, norm: fuse.normIn !== undefined }).bind({
        input: bufs.input,
        output: bufs.xq,
        normWeight: fuse.normIn ? bufs.norm : undefined,
      });
      const mv = createMatVecQ8(ctx, {
        type,
        rows,
        cols,
        fuse,
        variant: spec.variant,
        products: spec.products,
        quantizeOut: spec.quantizeOut,
      }).bind({
        weight,
        input: bufs.xq,
        output: bufs.outs[0]!,
        output1: bufs.outs[1],
        output2: bufs.outs[2],
        quantizedOutput: spec.quantizeOut ? bufs.yq : undefined,
        quantizeNormWeight: spec.quantizeOut === 'normed' ? bufs.gOut : undefined,
      });
      submit(quantize, mv);
      const parts = await Promise.all(bufs.outs.map((b, i) => readF32(ctx, b, split[i]!)));
      const y = new Float32Array(outRows);
      let at = 0;
      for (const p of parts) {
        y.set(p, at);
        at += p.length;
      }
      const xq = await readQ8(bufs.xq, cols);
      let ss = 0;
      for (const v of x) ss += v * v;
      const inv = fuse.normIn ? 1 / Math.sqrt(ss / cols + EPS) : 1;
      const ref = referenceMatmul(w.values, rows, cols, dequantizeQ8(xq), 1);
      let quantized: { got: Q8; want: Q8 } | undefined;
      if (spec.quantizeOut) {
        submit(
          createQuantizeQ8(ctx, { cols: outRows, norm: spec.quantizeOut === 'normed' }).bind({
            input: bufs.outs[0]!,
            output: bufs.yqRef,
            normWeight: spec.quantizeOut === 'normed' ? bufs.gOut : undefined,
          }),
        );
        quantized = { got: await readQ8(bufs.yq, outRows), want: await readQ8(bufs.yqRef, outRows) };
      }
      return { x, xq, y, before, inv, ref, quantized };
    } finally {
      for (const p of weight.parts) p.buffer.destroy();
      for (const b of Object.values(bufs).flat()) b.destroy();
    }
  }

  describe.each(INT8_TYPES.map((t) => [t.name, t.id] as const))('%s', (_name, type) => {
    const qk = getGpuQuantType(type).rowMultiple;
    it('normIn: 1/rms from the blocks’ sums of squares equals norm-then-quantize, in every mode', async () => {
      const cols = 3 * qk;
      for (const variant of [
        ...VARIANTS.map(([, v]) => v),
        ...(SWAR_TYPES.has(type) ? [{ products: 'swar' }, { products: 'dot4' }] : []),
      ]) {
        const { products, ...v } = variant as Partial<MatmulVariant> & { products?: Int8Products };
        const r = await runFused({ type, rows: 37, cols, fuse: { normIn: { eps: EPS } }, variant: v, products });
        for (let i = 0; i < 37; i++) {
          const want = r.ref.y[i]! * r.inv;
          const bound = tolerance(type, cols) * r.ref.mag[i]! * r.inv + 1e-6 * r.ref.mag[i]! * r.inv;
          expect(Math.abs(r.y[i]! - want), `row ${i} ${JSON.stringify(variant)}`).toBeLessThanOrEqual(bound);
        }
        // The blocks keep Σx² of x itself, not of G∘x.
        for (let b = 0; b < cols / 32; b++) {
          let s = 0;
          for (let i = 0; i < 32; i++) s += r.x[32 * b + i]! ** 2;
          expect(Math.abs(r.xq.ss![b]! - s)).toBeLessThanOrEqual(s * 1e-6);
        }
      }
    });
  });

  it('normIn against the f32 norm: within int8 rounding of W·(G∘x/rms)', async () => {
    const type = GGMLType.Q8_0;
    const cols = 256;
    const r = await runFused({ type, rows: 40, cols, fuse: { normIn: { eps: EPS } } });
    const w = makeWeight(type, 40, cols, 40 * 7 + cols);
    const g = Float32Array.from(randomValues(cols, 40 * 7 + cols + 2), (v) => 0.5 + Math.abs(v));
    const xn = Float32Array.from(r.x, (v, i) => v * g[i]! * r.inv);
    const f32 = referenceMatmul(w.values, 40, cols, xn, 1);
    for (let i = 0; i < 40; i++) expect(Math.abs(r.y[i]! - f32.y[i]!)).toBeLessThan(0.02 * f32.mag[i]!);
  });

  it.each([['silu'], ['gelu'], ['relu2']] as const)('glu %s: act(gate)·up from [gate; up] rows, with normIn', async (glu) => {
    for (const type of [GGMLType.Q4_K, GGMLType.I2_S, GGMLType.Q8_0]) {
      const qk = getGpuQuantType(type).rowMultiple;
      const rows = 2 * 45;
      const r = await runFused({ type, rows, cols: 2 * qk, fuse: { normIn: { eps: EPS }, glu } });
      const tol = tolerance(type, 2 * qk);
      for (let i = 0; i < rows / 2; i++) {
        const gate = r.ref.y[i]! * r.inv;
        const up = r.ref.y[i + rows / 2]! * r.inv;
        const dg = tol * r.ref.mag[i]! * r.inv;
        const du = tol * r.ref.mag[i + rows / 2]! * r.inv;
        const bound = (Math.max(1.2, 2 * Math.abs(gate) + 2 * dg) * dg * (Math.abs(up) + du) + Math.abs(act[glu](gate)) * du) * 1.01 + 1e-6;
        expect(Math.abs(r.y[i]! - act[glu](gate) * up), `${GGMLType[type]} row ${i}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('split: Q/K/V rows go to three outputs (and two)', async () => {
    for (const [type, split] of [
      [GGMLType.Q6_K, [64, 32, 32]],
      [GGMLType.TQ1_0, [40, 24]],
    ] as const) {
      const cols = getGpuQuantType(type).rowMultiple;
      const rows = split.reduce((a, b) => a + b, 0);
      const r = await runFused({ type, rows, cols, fuse: { normIn: { eps: EPS }, split } });
      for (let i = 0; i < rows; i++)
        expect(Math.abs(r.y[i]! - r.ref.y[i]! * r.inv), `${GGMLType[type]} row ${i}`).toBeLessThanOrEqual(
          (tolerance(type, cols) + 1e-6) * r.ref.mag[i]! * r.inv,
        );
    }
  });

  describe('quantizeOut: the stored outputs quantized as the quantizer would', () => {
    const cases: [string, FusedSpec][] = [
      ['plain, 96 rows (a partial workgroup)', { type: GGMLType.Q4_0, rows: 96, cols: 64, fuse: {}, quantizeOut: 'plain' }],
      [
        'normed after addOut (the residual)',
        { type: GGMLType.Q4_K, rows: 160, cols: 256, fuse: { normIn: { eps: EPS }, addOut: true }, quantizeOut: 'normed' },
      ],
      [
        'normed after glu (BitNet sub-norm)',
        { type: GGMLType.I2_S, rows: 2 * 96, cols: 128, fuse: { glu: 'relu2' }, quantizeOut: 'normed' },
      ],
      ['SWAR products', { type: GGMLType.TQ2_0, rows: 64, cols: 256, fuse: { addOut: true }, quantizeOut: 'plain', products: 'swar' }],
      [
        'dot4 products, 32 rows per workgroup',
        {
          type: GGMLType.Q8_0,
          rows: 224,
          cols: 96,
          fuse: {},
          quantizeOut: 'normed',
          variant: { mode: 'thread-row', rowsPerThread: 2, workgroupSize: 16 },
        },
      ],
      [
        'workgroup-memory reduction',
        {
          type: GGMLType.Q6_K,
          rows: 64,
          cols: 256,
          fuse: { addOut: true },
          quantizeOut: 'normed',
          variant: { mode: 'workgroup-row', workgroupSize: 64, threadsPerRow: 2, rowsPerThread: 1 },
        },
      ],
    ];
    it.each(cases)('%s', async (_label, spec) => {
      const r = await runFused(spec);
      const { got, want } = r.quantized!;
      expect(Array.from(got.q)).toEqual(Array.from(want.q));
      expect(Array.from(got.d)).toEqual(Array.from(want.d));
      expect(Array.from(got.s)).toEqual(Array.from(want.s));
      expect(Array.from(got.n)).toEqual(Array.from(want.n));
      expect(Array.from(got.ss!)).toEqual(Array.from(want.ss!));
      expect(want.d.every((d) => d > 0)).toBe(true);
    });

    it('is refused where a workgroup does not cover whole 32-row blocks, or with split', () => {
      expect(() =>
        createMatVecQ8(ctx, {
          type: GGMLType.Q8_0,
          rows: 64,
          cols: 32,
          quantizeOut: 'plain',
          variant: { mode: 'thread-row', rowsPerThread: 3, workgroupSize: 16 },
        }),
      ).toThrow(RangeError);
      expect(() => createMatVecQ8(ctx, { type: GGMLType.Q8_0, rows: 48, cols: 32, quantizeOut: 'plain' })).toThrow(RangeError);
      expect(() =>
        createMatVecQ8(ctx, { type: GGMLType.Q8_0, rows: 64, cols: 32, quantizeOut: 'plain', fuse: { split: [32, 32] } }),
      ).toThrow(RangeError);
    });
  });
});
