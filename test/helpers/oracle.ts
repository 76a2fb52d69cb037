/**
 * llama.cpp oracles (oracle.json files), normalised: the shared folders use two step formats,
 * `{token, p, second, p2}` and `{token, top5: [[id, p], …]}`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedFixtures } from './fixtures.ts';

export interface OracleStep {
  token: number;
  /** Most likely ids with probabilities, best first (at least two). */
  top: [number, number][];
}

export interface OracleEntry {
  key: string;
  prompt: string;
  addBos: boolean;
  promptTokens: number[];
  outTokens: number[];
  steps: OracleStep[];
}

type RawStep = { token: number; top5?: [number, number][]; p?: number; second?: number; p2?: number };

function normalise(key: string, raw: Record<string, unknown>): OracleEntry {
  const steps = (raw.steps as RawStep[]).map((s) => ({
    token: s.token,
    top:
      s.top5 ??
      ([
        [s.token, s.p!],
        [s.second!, s.p2!],
      ] as [number, number][]),
  }));
  return {
    key,
    prompt: raw.prompt as string,
    addBos: raw.addBos as boolean,
    promptTokens: raw.promptTokens as number[],
    outTokens: raw.outTokens as number[],
    steps,
  };
}

/** Every entry of an oracle.json file, by model name without .gguf. */
export function loadOracles(path: string): Map<string, OracleEntry> {
  const all = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>>;
  return new Map(Object.entries(all).map(([k, v]) => [k.replace(/\.gguf$/, ''), normalise(k, v)]));
}

/** Every run of a file mapping model names (without .gguf) to lists of runs (oracle-more-prompts.json). */
export function loadOracleRuns(path: string): Map<string, OracleEntry[]> {
  const all = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Record<string, unknown>[]>;
  return new Map(Object.entries(all).map(([k, runs]) => [k.replace(/\.gguf$/, ''), runs.map((v) => normalise(k, v))]));
}

/** Oracle entry for a model file name (with or without .gguf) from the committed copies. */
export function localOracle(group: string, file: string): OracleEntry {
  const e = loadOracles(join(repoRoot, 'test/fixtures/oracles', `${group}.json`)).get(file.replace(/\.gguf$/, ''));
  if (!e) throw new Error(`no oracle for ${file} in ${group}`);
  return e;
}

/** Every (model path, oracle) pair in the shared fixture set whose model file is shipped. */
export function sharedOracles(): { path: string; oracle: OracleEntry }[] {
  if (!sharedFixtures) return [];
  const out: { path: string; oracle: OracleEntry }[] = [];
  const modelsDir = join(sharedFixtures, 'models');
  for (const dir of ['stories260K', 'derived-quantized', 'TinyStories-656K', 'llama-2-tiny-random', 'trained-here']) {
    const f = join(modelsDir, dir, 'oracle.json');
    if (!existsSync(f)) continue;
    for (const [name, oracle] of loadOracles(f)) {
      const path = join(modelsDir, dir, `${name}.gguf`);
      if (existsSync(path)) out.push({ path, oracle });
    }
  }
  return out;
}

/** Index of the first step whose top-1/top-2 gap is below `gap` (greedy comparison stops there). */
export function firstNearTie(o: OracleEntry, gap = 0.02): number {
  const i = o.steps.findIndex((s) => s.top[0]![1] - s.top[1]![1] < gap);
  return i < 0 ? o.steps.length : i;
}
