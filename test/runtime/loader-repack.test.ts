// The streaming loader repacks types with a GPU row layout (TQ2_0, src/quant/gpu-layout.ts) on the
// way: whatever the piece size (cutting blocks, rows and groups anywhere) and however the rows
// are split into parts, each part holds exactly its rows in the GPU layout, as uploadWeight
// makes them, and memory stays a piece plus one segment even for very long rows.
import { describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/gguf/reader.ts';
import { writeGGUFToBytes, type GGUFTensorInput } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { toGpuRows } from '../../src/gpu/weights.ts';
import { loadWeights, planWeights } from '../../src/runtime/loader.ts';
import { getGpuQuantType } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { MemorySink } from './loader-helpers.ts';

/** TQ2_0 blocks of random codes with finite f16 scales. */
function tq2Blocks(nBlocks: number, seed: number): Uint8Array {
  const out = new Uint8Array(nBlocks * 66);
  let x = seed | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  for (let b = 0; b < nBlocks; b++) out[b * 66 + 65]! &= 0x7b; // exponent < 31: finite
  return out;
}

// 7 rows of 5 blocks (a partial group per row), 3 rows of 1 block, 2 rows of 40 blocks
// (longer than one streaming segment), next to an unrepacked Q4_0 tensor.
const TENSORS: GGUFTensorInput[] = [
  { name: 'a.tq2', dims: [256 * 5, 7], type: GGMLType.TQ2_0, data: tq2Blocks(35, 1) },
  { name: 'b.q4_0', dims: [32 * 3, 5], type: GGMLType.Q4_0, data: tq2Blocks(15, 2).subarray(0, 18 * 15) },
  { name: 'c.tq2', dims: [256, 3], type: GGMLType.TQ2_0, data: tq2Blocks(3, 3) },
  { name: 'd.tq2', dims: [256 * 300, 2], type: GGMLType.TQ2_0, data: tq2Blocks(600, 4) },
];

describe('loader: TQ2_0 repacked while streaming', () => {
  it('every part holds its rows in the GPU layout, for pieces that cut blocks anywhere and rows split into parts', async () => {
    for (const pieceBytes of [4096, 4099, 1 << 20]) {
      // Buffers of 700 bytes split a.tq2 (7 rows of 336 bytes) into parts; d.tq2's rows would not fit one.
      for (const maxBufferBytes of [1 << 30, 700]) {
        const file = await writeGGUFToBytes({ tensors: maxBufferBytes === 700 ? TENSORS.slice(0, 3) : TENSORS });
        const gguf = await readGGUF(new BufferByteSource(file, 'f'));
        const sink = new MemorySink(maxBufferBytes);
        const weights = await loadWeights(new BufferByteSource(file, 'odd.gguf'), { sink, pieceBytes });
        expect(sink.unaligned).toBe(0);
        const planned = planWeights(gguf.tensors, 'odd.gguf', sink.maxBufferBytes);
        for (const [i, t] of gguf.tensors.entries()) {
          const w = weights.get(t.name)!;
          const entry = getGpuQuantType(t.typeId);
          expect(w.rowBytes).toBe(entry.gpuRowBytes(w.cols));
          // The plan (memory estimate, fused-weight planning) sees the same rows and parts.
          expect(planned[i]!.rowBytes).toBe(w.rowBytes);
          expect(planned[i]!.parts.map((p) => p.rowCount)).toEqual(w.parts.map((p) => p.rowCount));
          const fileRowBytes = entry.rowBytes(w.cols);
          let row = 0;
          for (const part of w.parts) {
            expect(part.rowStart).toBe(row);
            const fileRows = file.subarray(t.absoluteOffset + part.rowStart * fileRowBytes);
            const want = toGpuRows(t.typeId, fileRows, w.cols, part.rowCount);
            const label = `${t.name} rows ${part.rowStart}+${part.rowCount}, pieces of ${pieceBytes}`;
            expect(Buffer.from(part.buffer.subarray(0, want.length)).equals(want), label).toBe(true);
            expect(part.buffer.subarray(want.length).every((b) => b === 0)).toBe(true);
            row += part.rowCount;
          }
          expect(row).toBe(w.rows);
        }
        if (maxBufferBytes === 700) expect(weights.get('a.tq2')!.parts.length).toBeGreaterThan(1);
      }
    }
  });

  it('a repacked tensor is written in pieces no bigger than a read piece plus one segment', async () => {
    const file = await writeGGUFToBytes({ tensors: [TENSORS[3]!] });
    const sink = new MemorySink();
    const sizes: number[] = [];
    const write = sink.write.bind(sink);
    sink.write = (buffer, offset, bytes) => (sizes.push(bytes.length), write(buffer, offset, bytes));
    await loadWeights(new BufferByteSource(file, 'long.gguf'), { sink, pieceBytes: 4096 });
    // Rows of 300 blocks (19.8 KB in the file) arrive in 4 KiB pieces: no write holds a whole row.
    expect(Math.max(...sizes)).toBeLessThan(getGpuQuantType(GGMLType.TQ2_0).gpuRowBytes(256 * 300));
  });
});
