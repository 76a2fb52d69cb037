/**
 * The bench's view of autotuning (src/kernels/autotune.ts) and of the GPU-ready run:
 *   - the candidates autotune timed for a model, their ms per call and ratio to the default (median,
 *     min–max over interleaved rounds), and the choice (`npm run bench -- --autotune`);
 *   - which variants a row ran with (every e2e / scale row records it);
 *   - the roofline per type (mat-vec weights/s ÷ the read kernel's bytes/s);
 *   - the scale models the GPU-ready rows need, generated when absent (no download).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GpuContext } from '../../src/gpu/device.ts';
import { type KernelVariants, tileLabel, type TuneResult, variantLabel } from '../../src/kernels/autotune.ts';
import { resolveVariant } from '../../src/kernels/matmul.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { quantTypeInfo } from '../../src/quant/table.ts';
import { generateScaleModel, scaleModelDir } from '../../scripts/scale-models/generate.ts';
import { recipeByName } from '../../scripts/scale-models/recipes.ts';
import { fmt, markdownTable } from './table.ts';

/** The kernels a row ran with, as the engine reports them (ModelInfo.kernels). */
export interface RowKernels {
  source: 'forced' | 'default' | 'cache' | 'measured';
  variants: KernelVariants;
}

/** One line: how the variants were chosen and every one that is not the device default. */
export function kernelsLabel(ctx: GpuContext, k: RowKernels | undefined): string {
  if (!k) return '—';
  const parts: string[] = [];
  for (const [t, v] of Object.entries(k.variants.matvec ?? {}))
    parts.push(`mat-vec ${quantTypeInfo(Number(t))?.name ?? t}: ${variantLabel(resolveVariant(ctx, 'matvec', v))}`);
  for (const [t, tile] of Object.entries(k.variants.gemm ?? {}))
    parts.push(`GEMM ${quantTypeInfo(Number(t))?.name ?? t}: ${tileLabel(tile!)}`);
  return parts.length ? `${k.source}: ${parts.join('; ')}` : `${k.source}: device defaults`;
}

/** The candidates of every family autotune timed for `model`, as a markdown table. */
export function autotuneTable(r: TuneResult): string {
  const range = (s: { median: number; min: number; max: number }, digits = 3) =>
    `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
  const rows: string[][] = [];
  for (const f of r.families) {
    const family = `${f.family}${f.type ? ` ${f.type}` : ''}`;
    if (f.skipped) {
      rows.push([family, `(${f.skipped}: default kept)`, '—', '—', '']);
      continue;
    }
    f.candidates.forEach((c, i) =>
      rows.push([
        i === 0 ? family : '',
        `${c.label}${i === 0 ? ' (default)' : ''}`,
        range(c.ms),
        range(c.ratio),
        i === f.chosen ? '✓' : '',
      ]),
    );
  }
  return markdownTable(['family', 'candidate', 'ms/call median (min–max)', '÷ default per round', 'chosen'], rows);
}

export interface RooflineRow {
  type: string;
  activations: 'f32' | 'int8';
  /** Weights per second of the mat-vec. */
  weightsPerSec: number;
  /** The mat-vec's weights/s ÷ the read kernel's bytes/s: weights per byte of peak read bandwidth. */
  weightsPerReadByte: number;
  /** The mat-vec's bytes/s ÷ the read kernel's, the median of per-round ratios (1 = at the memory roofline). */
  rooflineRatio: number;
}

/** Per type and activations, the first mat-vec row's roofline figures (kernel rows of bench/kernels.ts --json). */
export function rooflinePerType(
  kernels: readonly { op: string; type: string; activations: 'f32' | 'int8'; weightsPerSec: number; rooflineRatio: number }[],
  readKernelGbPerSec: number,
): RooflineRow[] {
  const seen = new Set<string>();
  const out: RooflineRow[] = [];
  for (const k of kernels) {
    const key = `${k.type}:${k.activations}`;
    if (k.op !== 'matvec' || seen.has(key)) continue;
    seen.add(key);
    out.push({
      type: k.type,
      activations: k.activations,
      weightsPerSec: k.weightsPerSec,
      weightsPerReadByte: k.weightsPerSec / (readKernelGbPerSec * 1e9),
      rooflineRatio: k.rooflineRatio,
    });
  }
  return out;
}

/** The scale shapes a GPU-ready run reports decode tok/s for. */
export const GPU_READY_SCALE_MODELS = ['llama-3.2-1b-Q4_K_M', 'bitnet-2b4t-I2_S'] as const;

/**
 * Paths of the named scale models, generating the absent ones into the scale-model cache with
 * the repository's generator (random weights at the published shapes; no download). The 1B and
 * 2B4T files take minutes and about 2 GB of disk.
 */
export async function ensureScaleModels(root: string, names: readonly string[], log: (s: string) => void): Promise<string[]> {
  const dir = scaleModelDir(root);
  const recipes = names.map((n) => {
    const r = recipeByName(n);
    if (!r) throw new Error(`unknown scale model '${n}'`);
    return r;
  });
  const missing = recipes.filter((r) => !existsSync(join(dir, `${r.name}.gguf`)));
  if (missing.length > 0) {
    mkdirSync(dir, { recursive: true });
    const pool = new NodeQuantizePool();
    try {
      for (const r of missing) {
        log(`generating scale model ${r.name} into ${dir} (npm run make:scale-models -- --only ${r.name}) …`);
        const res = await generateScaleModel(r, dir, pool);
        log(`  written in ${res.seconds.toFixed(1)} s`);
      }
    } finally {
      await pool.close();
    }
  }
  return recipes.map((r) => join(dir, `${r.name}.gguf`));
}
