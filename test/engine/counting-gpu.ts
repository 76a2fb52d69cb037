/**
 * A GpuContext whose device records every createBuffer call (label and size), and whose limits
 * can be overridden: the engine reads sizes from ctx.limits only, so a smaller limit here acts as
 * a device with that limit (WebGPU cannot create a device below its default limits).
 */
import type { GpuContext } from '../../src/gpu/device.ts';

export interface CountingGpu {
  gpu: GpuContext;
  buffers: { label: string; size: number }[];
  /** Sum of the sizes of every buffer created so far. */
  bytes(): number;
  /** The most bytes alive at once so far (buffers created and not yet destroyed). */
  peakBytes(): number;
}

export function countingGpu(real: GpuContext, limitOverrides: Partial<Record<keyof GPUSupportedLimits, number>> = {}): CountingGpu {
  const buffers: { label: string; size: number }[] = [];
  let live = 0;
  let peak = 0;
  const device = new Proxy(real.device, {
    get(target, prop) {
      if (prop === 'createBuffer') {
        return (desc: GPUBufferDescriptor) => {
          buffers.push({ label: desc.label ?? '', size: desc.size });
          const buffer = target.createBuffer(desc);
          live += desc.size;
          peak = Math.max(peak, live);
          let destroyed = false;
          const destroy = buffer.destroy.bind(buffer);
          buffer.destroy = () => {
            if (!destroyed) live -= desc.size;
            destroyed = true;
            destroy();
          };
          return buffer;
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const limits = new Proxy(real.limits, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in limitOverrides) return limitOverrides[prop as keyof GPUSupportedLimits];
      return Reflect.get(target, prop, target) as unknown;
    },
  });
  const gpu: GpuContext = { ...real, device, limits };
  return { gpu, buffers, bytes: () => buffers.reduce((s, b) => s + b.size, 0), peakBytes: () => peak };
}
