import { DeviceLostError, WebGPUUnavailableError } from '../errors.ts';

/** What the runtime needs to know about the device it got, decided once at creation. */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: AdapterSummary;
  /**
   * The device's limits, the one source every size decision reads (weight splits, activation and
   * KV-cache buffers, kernel variants). They are what the device was created with, chosen by
   * `limitsTier`.
   */
  readonly limits: GPUSupportedLimits;
  /** Which limits the device was asked for (DeviceOptions.limits). */
  readonly limitsTier: LimitsTier;
  readonly hasF16: boolean;
  readonly hasSubgroups: boolean;
  /** Subgroup size range reported by the adapter (0 when unknown). */
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  /**
   * WGSL has `dot4I8Packed` / `pack4xI8` (the `packed_4x8_integer_dot_product` language feature of
   * the GPU object, not a device feature): int8-activation mat-vec (src/kernels/matvec-q8.ts).
   */
  readonly hasPackedInt8Dot: boolean;
  /** Resolves when the device is lost, with a DeviceLostError naming the reason. */
  readonly lost: Promise<DeviceLostError>;
  /** True when this is a software device (SwiftShader, fallback adapter). */
  readonly isSoftware: boolean;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
}

export interface DeviceOptions {
  /** Use shader-f16 when the adapter has it (default true). */
  allowF16?: boolean;
  /** Use subgroups when the adapter has them (default true). */
  allowSubgroups?: boolean;
  powerPreference?: GPUPowerPreference;
  /** Called once if the device is lost after creation (not on an explicit destroy()). */
  onLost?: (err: DeviceLostError) => void;
  /** Which limits to create the device with (default 'adapter'). */
  limits?: LimitsTier;
}

/**
 * Which limits a device is created with:
 * - `adapter`: as high as the adapter allows (the default: model tensors are big, and real GPUs
 *   give far more than WebGPU's defaults);
 * - `default`: WebGPU's default limits only (128 MiB bindings, 256 MiB buffers, …), what every
 *   WebGPU implementation must offer, to check a model runs on any device;
 * - `mobile`: the default limits with the 16 KiB workgroup storage of phone GPUs stated
 *   explicitly (WebGPU's default is already 16 KiB, so a device cannot be made smaller than
 *   `default`; the tier exists so callers can say what they target).
 */
export type LimitsTier = 'adapter' | 'default' | 'mobile';
export const LIMITS_TIERS: readonly LimitsTier[] = ['adapter', 'default', 'mobile'];

export function isLimitsTier(v: unknown): v is LimitsTier {
  return typeof v === 'string' && (LIMITS_TIERS as readonly string[]).includes(v);
}

/** WebGPU's default limits for the values lowbit's sizes and kernels depend on (the spec's table). */
export const WEBGPU_DEFAULT_LIMITS = {
  maxStorageBufferBindingSize: 128 * 1024 * 1024,
  maxBufferSize: 256 * 1024 * 1024,
  maxComputeWorkgroupStorageSize: 16 * 1024,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 8,
} as const;

/** The limits a tier asks requestDevice for; none beyond the defaults for `default`. */
function requiredLimitsFor(tier: LimitsTier, adapter: GPUAdapter): Record<string, number> {
  if (tier === 'default') return {};
  if (tier === 'mobile') return { maxComputeWorkgroupStorageSize: 16 * 1024 };
  const out: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') out[name] = v;
  }
  return out;
}

// Limits we always want as high as the adapter allows: model tensors are big, and the defaults
// (128 MiB bindings, 256 MiB buffers) are far below what real GPUs give.
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
    features: [...adapter.features].sort(),
  };
}

/** The WGSL language feature int8 dot products need (GPU.wgslLanguageFeatures). */
export const PACKED_INT8_DOT_FEATURE = 'packed_4x8_integer_dot_product';

/**
 * Creates a device on an adapter with its real limits and the optional features we use.
 * `wgslLanguageFeatures` is the adapter's GPU object's set (navigator.gpu's in a browser).
 */
export async function createGpuContext(
  adapter: GPUAdapter,
  options: DeviceOptions = {},
  wgslLanguageFeatures?: ReadonlySet<string>,
): Promise<GpuContext> {
  const hasF16 = options.allowF16 !== false && adapter.features.has('shader-f16');
  const hasSubgroups = options.allowSubgroups !== false && adapter.features.has('subgroups');
  const requiredFeatures: GPUFeatureName[] = [];
  if (hasF16) requiredFeatures.push('shader-f16');
  if (hasSubgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  const limitsTier = options.limits ?? 'adapter';
  if (!isLimitsTier(limitsTier)) throw new RangeError(`unknown limits '${String(limitsTier)}': use ${LIMITS_TIERS.join(', ')}`);
  const requiredLimits = requiredLimitsFor(limitsTier, adapter);
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const summary = summarizeAdapter(adapter);
  const info = adapter.info as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const lost = device.lost.then((l) => {
    const err = new DeviceLostError(`GPU device lost (${l.reason}): ${l.message || 'no message'}. Reload the model to continue.`, l.reason);
    if (l.reason !== 'destroyed') options.onLost?.(err);
    return err;
  });
  return {
    device,
    adapterInfo: summary,
    limits: device.limits,
    limitsTier,
    hasF16,
    hasSubgroups,
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    hasPackedInt8Dot: Boolean(wgslLanguageFeatures?.has(PACKED_INT8_DOT_FEATURE)),
    lost,
    isSoftware: isSoftwareAdapter(summary),
  };
}

export function isSoftwareAdapter(a: AdapterSummary): boolean {
  const text = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.toLowerCase();
  return a.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp|software/.test(text);
}

/** Browser (or worker): navigator.gpu. */
export async function requestBrowserGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGPUUnavailableError(
      'WebGPU is not available in this browser. Use a recent Chrome, Edge or another browser with WebGPU enabled, ' +
        'served over https or localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is present but no GPU adapter was found. Check that hardware acceleration is enabled ' +
        '(chrome://settings/system) and that your GPU driver is not blocklisted (chrome://gpu).',
    );
  }
  return createGpuContext(adapter, options, gpu.wgslLanguageFeatures);
}

/** What can be told about WebGPU on this device without creating a device (structured-clone safe). */
export interface DeviceProbe {
  webgpu: boolean;
  /** Why WebGPU is unusable, when it is. */
  reason?: string;
  adapter?: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean };
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  hasF16?: boolean;
}

/** Asks for an adapter (never a device) and reports what it offers, or why there is none. */
export async function probeWebGpu(gpu: GPU | undefined = (globalThis.navigator as Navigator | undefined)?.gpu): Promise<DeviceProbe> {
  if (!gpu) return { webgpu: false, reason: 'navigator.gpu is missing: this browser has no WebGPU (or it is disabled)' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { webgpu: false, reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { webgpu: false, reason: 'requestAdapter() returned null: no usable GPU adapter' };
  const { vendor, architecture, description, isFallbackAdapter } = summarizeAdapter(adapter);
  return {
    webgpu: true,
    adapter: { vendor, architecture, description, isFallbackAdapter },
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    hasF16: adapter.features.has('shader-f16'),
  };
}
