// Hostile input to the in-process engine (Node, Dawn): prompts and options from a page, a server
// client or a CLI user fail with a typed error before heavy work, never with garbage or a hang.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import { ContextOverflowError } from '../../src/errors.ts';
import { openEngine, releaseTestGpu } from '../helpers/gpu-engine.ts';

const MODEL = join(import.meta.dirname, '../fixtures/models/stories260K-Q8_0.gguf');

let engine: Engine;
beforeAll(async () => {
  engine = await openEngine(MODEL);
});
afterAll(async () => {
  await engine.dispose();
  await releaseTestGpu();
});

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

test('a 10M-character prompt is refused with ContextOverflowError before it is tokenized (generate and chat)', () => {
  // Tokenizing it in full took ~9 s and ~1.5 GB before the count could say it does not fit.
  const huge = 'a'.repeat(10_000_000);
  for (const call of [() => engine.generate(huge), () => engine.chat([{ role: 'user', content: huge }])]) {
    const t0 = performance.now();
    const err = thrownBy(call);
    expect(err).toBeInstanceOf(ContextOverflowError);
    expect((err as Error).message).toMatch(/at least \d+ tokens; this model was loaded with a 128-token context/);
    expect(performance.now() - t0).toBeLessThan(1500);
  }
});
