/**
 * Will a model fit before we download it? The largest tensor (what maxBufferSize and
 * maxStorageBufferBindingSize limit) is unknown until the header is read, so this compares the
 * file size with what can be known up front: free storage, an estimate of GPU memory, and whether
 * WebGPU runs on a real GPU at all.
 */
import type { DeviceProbe } from '../engine/protocol.ts';
import { formatBytes } from '../format.ts';

export interface FitContext {
  probe?: DeviceProbe;
  /** navigator.storage.estimate() */
  storage?: { quota?: number; usage?: number };
  /** navigator.deviceMemory (GB, rounded down and capped at 8 by browsers); undefined when absent. */
  deviceMemoryGB?: number;
}

export interface FitWarning {
  kind: 'no-webgpu' | 'storage' | 'gpu-memory' | 'software-gpu';
  message: string;
}

/** Weights plus KV cache and scratch: the file size and a margin. */
const GPU_OVERHEAD = 1.15;
/** Browsers give one tab only part of the memory; integrated GPUs share it with everything else. */
const USABLE_MEMORY_FRACTION = 0.5;
/** Above this, a software (CPU-emulated) WebGPU adapter is painfully slow. */
const SOFTWARE_GPU_COMFORT_BYTES = 50_000_000;

export function estimateGpuBudget(ctx: FitContext): number | undefined {
  const probe = ctx.probe;
  if (ctx.deviceMemoryGB && ctx.deviceMemoryGB > 0) {
    // deviceMemory is capped at 8 (GB); treat 8 as "at least 8".
    const gb = ctx.deviceMemoryGB >= 8 ? 16 : ctx.deviceMemoryGB;
    return gb * 1e9 * USABLE_MEMORY_FRACTION;
  }
  // Without deviceMemory (Safari, Firefox) the largest buffer the adapter allows is the only
  // hint; GPUs that allow 4 GB buffers have several GB of memory.
  if (probe?.maxBufferSize) return Math.max(probe.maxBufferSize * 2, 1e9);
  return undefined;
}

/**
 * Warnings for downloading and running a model of `bytes` bytes, of which `storedBytes` are
 * already in the model store (a resumed download needs only the rest).
 */
export function assessFit(bytes: number, storedBytes: number, ctx: FitContext): FitWarning[] {
  const warnings: FitWarning[] = [];
  const probe = ctx.probe;
  if (probe && !probe.webgpu) {
    warnings.push({
      kind: 'no-webgpu',
      message: `WebGPU is not available here (${probe.reason ?? 'no adapter'}), so the model cannot run.`,
    });
  }
  const { quota, usage } = ctx.storage ?? {};
  const needed = Math.max(0, bytes - storedBytes);
  if (quota !== undefined && usage !== undefined && needed > quota - usage) {
    warnings.push({
      kind: 'storage',
      message: `The download needs ${formatBytes(needed)} of storage but only ${formatBytes(Math.max(0, quota - usage))} is free for this site.`,
    });
  }
  const budget = estimateGpuBudget(ctx);
  if (budget !== undefined && bytes * GPU_OVERHEAD > budget) {
    warnings.push({
      kind: 'gpu-memory',
      message: `The model needs about ${formatBytes(bytes * GPU_OVERHEAD)} of GPU memory; this device probably has about ${formatBytes(budget)} to spare.`,
    });
  }
  if (probe?.webgpu && probe.adapter?.isFallbackAdapter !== undefined) {
    const software =
      probe.adapter.isFallbackAdapter ||
      /swiftshader|llvmpipe|software/i.test(`${probe.adapter.vendor} ${probe.adapter.architecture} ${probe.adapter.description}`);
    if (software && bytes > SOFTWARE_GPU_COMFORT_BYTES) {
      warnings.push({
        kind: 'software-gpu',
        message: 'WebGPU runs on the CPU here (software adapter): a model this size will be very slow.',
      });
    }
  }
  return warnings;
}
