import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as quant from '../../src/quant/index.ts';
import { haveShared, repoRoot, sharedPath } from '../helpers/fixtures.ts';
import { loadModel, rng } from './helpers.ts';

// Differential test against ggml's own C code: node-llama-cpp (the project's llama.cpp oracle)
// ships libggml-base, which exports quantize_row_*_ref and dequantize_row_*. A tiny C helper
// (oracle/ggml-row-oracle.c) loads it and runs one row function on stdin. Runs where a C compiler
// and the library for this platform exist; that library is a newer ggml than the fixtures' (the
// reference row functions are unchanged between the two).

const platform = `${process.platform}-${process.arch}`;
const libPath = join(repoRoot, 'node_modules/@node-llama-cpp', platform, 'bins', platform, 'libggml-base.so');

function buildOracle(): string | null {
  if (!existsSync(libPath)) return null;
  if (spawnSync('cc', ['--version']).status !== 0) return null;
  const exe = join(mkdtempSync(join(tmpdir(), 'lowbit-oracle-')), 'ggml-row-oracle');
  afterAll(() => rmSync(dirname(exe), { recursive: true, force: true }));
  const built = spawnSync('cc', ['-O1', '-o', exe, join(repoRoot, 'test/quant/oracle/ggml-row-oracle.c'), '-ldl']);
  return built.status === 0 ? exe : null;
}

const oracle = buildOracle();
if (!oracle) console.warn(`NOTE: ggml oracle tests skipped (needs cc and ${libPath})`);

