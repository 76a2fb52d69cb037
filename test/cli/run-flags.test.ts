// `lowbit run --limits`, `--max-gpu-mb` (issue 10 items 4, 5) and `--activations`: bad values are usage errors
// before any model is opened; a model over the budget is refused with the numbers; warnings
// (a context above the model's trained length) go to stderr.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { run } from '../../src/cli/run.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { GpuMemoryBudgetError } from '../../src/errors.ts';
import { demoModel } from '../helpers/fixtures.ts';

afterEach(() => vi.restoreAllMocks());

describe('usage errors, before the model is opened', () => {
  test.each([
    [['--limits', 'bogus'], /--limits must be one of adapter, default, mobile, got 'bogus'/],
    [['--limits', ''], /--limits must be one of/],
    [['--max-gpu-mb', '0'], /--max-gpu-mb must be a number of MiB above 0/],
    [['--max-gpu-mb=-5'], /--max-gpu-mb must be a number of MiB above 0/],
    [['--max-gpu-mb', 'lots'], /--max-gpu-mb must be a number of MiB above 0, got 'lots'/],
    [['--activations', 'int4'], /--activations must be one of auto, f32, int8/],
    [['--activations', ''], /--activations must be one of auto, f32, int8/],
    [['--activations', 'INT8'], /--activations must be one of auto, f32, int8/],
  ])('%j', async (flags, message) => {
    // A model path that does not exist: the flag is refused before it is looked at.
    const err = await run(['/nonexistent/model.gguf', '-p', 'hi', ...flags]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  return { out, err };
}

test('--max-gpu-mb below the model: GpuMemoryBudgetError naming the largest context that fits', async () => {
  capture();
  const err = await run([demoModel, '-p', 'Once', '-n', '1', '--max-gpu-mb', '1', '--limits', 'default']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GpuMemoryBudgetError);
  expect((err as Error).message).toMatch(/over the budget of 1048576 bytes/);
});

test('--limits default --ctx above the trained length: runs, and the warning is on stderr', async () => {
  const { out, err } = capture();
  const status = await run([
    demoModel,
    '-p',
    'Once upon a time',
    '-n',
    '2',
    '--temp',
    '0',
    '--limits',
    'default',
    '--ctx',
    '300',
    '--json',
  ]);
  vi.restoreAllMocks();
  expect(status).toBe(0);
  expect(JSON.parse(out.join('')).tokens).toHaveLength(2);
  expect(err.join('')).toMatch(/lowbit: warning: context size 300 is above the 256 tokens this model was trained with/);
});
