/**
 * A 150k-token vocabulary (Qwen's 151,936 tokens and its merges) must load within the JS memory
 * the issue allows a whole model load (2 chunks of 16 MiB): the header keeps its string arrays
 * packed and the tokenizer keeps the vocabulary packed, so what stays after the load is a few
 * MiB, not one JS string per token and merge (~16 MiB retained before). Measured in a child
 * process so GC can be forced.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { readGGUFFile, writeVocabGGUF } from './helpers.ts';

const MiB = 1024 * 1024;
const tmp = mkdtempSync(join(tmpdir(), 'lowbit-tok-mem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loading a 151,936-token vocabulary', () => {
  test('the header keeps the vocabulary and merges packed, and the load retains under 8 MiB', async () => {
    const path = await writeVocabGGUF(join(tmp, 'qwen3-vocab.gguf'), await tokenizerMetadata('qwen3', 151936));

    const header = await readGGUFFile(path);
    for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.merges']) {
      const arr = header.getArray(key)!;
      expect(arr.itemType).toBe(GGUFValueType.STRING);
      const packed = arr.packedStrings;
      expect(packed, key).toBeDefined();
      expect(packed!.length).toBeGreaterThan(100_000);
    }

    const args = ['--expose-gc', '--import', './src/node/register.js', 'test/tokenizer/load-memory-probe.ts', path];
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, maxBuffer: MiB });
    const r = JSON.parse(stdout) as { vocabSize: number; peak: number; retained: number; encoded: number };
    expect(r.vocabSize).toBe(151936);
    expect(r.encoded).toBeGreaterThan(0);
    expect(r.retained).toBeLessThan(8 * MiB);
    expect(r.peak).toBeLessThan(32 * MiB);
  });
});
