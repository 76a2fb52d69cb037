// `lowbit run --context-shift K` (issue 10 item 6): generation goes on past a full context,
// keeping the first K tokens; without it, generation ends with the context. A K the context
// cannot honour is a usage error, not an internal one.
import { afterEach, expect, test, vi } from 'vitest';
import { run } from '../../src/cli/run.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { demoModel } from '../helpers/fixtures.ts';

afterEach(() => vi.restoreAllMocks());

async function runJson(flags: string[]): Promise<{ promptTokens: number[]; tokens: number[] }> {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const status = await run([demoModel, '-p', 'Once upon a time', '--temp', '0', '--ctx', '24', '--json', ...flags]);
  vi.restoreAllMocks();
  expect(status).toBe(0);
  return JSON.parse(out.join('')) as { promptTokens: number[]; tokens: number[] };
}

test('--context-shift: 30 tokens from a 24-token context; without it, generation ends with the context', async () => {
  const plain = await runJson(['-n', '30']);
  expect(plain.tokens).toHaveLength(24 - plain.promptTokens.length);
  const shifted = await runJson(['-n', '30', '--context-shift', '4']);
  expect(shifted.tokens).toHaveLength(30);
  // Until the context is full both runs are the same computation.
  expect(shifted.tokens.slice(0, plain.tokens.length)).toEqual(plain.tokens);
});

test('--context-shift that leaves no room in the context is a usage error', async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const err = await run([demoModel, '-p', 'Once', '-n', '2', '--ctx', '24', '--context-shift', '23']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toMatch(/--context-shift 23 keeps more tokens than a 24-token context leaves room for \(at most 22\)/);
});
