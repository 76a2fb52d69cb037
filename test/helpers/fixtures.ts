import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');

/** Fixtures committed with the project (always present). */
export const localModels = join(repoRoot, 'test/fixtures/models');
export const demoModel = join(repoRoot, 'public/models/tinystories-llama-3M-Q4_K_M.gguf');

export function localModel(name: string): string {
  const p = name === 'tinystories-llama-3M-Q4_K_M.gguf' ? demoModel : join(localModels, name);
  if (!existsSync(p)) throw new Error(`committed fixture missing: ${p}`);
  return p;
}

/**
 * The full shared fixture set (`../shared/fixtures` beside the clone, or LOWBIT_SHARED_FIXTURES).
 * Null when absent: tests over the full set then skip and print why, once.
 */
export const sharedFixtures: string | null = (() => {
  const candidates = [process.env.LOWBIT_SHARED_FIXTURES, resolve(repoRoot, '../shared/fixtures')];
  for (const c of candidates) if (c && existsSync(join(c, 'models'))) return c;
  return null;
})();

let warned = false;
/** True when the shared set is present; otherwise warns (once per process) and returns false. */
export function haveShared(): boolean {
  if (sharedFixtures) return true;
  if (!warned) {
    warned = true;
    console.warn('NOTE: ../shared/fixtures is absent: tests over the full fixture set are skipped (set LOWBIT_SHARED_FIXTURES).');
  }
  return false;
}

export function sharedPath(...parts: string[]): string {
  if (!sharedFixtures) throw new Error('shared fixtures absent');
  return join(sharedFixtures, ...parts);
}
