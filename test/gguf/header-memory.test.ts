/**
 * The reader's heap bound: a header of N bytes costs at most 4N + 16 MiB of live JS memory
 * whatever it is made of. Each hostile shape is parsed in a child process (so GC can be forced and
 * the heap capped) whose old space is limited to that bound plus Node's own baseline: a reader
 * that overspends crashes the child instead of passing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
const HEAP_BYTES_PER_HEADER_BYTE = 4,
  HEAP_SLACK_BYTES = 16 * 1024 * 1024;
import { repoRoot } from '../helpers/fixtures.ts';
import { heapBomb, type HeapBombKind } from './craft.ts';

const MiB = 1024 * 1024;
/** Node, tsx and the modules the probe loads, measured at ~20 MiB of old space; with margin. */
const NODE_BASELINE_MIB = 48;
/** The parser's read window (at most 8 MiB, plus the part of the previous window it keeps). */
const READ_WINDOW = 16 * MiB;
const tmp = mkdtempSync(join(tmpdir(), 'lowbit-header-mem-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Probe {
  ok: boolean;
  error?: string;
  message?: string;
  peak: number;
  retained: number;
  kept: boolean;
}

async function probe(kind: HeapBombKind, headerBytes: number): Promise<Probe & { size: number; bound: number }> {
  const bytes = heapBomb(kind, headerBytes);
  const path = join(tmp, `${kind}.gguf`);
  writeFileSync(path, bytes);
  const bound = HEAP_BYTES_PER_HEADER_BYTE * bytes.length + HEAP_SLACK_BYTES;
  const heapLimitMiB = Math.ceil(bound / MiB) + NODE_BASELINE_MIB;
  const args = [
    `--max-old-space-size=${heapLimitMiB}`,
    '--expose-gc',
    '--import',
    './src/node/register.js',
    'test/gguf/header-memory-probe.ts',
    path,
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, maxBuffer: MiB }).catch(
    (e: { stderr?: string; code?: unknown }) => {
      throw new Error(`probe crashed (exit ${String(e.code)}) under a ${heapLimitMiB} MiB heap on ${kind}: ${e.stderr?.slice(-400)}`);
    },
  );
  rmSync(path);
  return { ...(JSON.parse(stdout) as Probe), size: bytes.length, bound };
}

describe('GGUF header memory bound (4 bytes per header byte + 16 MiB)', () => {
  it.each<[HeapBombKind, number, boolean]>([
    // Kind, header bytes, whether a reader within budget accepts it.
    ['empty-arrays', 16 * MiB, false],
    ['one-item-arrays', 16 * MiB, false],
    ['tiny-tensors', 8 * MiB, false],
    ['tiny-keys', 8 * MiB, false],
    ['empty-strings', 32 * MiB, true],
    ['short-strings', 16 * MiB, true],
  ])('%s (%d bytes)', async (kind, headerBytes, accepted) => {
    const r = await probe(kind, headerBytes);
    if (accepted) {
      expect(r.ok, r.message).toBe(true);
      expect(r.kept).toBe(true);
    } else {
      expect(r.error).toBe('GGUFFormatError');
      expect(r.message).toMatch(
        /at byte \d+: the header would need more than [\d.]+ MiB of memory for its first \d+ bytes \(limit 4 bytes per header byte \+ 16\.0 MiB\)/,
      );
    }
    expect(r.retained).toBeLessThanOrEqual(r.bound);
    expect(r.peak).toBeLessThanOrEqual(r.bound + READ_WINDOW);
  });
});
