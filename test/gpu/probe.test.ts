// probeWebGpu reports what an adapter offers, or why there is none, without creating a device.
import { describe, expect, it } from 'vitest';
import { probeWebGpu } from '../../src/gpu/device.ts';

function fakeGpu(requestAdapter: () => Promise<unknown>): GPU {
  return { requestAdapter } as unknown as GPU;
}

describe('probeWebGpu', () => {
  it('says why when there is no WebGPU, no adapter, or requestAdapter throws', async () => {
    expect(await probeWebGpu(undefined)).toMatchObject({ webgpu: false, reason: expect.stringMatching(/navigator\.gpu is missing/) });
    expect(await probeWebGpu(fakeGpu(async () => null))).toMatchObject({ webgpu: false, reason: expect.stringMatching(/returned null/) });
    expect(await probeWebGpu(fakeGpu(async () => Promise.reject(new Error('blocked'))))).toMatchObject({
      webgpu: false,
      reason: 'requestAdapter failed: blocked',
    });
  });

  it("reports the adapter's identity, buffer limits and f16 support, and never asks for a device", async () => {
    let devices = 0;
    const adapter = {
      info: { vendor: 'acme', architecture: 'rdna9', device: 'x', description: 'Acme GPU', isFallbackAdapter: false },
      features: new Set(['shader-f16']),
      limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 28 },
      requestDevice: async () => {
        devices++;
      },
    };
    expect(await probeWebGpu(fakeGpu(async () => adapter))).toEqual({
      webgpu: true,
      adapter: { vendor: 'acme', architecture: 'rdna9', description: 'Acme GPU', isFallbackAdapter: false },
      maxBufferSize: 1 << 30,
      maxStorageBufferBindingSize: 1 << 28,
      hasF16: true,
    });
    expect(devices).toBe(0);
  });
});
