/**
 * Shared plumbing for the ops kernels (norm, rope, attention, elementwise, embedding, sampling):
 * buffer references, bind-group creation, dispatch grids and WGSL composition with the ops
 * snippets (workgroup reductions, the step-params struct).
 */
import actWgsl from '../../shaders/common/act.wgsl?raw';
import decodeRowWgsl from '../../shaders/common/decode_row.wgsl?raw';
import reduceWgsl from '../../shaders/reduce.wgsl?raw';
import samplingWgsl from '../../shaders/sampling.wgsl?raw';
import stepWgsl from '../../shaders/step.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { composeWgsl, definesKey, deviceFeatures, getPipeline } from '../gpu/pipelines.ts';
import { DeviceLimitError } from '../errors.ts';

/** A whole buffer or a range of one (offset must respect minStorageBufferOffsetAlignment). */
export type BufferRef = GPUBuffer | GPUBufferBinding;

/** The values the caller wrote into the step-params buffer for the step being encoded. */
export interface StepShape {
  pos0: number;
  nTokens: number;
  /**
   * A batched decode step (nTokens rows, one per sequence, each at its own position: the row
   * table of batch-decode.ts): the largest of those positions, which sizes the attention's split.
   */
  maxPos?: number;
}

/**
 * What `bind()` returns: encodes the kernel's dispatches into a caller's compute pass, creating
 * nothing. Shaders take the step's values from the step-params buffer; `step`, when given, must
 * be those same values and sizes the dispatch to the work (tokens, KV chunks) instead of the
 * maximum the kernel was built for. Idle workgroups are not free: on SwiftShader each costs
 * 10–150 µs (its workgroup memory is zero-filled), so a 5-token prefill dispatched for 512 tokens
 * spends most of its time on nothing.
 */
export interface KernelCall {
  encode(pass: GPUComputePassEncoder, step?: StepShape): void;
}

/** Tokens to dispatch for: the step's count when known (capped at the kernel's maximum), else the maximum. */
export function dispatchTokens(step: StepShape | undefined, maxTokens: number): number {
  return step ? Math.min(Math.max(1, Math.floor(step.nTokens)), maxTokens) : maxTokens;
}

export function isGpuBuffer(ref: BufferRef): ref is GPUBuffer {
  return typeof (ref as GPUBuffer).mapAsync === 'function';
}

export function bufferOf(ref: BufferRef): GPUBuffer {
  return isGpuBuffer(ref) ? ref : ref.buffer;
}

/** Bytes a reference spans (a bound range, or the rest of the buffer after its offset). */
export function refSize(ref: BufferRef): number {
  if (isGpuBuffer(ref)) return ref.size;
  return ref.size ?? ref.buffer.size - (ref.offset ?? 0);
}

/** A bind group for group 0 of `pipeline` with `refs[i]` at binding i (undefined entries skipped). */
export function makeBindGroup(ctx: GpuContext, pipeline: GPUComputePipeline, label: string, refs: (BufferRef | undefined)[]): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = [];
  refs.forEach((ref, binding) => {
    if (ref === undefined) return;
    entries.push({ binding, resource: isGpuBuffer(ref) ? { buffer: ref } : ref });
  });
  return ctx.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
}

/**
 * Splits `groups` workgroups into a 2-D grid within maxComputeWorkgroupsPerDimension; shaders
 * recover the linear index as wid.x + wid.y * nwg.x and drop the overshoot.
 */
export function grid(ctx: GpuContext, groups: number): [number, number] {
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxDim) return [Math.max(1, groups), 1];
  const y = Math.ceil(groups / maxDim);
  if (y > maxDim) throw new DeviceLimitError(`dispatch of ${groups} workgroups exceeds maxComputeWorkgroupsPerDimension² (${maxDim}²)`);
  return [Math.ceil(groups / y), y];
}

export interface VariantOptions {
  /** Force the subgroup path on or off (default: what the device has). */
  subgroups?: boolean;
}

/** Composes an ops shader (with the `reduce`, `step`, `sampling` and `act` snippets available) and gets its cached pipeline. */
export function opsPipeline(
  ctx: GpuContext,
  family: string,
  source: string,
  defines: Record<string, string | number | boolean>,
  options: VariantOptions & { entryPoint?: string; constants?: Record<string, number> } = {},
): GPUComputePipeline {
  const subgroups = options.subgroups ?? deviceFeatures(ctx).subgroups;
  if (subgroups && !ctx.hasSubgroups)
    throw new DeviceLimitError(`${family}: subgroups requested but the device has no 'subgroups' feature`);
  const code = composeWgsl(source, {
    subgroups,
    defines,
    snippets: { reduce: reduceWgsl, step: stepWgsl, sampling: samplingWgsl, act: actWgsl, decode_row: decodeRowWgsl },
  });
  return getPipeline(ctx, definesKey(family, defines, subgroups), code, options.entryPoint ?? 'main', options.constants);
}

/** Throws a typed error naming the kernel and field when a shape value is not a positive integer. */
export function checkDim(kernel: string, field: string, v: number, min = 1): void {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${kernel}: ${field} must be an integer ≥ ${min}, got ${v}`);
}
