// Pipeline cache, WGSL composition and buffer helpers (the infrastructure every kernel uses).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { cachedPipelineCount, composeWgsl, getPipeline, getPipelineAsync } from '../../src/gpu/pipelines.ts';
import { createStorageBuffer, createUniformBuffer, readF32, readU32, writeBufferPadded } from '../../src/gpu/buffers.ts';

describe('composeWgsl', () => {
  it('expands includes once, conditionals and substitutions, and prepends enables', () => {
    const src = ['#include "f16"', '#include "f16"', '#if SUBGROUPS', 'A', '#else', 'B', '#endif', '#if !X', 'C', '#endif', 'D{{N}}'].join(
      '\n',
    );
    const out = composeWgsl(src, { subgroups: true, defines: { X: 0, N: 7 } });
    expect(out.startsWith('enable subgroups;\ndiagnostic(off, subgroup_uniformity);')).toBe(true);
    expect(out.match(/fn f16_lo/g)?.length).toBe(1);
    expect(out).toContain('\nA\n');
    expect(out).not.toContain('\nB\n');
    expect(out).toContain('\nC\n');
    expect(out).toContain('D7');
    const plain = composeWgsl(src, { defines: { X: 1, N: 1 } });
    expect(plain).not.toContain('enable');
    expect(plain).toContain('\nB\n');
    expect(plain).not.toContain('\nC\n');
  });
  it('nested #if inside a dropped branch stays dropped', () => {
    const out = composeWgsl(['#if A', '#if B', 'x', '#else', 'y', '#endif', '#endif', 'z'].join('\n'), { defines: { A: 0, B: 0 } });
    expect(out.trim()).toBe('z');
  });
  it('rejects unknown snippets, undefined names and unbalanced blocks', () => {
    expect(() => composeWgsl('#include "nope"')).toThrow(/nope/);
    expect(() => composeWgsl('#if ZZ\n#endif')).toThrow(/ZZ/);
    expect(() => composeWgsl('{{Q}}')).toThrow(/Q/);
    expect(() => composeWgsl('#if F16\n')).toThrow(/unterminated/);
    expect(() => composeWgsl('#endif')).toThrow(/without/);
  });
});

describe('pipelines and buffers on the GPU', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(async () => {
    await ctx?.device.queue.onSubmittedWorkDone();
    ctx?.device.destroy();
  });

  const shader = `
#include "f16"
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: vec4<u32>;
override SCALE: f32 = 1.0;
@compute @workgroup_size(1) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x >= p.x) { return; }
  dst[g.x] = f16_half(src[g.x / 2u], g.x & 1u) * SCALE;
}`;

  it('caches by key/constants, decodes f16 without shader-f16, and round-trips buffers', async () => {
    const code = composeWgsl(shader);
    const a = await getPipelineAsync(ctx, 'test:f16', code, 'main', { SCALE: 2 });
    const before = cachedPipelineCount(ctx.device);
    expect(getPipeline(ctx, 'test:f16', code, 'main', { SCALE: 2 })).toBe(a);
    expect(cachedPipelineCount(ctx.device)).toBe(before);
    expect(getPipeline(ctx, 'test:f16', code, 'main', { SCALE: 3 })).not.toBe(a);
    expect(() => getPipeline(ctx, 'test:f16', code + '\n', 'main', { SCALE: 2 })).toThrow(/different WGSL/);

    const halves = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001]); // 1, -2, 0.5, 65504, 2^-24
    const src = createStorageBuffer(ctx, halves); // 10 bytes → padded to 12
    expect(src.size).toBe(12);
    const dst = createStorageBuffer(ctx, 5 * 4);
    const params = createUniformBuffer(ctx, new Uint32Array([5, 0, 0, 0]));
    const bg = ctx.device.createBindGroup({
      layout: a.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: src } },
        { binding: 1, resource: { buffer: dst } },
        { binding: 2, resource: { buffer: params } },
      ],
    });
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(a);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(5);
    pass.end();
    ctx.device.queue.submit([enc.finish()]);
    expect([...(await readF32(ctx, dst))]).toEqual([2, -4, 1, 131008, 2 * 2 ** -24]);

    writeBufferPadded(ctx, src, 0, new Uint8Array([1, 2, 3]));
    const words = await readU32(ctx, src, 1);
    expect(words[0]).toBe(0x030201);
  });

  it('getPipelineAsync rejects a shader that does not compile, naming the key', async () => {
    await expect(getPipelineAsync(ctx, 'test:broken', 'fn main( {', 'main')).rejects.toThrow(/test:broken/);
  });
});

describe('composeWgsl #for', () => {
  it('unrolls nested loops with substituted bounds and indices, and honours #if inside', () => {
    const src = ['#for I in 0..{{N}}', '#for J in 1..3', 'a{{I}}{{J}}', '#endfor', '#if !X', 'b{{I}}', '#endif', '#endfor'].join('\n');
    expect(composeWgsl(src, { defines: { N: 2, X: 0 } }).split('\n')).toEqual(['a01', 'a02', 'b0', 'a11', 'a12', 'b1']);
    expect(composeWgsl(src, { defines: { N: 0, X: 0 } })).toBe('');
    expect(() => composeWgsl('#for I in 0..2\nx')).toThrow(/without #endfor/);
    expect(() => composeWgsl('#endfor')).toThrow(/without #for/);
    expect(() => composeWgsl('#for I in 0..{{Q}}\n#endfor', { defines: { Q: 'z' } })).toThrow(/not an integer/);
    // Bounds with arithmetic, and a loop inside a dropped #if branch.
    expect(composeWgsl('#for I in 0..{{N / 2}}\nv{{I * 2 + 1}}\n#endfor', { defines: { N: 4 } })).toBe('v1\nv3');
    expect(composeWgsl('#if A\n#for I in 0..{{N / 2}}\nx\n#endfor\n#endif', { defines: { A: 0, N: 4 } })).toBe('');
  });
});
