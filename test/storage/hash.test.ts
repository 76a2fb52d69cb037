import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/storage/crc32.ts';
import { createNodeSha256 } from '../../src/storage/sha256-node.ts';
import { normalizeSha256, Sha256 } from '../../src/storage/sha256.ts';
import { pseudoRandomBytes } from './helpers.ts';

const nodeSha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('incremental SHA-256', () => {
  it('matches the FIPS 180-4 examples', () => {
    const h = (s: string) => {
      const x = new Sha256();
      x.update(new TextEncoder().encode(s));
      return x.hexDigest();
    };
    expect(h('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(h('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(h('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('equals node:crypto for every length around the padding boundaries, in one update', () => {
    const data = pseudoRandomBytes(300, 7);
    for (let n = 0; n <= 300; n++) {
      const x = new Sha256();
      x.update(data.subarray(0, n));
      expect(x.hexDigest(), `length ${n}`).toBe(nodeSha(data.subarray(0, n)));
    }
  });

  it('equals node:crypto for any split of the input into updates (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 8 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const x = new Sha256();
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          x.update(bytes.subarray(prev, p));
          prev = p;
        }
        return x.hexDigest() === nodeSha(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('hashes 64 MiB in odd-sized pieces like node:crypto, and the node wrapper agrees', () => {
    const piece = pseudoRandomBytes(1_000_003, 3);
    const mine = new Sha256();
    const native = createNodeSha256();
    const ref = createHash('sha256');
    for (let done = 0; done < 64 * 1024 * 1024; done += piece.length) {
      mine.update(piece);
      native.update(piece);
      ref.update(piece);
    }
    const want = ref.digest('hex');
    expect(mine.hexDigest()).toBe(want);
    expect(native.hexDigest()).toBe(want);
  });

  it('refuses to be used after digest', () => {
    const x = new Sha256();
    x.hexDigest();
    expect(() => x.update(new Uint8Array(1))).toThrow(/after digest/);
    expect(() => x.hexDigest()).toThrow(/twice/);
  });

  it('normalises user-supplied digests', () => {
    expect(normalizeSha256(' E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 ')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(normalizeSha256('abc')).toBeUndefined();
    expect(normalizeSha256('g'.repeat(64))).toBeUndefined();
  });
});

describe('CRC-32', () => {
  it('matches the check value and a bitwise reference on random data', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const ref = (b: Uint8Array) => {
      let c = ~0;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return ~c >>> 0;
    };
    for (const n of [1, 3, 4, 5, 63, 1000, 4099]) {
      const b = pseudoRandomBytes(n, n);
      expect(crc32(b), `length ${n}`).toBe(ref(b));
      // Continuation: CRC of a split input equals CRC of the whole.
      const half = n >> 1;
      expect(crc32(b.subarray(half), crc32(b.subarray(0, half)))).toBe(ref(b));
    }
  });

  it('changes when one bit flips', () => {
    const b = pseudoRandomBytes(4096, 9);
    const before = crc32(b);
    b[1234]! ^= 0x10;
    expect(crc32(b)).not.toBe(before);
  });
});
