// The importance-matrix file formats (issue 12 item 4): llama.cpp's GGUF imatrix (key and tensor
// names as llama-imatrix writes them) and its legacy .dat, written and read back, and hostile
// files refused with a GGUFFormatError.
import { describe, expect, test } from 'vitest';
import { GGUFFormatError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import {
  decodeLegacyImatrix,
  encodeLegacyImatrix,
  imatrixGGUFSpec,
  importanceWeights,
  readImatrix,
  type Imatrix,
} from '../../src/quant/imatrix.ts';
import { GGMLType } from '../../src/quant/types.ts';

function sample(): Imatrix {
  const cols = 8;
  const mk = (seed: number) => Float32Array.from({ length: cols }, (_, i) => (i + 1) * seed + 0.125);
  return {
    entries: new Map([
      ['blk.1.ffn_down.weight', { sum2: mk(3), sum: mk(-1), counts: [512] }],
      ['blk.0.attn_q.weight', { sum2: mk(2), sum: mk(0.5), counts: [512] }],
    ]),
    datasets: ['heldout.txt'],
    chunkCount: 2,
    chunkSize: 256,
  };
}

const source = (bytes: Uint8Array, name = 'imatrix.gguf') => new BufferByteSource(bytes, name);

describe('GGUF imatrix', () => {
  test("llama-imatrix's layout: general.type, imatrix.* keys, sorted <name>.in_sum2 / .counts / .in_sum F32 tensors", async () => {
    const bytes = await writeGGUFToBytes(imatrixGGUFSpec(sample()));
    const f = await readGGUF(source(bytes));
    expect(f.getString('general.type')).toBe('imatrix');
    expect(f.getNumber('imatrix.chunk_count')).toBe(2);
    expect(f.getNumber('imatrix.chunk_size')).toBe(256);
    expect(f.getArray('imatrix.datasets')?.items).toEqual(['heldout.txt']);
    expect(f.tensors.map((t) => [t.name, t.dims, t.typeId])).toEqual([
      ['blk.0.attn_q.weight.in_sum2', [8, 1], GGMLType.F32],
      ['blk.0.attn_q.weight.counts', [1, 1], GGMLType.F32],
      ['blk.0.attn_q.weight.in_sum', [8, 1], GGMLType.F32],
      ['blk.1.ffn_down.weight.in_sum2', [8, 1], GGMLType.F32],
      ['blk.1.ffn_down.weight.counts', [1, 1], GGMLType.F32],
      ['blk.1.ffn_down.weight.in_sum', [8, 1], GGMLType.F32],
    ]);
  });

  test('round trip: what is written is read back exactly', async () => {
    const m = sample();
    const back = await readImatrix(source(await writeGGUFToBytes(imatrixGGUFSpec(m))));
    expect(back.datasets).toEqual(m.datasets);
    expect(back.chunkCount).toBe(2);
    expect(back.chunkSize).toBe(256);
    expect([...back.entries.keys()]).toEqual(['blk.0.attn_q.weight', 'blk.1.ffn_down.weight']);
    for (const [name, e] of m.entries) expect(back.entries.get(name)).toEqual(e);
    // quant_weights = Σx² / count, as llama-quantize computes them
    expect(importanceWeights(back, 'blk.0.attn_q.weight')![3]).toBeCloseTo((4 * 2 + 0.125) / 512, 9);
    expect(importanceWeights(back, 'output.weight')).toBeUndefined();
  });

  test('read from a view into a larger buffer (a Node Buffer from readFile): the values, not the bytes before them', async () => {
    const bytes = await writeGGUFToBytes(imatrixGGUFSpec(sample()));
    const pooled = Buffer.alloc(bytes.length + 64, 0x47); // 'G' bytes around the file
    pooled.set(bytes, 32);
    const back = await readImatrix(source(pooled.subarray(32, 32 + bytes.length)));
    expect(back.entries.get('blk.0.attn_q.weight')!.counts).toEqual([512]);
    expect(back.entries.get('blk.0.attn_q.weight')!.sum2).toEqual(sample().entries.get('blk.0.attn_q.weight')!.sum2);
    const dat = encodeLegacyImatrix(sample());
    const pooledDat = Buffer.alloc(dat.length + 64, 0x47);
    pooledDat.set(dat, 32);
    const legacy = await readImatrix(source(pooledDat.subarray(32, 32 + dat.length), 'imatrix.dat'));
    expect(importanceWeights(legacy, 'blk.0.attn_q.weight')![0]).toBeCloseTo((2 + 0.125) / 512, 6);
  });

  test('hostile files: sums without counts, a non-F32 tensor, a model file, nothing usable', async () => {
    const spec = imatrixGGUFSpec(sample());
    const noCounts = { ...spec, tensors: spec.tensors!.filter((t) => !t.name.endsWith('.counts')) };
    await expect(readImatrix(source(await writeGGUFToBytes(noCounts)))).rejects.toThrow(/mismatched sums and counts/);
    const f16 = {
      ...spec,
      tensors: spec.tensors!.map((t) =>
        t.name === 'blk.0.attn_q.weight.counts' ? { ...t, type: GGMLType.F16, dims: [2, 1], data: new Uint8Array(4) } : t,
      ),
    };
    await expect(readImatrix(source(await writeGGUFToBytes(f16)))).rejects.toThrow(GGUFFormatError);
    const model = await writeGGUFToBytes({ metadata: { 'general.type': 'model' }, tensors: [] });
    await expect(readImatrix(source(model))).rejects.toThrow(/not an importance matrix/);
    const empty = await writeGGUFToBytes({ metadata: { 'general.type': 'imatrix' }, tensors: [] });
    await expect(readImatrix(source(empty))).rejects.toThrow(/no importance-matrix tensors/);
  });
});

describe('legacy .dat imatrix', () => {
  test('round trip: the same per-column mean of x² (importance weights)', async () => {
    const m = sample();
    const dat = encodeLegacyImatrix(m);
    const back = await readImatrix(source(dat, 'imatrix.dat'));
    expect(back.datasets).toEqual(['heldout.txt']);
    expect(back.chunkCount).toBe(2);
    for (const name of m.entries.keys()) {
      const want = importanceWeights(m, name)!;
      const got = importanceWeights(back, name)!;
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 6);
    }
  });

  test('an entry with no calls keeps its stored values as the weights, as llama-quantize does', () => {
    const dat = encodeLegacyImatrix(sample());
    const noCalls = dat.slice();
    // entry 0: n_entries(4) + len(4) + 'blk.0.attn_q.weight'(19) → ncall at byte 27, values from 35
    new DataView(noCalls.buffer).setInt32(27, 0, true);
    const stored = new Float32Array(noCalls.slice(35, 35 + 4 * 4).buffer);
    const weights = importanceWeights(decodeLegacyImatrix(noCalls), 'blk.0.attn_q.weight')!;
    expect([...weights.subarray(0, 4)]).toEqual([...stored]);
    expect(weights[0]).not.toBe(1);
  });

  test('truncated or inflated counts are refused before any allocation', () => {
    const dat = encodeLegacyImatrix(sample());
    expect(() => decodeLegacyImatrix(dat.subarray(0, 30))).toThrow(GGUFFormatError);
    const huge = dat.slice();
    new DataView(huge.buffer).setInt32(0, 2 ** 30, true);
    expect(() => decodeLegacyImatrix(huge)).toThrow(/entry count/);
    const longName = dat.slice();
    new DataView(longName.buffer).setInt32(4, 2 ** 31 - 1, true);
    expect(() => decodeLegacyImatrix(longName)).toThrow(/name length/);
    const manyValues = dat.slice();
    // entry 0: n_entries(4) + len(4) + 'blk.0.attn_q.weight'(19) + ncall(4) → nval at byte 31
    new DataView(manyValues.buffer).setInt32(31, 2 ** 30, true);
    expect(() => decodeLegacyImatrix(manyValues)).toThrow(/value count/);
  });
});
