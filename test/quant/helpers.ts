import { readFileSync } from 'node:fs';
import { readGGUF } from '../../src/gguf/reader.ts';
import type { GGUFFile, GGUFTensorInfo } from '../../src/gguf/file.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { dequantizeTensor, type ErrorBound } from '../../src/quant/table.ts';

/** Deterministic PRNG (LCG) so failures reproduce. */
export function rng(seed: number): { next(): number; gauss(): number; int(n: number): number } {
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return {
    next,
    gauss: () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next()),
    int: (n: number) => Math.floor(next() * n),
  };
}

export interface LoadedModel {
  file: GGUFFile;
  bytes: Uint8Array;
  raw(t: GGUFTensorInfo): Uint8Array;
  values(t: GGUFTensorInfo): Float32Array;
}

/** A whole (small) GGUF file in memory with the project's reader on top. */
export async function loadModel(path: string): Promise<LoadedModel> {
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const file = await readGGUF(new BufferByteSource(bytes, path));
  const raw = (t: GGUFTensorInfo) => bytes.subarray(t.absoluteOffset, t.absoluteOffset + t.byteSize);
  return { file, bytes, raw, values: (t) => dequantizeTensor(t.typeId, raw(t), t.nElements, { tensorName: t.name }) };
}

/**
 * Largest violation ratio of `bound` over all groups: max over values of |x − x̂| / (rel·amax + abs).
 * ≤ 1 means the bound holds. A group ≥ the length covers the whole array.
 */
export function boundRatio(x: Float32Array, y: Float32Array, bound: ErrorBound): number {
  let worst = 0;
  const g = Math.min(bound.group, x.length);
  for (let i = 0; i < x.length; i += g) {
    let amax = 0;
    for (let j = i; j < i + g; j++) amax = Math.max(amax, Math.abs(x[j]));
    const allowed = bound.rel * amax + bound.abs;
    for (let j = i; j < i + g; j++) {
      const err = Math.abs(x[j] - y[j]);
      if (!(err <= allowed)) worst = Math.max(worst, allowed > 0 ? err / allowed : Infinity);
      else if (allowed > 0) worst = Math.max(worst, err / allowed);
    }
  }
  return worst;
}

/** First differing byte index, or −1. */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Positions where a[i] !== b[i] numerically (−0 equals +0, as it does for the weights). */
export function numericMismatches(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

/** Bit-level equality of two float arrays (so −0 ≠ +0 and NaN payloads count). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return false;
  return true;
}

export function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

export function fromBits(bits: number): number {
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
}

/** SHA-256 of a whole GGUF file and of each tensor's bytes (so a mismatch can name its tensor). */
export interface GGUFHashes {
  file: string;
  tensors: Record<string, string>;
}

export async function ggufHashes(bytes: Uint8Array): Promise<GGUFHashes> {
  const { createHash } = await import('node:crypto');
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const file = await readGGUF(new BufferByteSource(bytes, 'gguf'));
  const tensors: Record<string, string> = {};
  for (const t of file.tensors) tensors[t.name] = sha(bytes.subarray(t.absoluteOffset, t.absoluteOffset + t.byteSize));
  return { file: sha(bytes), tensors };
}

/**
 * A one-layer llama-shaped F32 GGUF in memory, for the quantizer's job and mixture tests: the named
 * tensors, 256 columns and the given rows each, Gaussian values (σ 0.05) drawn from `seed` in
 * tensor order.
 */
export async function tinyF32Llama(
  seed: number,
  tensors: [name: string, rows: number][],
  fileName: string,
): Promise<{ file: GGUFFile; source: BufferByteSource }> {
  const r = rng(seed);
  const bytes = await writeGGUFToBytes({
    metadata: [
      { key: 'general.architecture', type: GGUFValueType.STRING, value: 'llama' },
      { key: 'llama.block_count', type: GGUFValueType.UINT32, value: 1 },
      { key: 'llama.attention.head_count', type: GGUFValueType.UINT32, value: 8 },
    ],
    tensors: tensors.map(([name, rows]) => ({
      name,
      dims: [256, rows],
      type: GGMLType.F32,
      data: new Uint8Array(Float32Array.from({ length: 256 * rows }, () => 0.05 * r.gauss()).buffer),
    })),
  });
  const source = new BufferByteSource(bytes, fileName);
  return { file: await readGGUF(source), source };
}
