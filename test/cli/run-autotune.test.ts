// `lowbit run --autotune` (issue 11 item 5): a bad value is a usage error before the model is
// opened; `on` times the kernels once and stores the choice in the store directory, and the next
// run reads it from there and times nothing.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { run } from '../../src/cli/run.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { demoModel } from '../helpers/fixtures.ts';

let store: string;
beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'lowbit-autotune-cli-'));
});
afterAll(async () => {
  await rm(store, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

test.each([['fast'], [''], ['ON']])('--autotune %j is a usage error', async (value) => {
  const err = await run(['/nonexistent/model.gguf', '-p', 'hi', '--autotune', value]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toMatch(/--autotune must be one of auto, on, off, retune/);
});

async function runCaptured(args: string[]): Promise<{ status: number; err: string; out: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const status = await run(args);
    return { status, err: err.join(''), out: out.join('') };
  } finally {
    vi.restoreAllMocks();
  }
}

test('--autotune on tunes once and caches the choice in the store; the second run reads it', async () => {
  const args = [demoModel, '-p', 'Once upon a time', '-n', '2', '--temp', '0', '--autotune', 'on', '--store', store];
  const first = await runCaptured(args);
  expect(first.status).toBe(0);
  expect(first.err).toMatch(/kernels autotuned in \d+ ms \(budget \d+ ms\)/);
  expect(await readdir(join(store, '.records'))).toHaveLength(1);
  const second = await runCaptured(args);
  expect(second.status).toBe(0);
  expect(second.err).not.toMatch(/autotuned/);
  expect(second.out).toBe(first.out); // the same kernels, the same greedy text
  // Two CLI runs, each compiling every pipeline on a fresh device, and the candidates' in the first.
}, 600_000);
