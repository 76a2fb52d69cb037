// CPU side of the int8-activation tests (matvec-q8, matvec-q8-tokens, matmul-q8): a model of the
// activation quantizer, its GPU output read back and dequantized, and a one-pass submit.
import { readF32 } from '../../src/gpu/buffers.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { quantizedActivationBytes, Q8_BLOCK_BYTES } from '../../src/kernels/matvec-q8.ts';
import type { StepShape } from '../../src/kernels/common.ts';

/** Quantized activations: per 32-block int8 codes, scale d and sum s = d·Σq. */
export interface Q8 {
  q: Int8Array;
  d: Float32Array;
  s: Float32Array;
  /** Σq per block. */
  n: Int32Array;
  /** Σx² per block of the input before a norm weight multiplied it (read back only). */
  ss?: Float32Array;
}

/** CPU model of quantize_q8.wgsl: d = max|x|/127, q = roundf(x·(1/d)), s = d·Σq, all in f32. */
export function quantizeQ8Cpu(x: Float32Array): Q8 {
  const nb = x.length / 32;
  const out: Q8 = { q: new Int8Array(x.length), d: new Float32Array(nb), s: new Float32Array(nb), n: new Int32Array(nb) };
  const f = Math.fround;
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]!));
    const d = f(amax / 127);
    const id = d > 0 ? f(1 / d) : 0;
    let sum = 0;
    for (let i = 0; i < 32; i++) {
      const t = f(x[32 * b + i]! * id);
      const q = Math.sign(t) * Math.floor(Math.abs(t) + 0.5);
      out.q[32 * b + i] = q;
      sum += q;
    }
    out.d[b] = d;
    out.s[b] = f(d * sum);
    out.n[b] = sum;
  }
  return out;
}

/** The quantizer's output buffer read back: Q8_BLOCK_BYTES a block (32 int8, d, s, Σq, padding, SWAR lanes). */
export async function readQ8(ctx: GpuContext, buffer: GPUBuffer, cols: number): Promise<Q8> {
  const raw = await readF32(ctx, buffer, quantizedActivationBytes(cols) / 4);
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  const nb = cols / 32;
  const out: Q8 = {
    q: new Int8Array(cols),
    d: new Float32Array(nb),
    s: new Float32Array(nb),
    n: new Int32Array(nb),
    ss: new Float32Array(nb),
  };
  for (let b = 0; b < nb; b++) {
    out.ss![b] = raw[(Q8_BLOCK_BYTES / 4) * b + 11]!;
    out.q.set(new Int8Array(bytes.buffer, bytes.byteOffset + Q8_BLOCK_BYTES * b, 32), 32 * b);
    out.d[b] = raw[(Q8_BLOCK_BYTES / 4) * b + 8]!;
    out.s[b] = raw[(Q8_BLOCK_BYTES / 4) * b + 9]!;
    out.n[b] = new Int32Array(raw.buffer, raw.byteOffset, raw.length)[(Q8_BLOCK_BYTES / 4) * b + 10]!;
  }
  return out;
}

/** The activations a quantized vector stands for: d·q per element. */
export function dequantizeQ8(x: Q8): Float32Array {
  return Float32Array.from(x.q, (q, i) => q * x.d[i >> 5]!);
}

/** Encodes `calls` (with `step`, when given) in one pass and submits it. */
export function submitOn(ctx: GpuContext, ...calls: { encode(p: GPUComputePassEncoder, step?: StepShape): void }[]): void {
  submitStep(ctx, undefined, ...calls);
}

export function submitStep(
  ctx: GpuContext,
  step: StepShape | undefined,
  ...calls: { encode(p: GPUComputePassEncoder, step?: StepShape): void }[]
): void {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const c of calls) c.encode(pass, step);
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
}
