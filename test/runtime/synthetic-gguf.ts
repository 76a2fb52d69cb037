/**
 * Synthetic GGUF models of any size for memory and throughput measurements: weights are a cheap
 * deterministic pattern (not meaningful), written through the GGUF writer's streaming output or
 * generated on the fly by a ByteSource that never touches the disk.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { planGGUF, writeGGUF, type GGUFTensorInput, type GGUFWritePlan } from '../../src/gguf/writer.ts';
import { checkByteRange, type ByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { fillPattern, patternData } from './loader-helpers.ts';

/** Roughly `totalBytes` of Q8_0 matrices (4096 wide), one I2_S matrix and an F32 norm. */
export function syntheticTensors(totalBytes: number): GGUFTensorInput[] {
  const cols = 4096;
  const q8RowBytes = (cols / 32) * 34;
  const rowsPerMatrix = 7000; // 30.5 MB per matrix
  const tensors: GGUFTensorInput[] = [];
  const i2sBytes = (cols * 4096) / 4 + 32;
  const i2sData = async function* () {
    for await (const piece of patternData(i2sBytes - 32, 99)()) yield piece;
    const trailer = new Uint8Array(32);
    new DataView(trailer.buffer).setFloat32(0, 0.5, true);
    yield trailer;
  };
  tensors.push({ name: 'norm.weight', dims: [cols], type: GGMLType.F32, data: patternData(cols * 4, 1) });
  tensors.push({ name: 'ternary.weight', dims: [cols, 4096], type: GGMLType.I2_S, data: i2sData });
  let left = totalBytes - i2sBytes - cols * 4;
  for (let i = 0; left > 0; i++) {
    const rows = Math.max(1, Math.min(rowsPerMatrix, Math.ceil(left / q8RowBytes)));
    tensors.push({ name: `blk.${i}.weight`, dims: [cols, rows], type: GGMLType.Q8_0, data: patternData(rows * q8RowBytes, i + 2) });
    left -= rows * q8RowBytes;
  }
  return tensors;
}

/** Writes a synthetic model to `path` through the writer's stream; returns the plan. */
export async function writeSyntheticGGUF(path: string, totalBytes: number): Promise<GGUFWritePlan> {
  const plan = planGGUF({ metadata: { 'general.architecture': 'synthetic' }, tensors: syntheticTensors(totalBytes) });
  const out = createWriteStream(path);
  for await (const piece of writeGGUF(plan)) {
    if (!out.write(piece)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return plan;
}

/**
 * A model of any size (over 4 GB included) generated on the fly: the header from the writer's plan,
 * tensor bytes from the same pattern as `writeSyntheticGGUF` (the I2_S scale trailer aside), zeros
 * elsewhere. Reads allocate only what they return.
 */
export class SyntheticGGUFSource implements ByteSource {
  readonly name = 'synthetic.gguf';
  readonly size: number;
  readonly plan: GGUFWritePlan;
  constructor(totalBytes: number) {
    this.plan = planGGUF({ metadata: { 'general.architecture': 'synthetic' }, tensors: syntheticTensors(totalBytes) });
    this.size = this.plan.totalSize;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkByteRange(this, offset, length);
    const out = new Uint8Array(length);
    const header = this.plan.header;
    if (offset < header.length) out.set(header.subarray(offset, Math.min(header.length, offset + length)));
    for (const [i, t] of this.plan.tensors.entries()) {
      const start = this.plan.dataOffset + t.offset;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + t.byteSize);
      if (from >= to) continue;
      // Seeds as in syntheticTensors: norm 1, ternary 99, matrices i+2 (i = index - 2).
      const seed = i === 0 ? 1 : i === 1 ? 99 : i;
      fillPattern(out.subarray(from - offset, to - offset), seed, from - start);
    }
    return out;
  }
}
