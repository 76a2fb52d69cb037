import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { pseudoRandomBytes, sameBytes } from '../storage/helpers.ts';

let tmp: string;
let path: string;
const data = pseudoRandomBytes(300_000, 21);
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-file-source-'));
  path = join(tmp, 'bytes.bin');
  await writeFile(path, data);
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('FileByteSource transient readers', () => {
  it('alternate two buffers per reader, keep readers apart, and pass a closed reader’s buffers to the next', async () => {
    const file = await FileByteSource.open(path);
    try {
      const a = file.transientReader();
      const b = file.transientReader();
      const p0 = await a.read(0, 1000);
      const p1 = await a.read(1000, 1000);
      const q0 = await b.read(5000, 1000); // another stream between a's reads
      expect(sameBytes(p0, data.subarray(0, 1000))).toBe(true); // intact until a's next-but-one read
      expect(sameBytes(p1, data.subarray(1000, 2000))).toBe(true);
      expect(sameBytes(q0, data.subarray(5000, 6000))).toBe(true);
      expect(new Set([p0.buffer, p1.buffer, q0.buffer]).size).toBe(3);
      const p2 = await a.read(2000, 1000);
      expect(p2.buffer).toBe(p0.buffer);
      expect(sameBytes(p2, data.subarray(2000, 3000))).toBe(true);
      // A bigger piece grows the buffer it lands in; the bytes are right either way.
      const big = await a.read(10_000, 200_000);
      expect(sameBytes(big, data.subarray(10_000, 210_000))).toBe(true);
      a.close();
      await expect(a.read(0, 10)).rejects.toThrow(/closed/);
      await new Promise((r) => setTimeout(r, 0)); // given back once a's reads have settled
      const c = file.transientReader();
      const r0 = await c.read(100, 10);
      expect([p0.buffer, big.buffer]).toContain(r0.buffer); // p1's buffer was replaced when it grew
      expect(sameBytes(r0, data.subarray(100, 110))).toBe(true);
      await expect(c.read(299_990, 20)).rejects.toThrow(RangeError);
      b.close();
      c.close();
    } finally {
      await file.close();
    }
  });
});
