// Headless Chromium's WebGPU offers the WGSL language feature the int8-activation mat-vec needs
// (src/kernels/matvec-q8.ts; requestBrowserGpu reads navigator.gpu.wgslLanguageFeatures), and
// dot4I8Packed computes signed 8-bit dot products there.
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

test('navigator.gpu has packed_4x8_integer_dot_product and dot4I8Packed is signed', async () => {
  const { page } = await suite.openPage('/', { waitReady: false });
  const result = await page.evaluate(async () => {
    const has = navigator.gpu.wgslLanguageFeatures.has('packed_4x8_integer_dot_product');
    const device = await (await navigator.gpu.requestAdapter())!.requestDevice();
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    // (−1, 2, −128, 127) · (3, −4, 1, 1) = −3 − 8 − 128 + 127 = −12
    const module = device.createShaderModule({
      code: '@group(0) @binding(0) var<storage, read_write> o: array<i32>; @compute @workgroup_size(1) fn main() { o[0] = dot4I8Packed(pack4xI8(vec4<i32>(-1, 2, -128, 127)), pack4xI8(vec4<i32>(3, -4, 1, 1))); }',
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
    return { has, dot: new Int32Array(read.getMappedRange())[0] };
  });
  expect(result.has).toBe(true);
  expect(result.dot).toBe(-12);
});
