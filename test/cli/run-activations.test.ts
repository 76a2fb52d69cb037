// `lowbit run --activations` (issue 11 item 3): f32 and int8 both run, and the run line says which
// one the decode mat-vecs used (a bad value is a usage error: test/cli/run-flags).
import { afterEach, expect, test, vi } from 'vitest';
import { run } from '../../src/cli/run.ts';
import { demoModel } from '../helpers/fixtures.ts';

afterEach(() => vi.restoreAllMocks());

test.each([['f32'], ['int8'], ['auto']])('--activations %s runs and is reported', async (value) => {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  const status = await run([demoModel, '-p', 'Once upon a time', '-n', '4', '--temp', '0', '--activations', value]);
  vi.restoreAllMocks();
  expect(status).toBe(0);
  // This device (Dawn) has int8 dot products, so auto is int8.
  expect(err.join('')).toMatch(new RegExp(`; ${value === 'f32' ? 'f32' : 'int8'} activations; `));
  expect(out.join('').length).toBeGreaterThan(0);
});
