/**
 * Which kernel variants a model loads with: forced ones, the device defaults, or autotune's choice
 * (kernels/autotune.ts) for this device and model, from the store's cache when it holds one.
 */
import type { GpuContext } from '../gpu/device.ts';
import {
  autotune,
  type AutotuneMode,
  type KernelVariants,
  linearShapes,
  type TuneRecordCache,
  type TuneOptions,
  type TuneResult,
} from '../kernels/autotune.ts';
import { type ActivationPrecision, type ActivationsOption, resolveActivations } from '../kernels/matvec-q8.ts';
import type { ModelTensorNames } from '../model/tensors.ts';
import type { GpuWeight } from '../gpu/weights.ts';

/**
 * LoadOptions.autotune: 'auto' (the default) tunes on a hardware GPU and keeps the defaults on a
 * software adapter (they were measured on one, and tuning there costs seconds of compiling);
 * 'on' tunes on any adapter; 'off' keeps the defaults; 'retune' tunes again, ignoring the cache.
 */
export type AutotuneOption = 'auto' | AutotuneMode;
export const AUTOTUNE_OPTIONS: readonly AutotuneOption[] = ['auto', 'on', 'off', 'retune'];

export function isAutotuneOption(v: unknown): v is AutotuneOption {
  return typeof v === 'string' && (AUTOTUNE_OPTIONS as readonly string[]).includes(v);
}

export interface KernelChoiceOptions {
  activations?: ActivationsOption;
  autotune?: AutotuneOption;
  /** Where tuning records are kept (the model store); without one, every load tunes. */
  cache?: TuneRecordCache;
  /** Forced variants: nothing is tuned. */
  kernelVariants?: KernelVariants;
  /** Budgets (kernels/autotune.ts TuneOptions). */
  budgetMs?: number;
  budgetTokens?: number;
  /** Called with what autotune did (measured or from the cache). */
  onTune?: (result: TuneResult) => void;
}

export interface KernelChoice {
  /** Resolved activations ('auto' settled). */
  activations: ActivationPrecision;
  variants: KernelVariants | undefined;
  /** How the variants were chosen. */
  source: 'forced' | 'default' | 'cache' | 'measured';
}

/** The weights that run as linears: every matrix but the token embedding, unless it is also the LM head. */
export function linearWeights<B>(weights: readonly GpuWeight<B>[], names: ModelTensorNames): GpuWeight<B>[] {
  return weights.filter((w) => w.rows > 1 && w.cols > 1 && (w.name !== names.tokenEmbd || names.output === undefined));
}

export async function chooseKernels(
  gpu: GpuContext,
  weights: readonly GpuWeight<unknown>[],
  names: ModelTensorNames,
  maxBatch: number,
  o: KernelChoiceOptions & { attention?: TuneOptions['attention'] },
): Promise<KernelChoice> {
  const requested = o.autotune ?? 'auto';
  if (!isAutotuneOption(requested)) throw new RangeError(`unknown autotune '${String(requested)}': use ${AUTOTUNE_OPTIONS.join(', ')}`);
  const activations = resolveActivations(gpu, o.activations);
  if (o.kernelVariants) return { activations, variants: o.kernelVariants, source: 'forced' };
  // ggml activations reproduce llama.cpp's numbers, not a speed: nothing to tune.
  if (activations === 'ggml') return { activations, variants: undefined, source: 'default' };
  if (requested === 'off' || (requested === 'auto' && gpu.isSoftware)) return { activations, variants: undefined, source: 'default' };
  const result = await autotune(gpu, linearShapes(linearWeights(weights, names)), {
    maxBatch,
    attention: o.attention,
    activations: o.activations,
    mode: requested === 'retune' ? 'retune' : 'on',
    cache: o.cache,
    budgetMs: o.budgetMs,
    budgetTokens: o.budgetTokens,
  });
  o.onTune?.(result);
  return { activations: result.activations, variants: result.variants, source: result.source };
}