function runOracle(mode: 'q' | 'd', symbol: string, n: number, input: Uint8Array, bytes: number): Uint8Array {
  const out = execFileSync(oracle!, [mode, symbol, String(n), String(bytes)], {
    input,
    env: { ...process.env, GGML_BASE: libPath },
    maxBuffer: 1 << 28,
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Twelve kinds of 256-value blocks, round-robin: the cases where rounding and search paths differ. */
function varied(nBlocks: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(nBlocks * 256);
  for (let i = 0; i < x.length; i++) {
    const block = i >> 8;
    switch (block % 12) {
      case 0:
        x[i] = r.gauss() * 0.02;
        break;
      case 1:
        x[i] = r.gauss() ** 3;
        break;
      case 2:
        x[i] = 0;
        break;
      case 3:
        x[i] = 0.5;
        break;
      case 4:
        x[i] = i % 32 === 7 ? -3 : 0;
        break;
      case 5:
        x[i] = r.gauss() * 1e-6;
        break;
      case 6:
        x[i] = -Math.abs(r.gauss());
        break;
      case 7:
        x[i] = Math.abs(r.gauss()) * 1e3;
        break;
      case 8:
        x[i] = Math.round(r.gauss() * 4) / 4;
        break;
      case 9:
        x[i] = (r.next() < 0.3 ? 0 : 1) * (r.next() < 0.5 ? -1 : 1) * 0.125;
        break;
      case 10:
        x[i] = r.gauss() * 1e-9;
        break;
      case 11:
        x[i] = (i % 3) - 1 + r.gauss() * 1e-3;
        break;
    }
  }
  return x;
}

const TYPES: Array<[string, string]> = [
  ['Q4_0', 'q4_0'],
  ['Q4_1', 'q4_1'],
  ['Q5_0', 'q5_0'],
  ['Q5_1', 'q5_1'],
  ['Q8_0', 'q8_0'],
  ['Q2_K', 'q2_K'],
  ['Q3_K', 'q3_K'],
  ['Q4_K', 'q4_K'],
  ['Q5_K', 'q5_K'],
  ['Q6_K', 'q6_K'],
  ['TQ1_0', 'tq1_0'],
  ['TQ2_0', 'tq2_0'],
];

/** Types lowbit only reads (llama-quantize makes them with an importance matrix): dequantize only. */
const READ_ONLY_TYPES: Array<[string, string]> = [
  ['IQ4_NL', 'iq4_nl'],
  ['IQ4_XS', 'iq4_xs'],
  ['IQ3_S', 'iq3_s'],
  ['IQ3_XXS', 'iq3_xxs'],
  ['IQ2_XXS', 'iq2_xxs'],
  ['IQ2_XS', 'iq2_xs'],
  ['IQ2_S', 'iq2_s'],
  ['IQ1_S', 'iq1_s'],
  ['IQ1_M', 'iq1_m'],
];

function sameFloatBits(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) bad++;
  return bad;
}

describe.skipIf(!oracle)('ggml C oracle (libggml-base from node-llama-cpp)', () => {
  const nBlocks = 48;
  const n = nBlocks * 256;
  const x = varied(nBlocks, 99);

  for (const [name, sym] of TYPES) {
    it(`${name}: quantize_row_${sym}_ref bytes and dequantize_row_${sym} bits match on varied and random data`, () => {
      const type = quant.getQuantType(quant.quantLayoutByName(name)!.id);
      const mine = type.quantize!(x);
      const theirs = runOracle('q', `quantize_row_${sym}_ref`, n, new Uint8Array(x.buffer), mine.length);
      let badBlocks = 0;
      const bb = type.layout.blockBytes;
      for (let b = 0; b < mine.length / bb; b++) {
        for (let i = 0; i < bb; i++) {
          if (mine[b * bb + i] !== theirs[b * bb + i]) {
            badBlocks++;
            break;
          }
        }
      }
      expect(badBlocks).toBe(0);
      // Decode ggml's bytes and random bytes (random f16 scales include NaN, inf and subnormals).
      const r = rng(7);
      const noise = new Uint8Array(mine.length).map(() => r.int(256));
      for (const bytes of [theirs, noise]) {
        const ref = runOracle('d', `dequantize_row_${sym}`, n, bytes, bytes.length);
        expect(sameFloatBits(type.dequantize!(bytes, n), new Float32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + 4 * n)))).toBe(
          0,
        );
      }
    });
  }

  it('Q2_K … Q6_K: bytes match on 2048 blocks of random shape and scale (the scale searches skip work they prove idle)', () => {
    const r = rng(123);
    const count = 2048 * 256;
    const values = new Float32Array(count);
    for (let b = 0; b < count; b += 256) {
      const scale = 10 ** (r.next() * 12 - 8);
      const skew = r.next() * 2 - 1;
      for (let i = b; i < b + 256; i++) values[i] = scale * (r.gauss() + skew * Math.abs(r.gauss()));
    }
    for (const [name, sym] of TYPES.filter(([t]) => t.endsWith('_K'))) {
      const mine = quant.getQuantType(quant.quantLayoutByName(name)!.id).quantize!(values);
      const theirs = runOracle('q', `quantize_row_${sym}_ref`, count, new Uint8Array(values.buffer), mine.length);
      expect(Buffer.compare(Buffer.from(mine), Buffer.from(theirs)), name).toBe(0);
    }
  });

  it('Q8_K: quantize_row_q8_K_ref and dequantize_row_q8_K', () => {
    const mine = quant.quantizeQ8_K(x);
    const theirs = runOracle('q', 'quantize_row_q8_K_ref', n, new Uint8Array(x.buffer), mine.length);
    expect(Buffer.compare(Buffer.from(mine), Buffer.from(theirs))).toBe(0);
    const ref = runOracle('d', 'dequantize_row_q8_K', n, theirs, theirs.length);
    expect(sameFloatBits(quant.dequantizeQ8_K(theirs, n), new Float32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + 4 * n)))).toBe(
      0,
    );
  });

  it('f32 → f16 and f32 → bf16 rows agree on 2^18 random bit patterns, NaNs included', () => {
    const r = rng(5);
    const bits = new Uint32Array(1 << 18).map(() => Math.floor(r.next() * 2 ** 32));
    const values = new Float32Array(bits.buffer);
    const input = new Uint8Array(bits.buffer);
    expect(
      Buffer.compare(
        Buffer.from(quant.quantizeF16(values)),
        Buffer.from(runOracle('q', 'ggml_fp32_to_fp16_row', bits.length, input, 2 * bits.length)),
      ),
    ).toBe(0);
    expect(
      Buffer.compare(
        Buffer.from(quant.quantizeBF16(values)),
        Buffer.from(runOracle('q', 'ggml_fp32_to_bf16_row_ref', bits.length, input, 2 * bits.length)),
      ),
    ).toBe(0);
  });

  for (const [name, sym] of READ_ONLY_TYPES) {
    it(`${name}: dequantize_row_${sym} bits match on random blocks and on llama-quantize's fixtures`, async () => {
      const layout = quant.quantLayoutByName(name)!;
      // 1024 random super-blocks draw every codebook entry (the largest grid, IQ1_S's 2048 entries,
      // gets 32 draws a block): each grid is checked entry by entry against ggml's.
      const r = rng(11);
      const nRandom = 1024 * 256;
      const noise = new Uint8Array((nRandom / layout.blockSize) * layout.blockBytes).map(() => r.int(256));
      const cases: Array<[string, Uint8Array, number]> = [['random', noise, nRandom]];
      // llama-quantize's tensors of the type, from whichever IQ fixture holds them (its mixes
      // put IQ2_S tensors in the IQ3_XXS file, none in the IQ2_S one).
      if (haveShared()) {
        const dir = sharedPath('models', 'importance-quantized');
        const parts: Uint8Array[] = [];
        let count = 0;
        for (const file of readdirSync(dir).filter((f) => f.endsWith('.gguf'))) {
          const model = await loadModel(join(dir, file));
          for (const t of model.file.tensors.filter((x) => x.typeId === layout.id)) {
            parts.push(model.raw(t));
            count += t.nElements;
          }
        }
        expect(parts.length).toBeGreaterThan(0);
        // All of them as one row: each tensor is whole blocks.
        cases.push(['fixtures', Buffer.concat(parts), count]);
      }
      for (const [what, bytes, count] of cases) {
        const ref = runOracle('d', `dequantize_row_${sym}`, count, bytes, bytes.length);
        const theirs = new Float32Array(ref.buffer.slice(ref.byteOffset, ref.byteOffset + 4 * count));
        expect(sameFloatBits(quant.getQuantType(layout.id).dequantize!(bytes, count), theirs), what).toBe(0);
      }
    });
  }
});
