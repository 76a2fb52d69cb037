/**
 * Mutation fuzzing of real fixture headers: byte flips, truncations, inflated lengths and counts,
 * changed type tags. Every case must either parse or throw GGUFFormatError /
 * UnsupportedTensorTypeError (message naming a byte offset), quickly, without requesting more than
 * the file's bytes or growing memory. FUZZ_RUNS scales the run count (default 400 per property).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { GGUFFormatError, UnsupportedTensorTypeError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import type { ByteSource } from '../../src/io/byte-source.ts';
import { localModel } from '../helpers/fixtures.ts';
import { setU32, setU64, smallFile, walkFields, type Field } from './craft.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const CASE_TIME_LIMIT_MS = 1000;
const MEMORY_GROWTH_LIMIT = 64 * 1024 * 1024;

interface Subject {
  name: string;
  bytes: Uint8Array;
  headerEnd: number;
  fields: Field[];
}

const subjects: Subject[] = [
  ...['stories260K-Q4_0.gguf', 'TinyStories-656K-Q8_0.gguf', 'tinystories-bitnet-3M-I2_S.gguf'].map((f) => {
    const bytes = new Uint8Array(readFileSync(localModel(f)));
    return { name: f, bytes, ...walk(bytes) };
  }),
  await smallFile().then((bytes) => ({ name: 'small.gguf', bytes, ...walk(bytes) })),
];

function walk(bytes: Uint8Array): { headerEnd: number; fields: Field[] } {
  const w = walkFields(bytes);
  return { headerEnd: w.headerEnd, fields: w.fields };
}

const stats = { cases: 0, parsed: 0, formatErrors: 0, unsupported: 0, maxMs: 0, totalMs: 0, maxRequested: 0 };
afterAll(() => {
  console.log(
    `fuzz: ${stats.cases} cases, ${stats.parsed} parsed, ${stats.formatErrors} GGUFFormatError, ${stats.unsupported} UnsupportedTensorTypeError; ` +
      `max ${stats.maxMs.toFixed(1)} ms/case, total ${(stats.totalMs / 1000).toFixed(2)} s, max bytes requested ${stats.maxRequested}`,
  );
});

/** Parse `bytes`, asserting the outcome is a parse or a typed error, in bounded time and memory. */
async function check(bytes: Uint8Array, label: string): Promise<void> {
  let requested = 0;
  const source: ByteSource = {
    name: label,
    size: bytes.length,
    read: async (offset, length) => {
      requested += length;
      if (offset < 0 || length < 0 || offset + length > bytes.length)
        throw new Error(`reader asked for [${offset}, +${length}) outside ${bytes.length} bytes`);
      return bytes.subarray(offset, offset + length);
    },
  };
  const before = process.memoryUsage();
  const t0 = performance.now();
  let outcome: unknown;
  try {
    await readGGUF(source);
    outcome = 'parsed';
  } catch (e) {
    outcome = e;
  }
  const ms = performance.now() - t0;
  const after = process.memoryUsage();
  stats.cases++;
  stats.totalMs += ms;
  stats.maxMs = Math.max(stats.maxMs, ms);
  stats.maxRequested = Math.max(stats.maxRequested, requested);
  if (outcome === 'parsed') stats.parsed++;
  else if (outcome instanceof UnsupportedTensorTypeError) stats.unsupported++;
  else if (outcome instanceof GGUFFormatError) stats.formatErrors++;
  else throw new Error(`${label}: unexpected ${String((outcome as Error)?.stack ?? outcome)}`);
  if (outcome !== 'parsed') expect((outcome as Error).message).toMatch(/at byte \d+/);
  expect(ms, `${label} took ${ms} ms`).toBeLessThan(CASE_TIME_LIMIT_MS);
  expect(requested).toBeLessThanOrEqual(bytes.length);
  expect(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers).toBeLessThan(MEMORY_GROWTH_LIMIT);
}

const u64Values = fc.oneof(
  fc.constantFrom(0n, 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 4n * 1024n * 1024n }),
);

type Mutation = (bytes: Uint8Array, s: Subject) => Uint8Array;

const byteFlips = (s: Subject) =>
  fc
    .array(fc.tuple(fc.nat({ max: s.headerEnd - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
    .map((flips): Mutation => (b) => {
      for (const [pos, v] of flips) b[pos] = v;
      return b;
    });

const truncation = (s: Subject) =>
  fc.nat({ max: Math.min(s.bytes.length, s.headerEnd + 64 * 1024) }).map(
    (cut): Mutation =>
      (b) =>
        b.subarray(0, cut),
  );

const inflation = (s: Subject) => {
  const lengthFields = s.fields.filter((f) => f.width === 8);
  return fc.tuple(fc.constantFrom(...lengthFields), u64Values, fc.integer({ min: -2, max: 2 })).map(([f, v, nudge]): Mutation => (b) => {
    // Also try "just past what is left": the boundary case for length checks.
    const boundary = BigInt(Math.max(0, b.length - f.offset - 8 + nudge));
    return setU64(b, f.offset, nudge === 0 ? v : boundary);
  });
};

const typeTags = (s: Subject) => {
  const tagFields = s.fields.filter((f) => ['value_type', 'array_item_type', 'tensor_type', 'n_dims'].includes(f.kind));
  return fc.tuple(fc.constantFrom(...tagFields), fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 0xffffffff }))).map(
    ([f, v]): Mutation =>
      (b) =>
        setU32(b, f.offset, v),
  );
};

const combined = (s: Subject) =>
  fc.array(fc.oneof(byteFlips(s), inflation(s), typeTags(s)), { minLength: 2, maxLength: 4 }).chain((ms) =>
    truncation(s).map(
      (cut): Mutation =>
        (b, subj) =>
          cut(
            ms.reduce((acc, m) => m(acc, subj), b),
            subj,
          ),
    ),
  );

const kinds = { 'byte flips': byteFlips, truncation, 'length and count inflation': inflation, 'type tag changes': typeTags, combined };

describe('fuzzing real GGUF headers', () => {
  for (const s of subjects) {
    for (const [kind, arb] of Object.entries(kinds)) {
      it(`${s.name}: ${kind}`, async () => {
        await fc.assert(
          fc.asyncProperty(arb(s), async (mutate) => {
            await check(mutate(s.bytes.slice(), s), `${s.name}/${kind}`);
          }),
          { numRuns: RUNS },
        );
      }, 120_000);
    }
  }

  it('every truncation point of a real header (stride 3)', async () => {
    const s = subjects[0]!;
    for (let cut = 0; cut <= s.headerEnd + 64; cut += 3) await check(s.bytes.subarray(0, cut), `${s.name}/cut@${cut}`);
  }, 120_000);
});
