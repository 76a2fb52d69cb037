// --max-gpu-mb on the evaluation commands: `lowbit kl` keeps every model loaded for the whole run,
// so the budget holds for their sum, checked from the headers before the first upload; perplexity
// (one model) is held to it by the engine's own check.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { UsageError } from '../../src/cli/errors.ts';
import { checkEvaluationBudget } from '../../src/cli/evaluation.ts';
import { run as kl } from '../../src/cli/kl.ts';
import { run as perplexity } from '../../src/cli/perplexity.ts';
import { GpuMemoryBudgetError } from '../../src/errors.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';

const MiB = 1024 * 1024;
const stories = localModel('stories260K-Q8_0.gguf');
let dir: string;
let story: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lowbit-eval-budget-'));
  story = join(dir, 'story.txt');
  await writeFile(story, 'Once upon a time, a little girl named Lily went to the park. She saw a big red ball. '.repeat(8));
});
afterAll(async () => {
  vi.restoreAllMocks();
  releaseTestGpu();
  await rm(dir, { recursive: true, force: true });
});

/** One model's share at the run's options, as the check counts it (a budget nothing reaches). */
async function share(path: string): Promise<number> {
  return checkEvaluationBudget([path], await testGpu(), { ctx: 64, maxGpuBytes: Number.MAX_SAFE_INTEGER });
}

test('the shares add up: several models cost the sum of what each costs alone', async () => {
  const gpu = await testGpu();
  const [demo, small] = [await share(demoModel), await share(stories)];
  expect(demo).toBeGreaterThan(small);
  expect(small).toBeGreaterThan(0);
  const both = await checkEvaluationBudget([demoModel, stories, stories], gpu, { ctx: 64, maxGpuBytes: Number.MAX_SAFE_INTEGER });
  expect(both).toBe(demo + 2 * small);
  // One byte short of the sum is refused, with the sum and each model's share named.
  const err = await checkEvaluationBudget([demoModel, stories, stories], gpu, { ctx: 64, maxGpuBytes: both - 1 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GpuMemoryBudgetError);
  expect(err).toMatchObject({ neededBytes: both, availableBytes: both - 1 });
  expect((err as Error).message).toMatch(
    /these 3 models are loaded at once and need \d+ bytes .*tinystories-llama-3M-Q4_K_M.*stories260K-Q8_0/,
  );
});

test('kl: models that each fit but not together are refused before any is loaded', async () => {
  const demo = await share(demoModel);
  // Room for the demo model twice over, not three times: no single load is over the budget.
  const mb = Math.floor((2.5 * demo) / MiB);
  expect(mb * MiB).toBeGreaterThan(demo);
  const err = await kl([demoModel, demoModel, demoModel, '-f', story, '-c', '64', '--max-gpu-mb', String(mb)]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GpuMemoryBudgetError);
  expect((err as GpuMemoryBudgetError).neededBytes).toBe(3 * demo);
  expect((err as Error).message).toMatch(/these 3 models are loaded at once/);
});

test('kl within the budget runs and reports; perplexity over it is refused by the engine', async () => {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const budgetMb = String(Math.ceil((2 * (await share(stories))) / MiB));
  const status = await kl([stories, stories, '-f', story, '-c', '64', '--chunks', '1', '--json', '--max-gpu-mb', budgetMb]);
  vi.restoreAllMocks();
  expect(status).toBe(0);
  const report = JSON.parse(out.join('')) as { kld: { mean: number }; chunks: number };
  expect(report.chunks).toBe(1);
  expect(report.kld.mean).toBeLessThan(1e-9); // a model against itself

  const tight = String(Math.floor((await share(demoModel)) / MiB / 2));
  const err = await perplexity([demoModel, '-f', story, '-c', '64', '--max-gpu-mb', tight]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GpuMemoryBudgetError);
  expect((err as Error).message).toMatch(/over the budget of \d+ bytes/);
});

test.each([['--max-gpu-mb=0'], ['--max-gpu-mb=-3'], ['--max-gpu-mb=lots']])('%s is a usage error', async (flag) => {
  const err = await kl(['/nonexistent/a.gguf', '/nonexistent/b.gguf', '-f', story, flag]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as Error).message).toMatch(/--max-gpu-mb must be a number of MiB above 0/);
});
