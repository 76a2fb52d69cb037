// The browser harness itself: Chromium launched by e2e/browser.ts gets a WebGPU adapter and can
// run a compute shader. Every other browser test relies on this.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useBrowserSuite } from './harness.ts';

const suite = useBrowserSuite({
  root: () => {
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-e2e-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>probe</title>');
    return dir;
  },
});

test('headless Chromium has a WebGPU adapter and runs a compute shader', async () => {
  const { page } = await suite.openPage('/', { waitReady: false });
  const result = await page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { ok: false as const };
    const device = await adapter.requestDevice();
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const module = device.createShaderModule({
      code: '@group(0) @binding(0) var<storage, read_write> o: array<u32>; @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = g.x * 7u; }',
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const out = [...new Uint32Array(read.getMappedRange())];
    return { ok: true as const, out, features: [...adapter.features], arch: adapter.info.architecture };
  });
  expect(result.ok).toBe(true);
  if (result.ok) {
    expect(result.out).toEqual([0, 7, 14, 21]);
    expect(result.features).toContain('subgroups');
  }
});
