/**
 * The two codebook placements the probe iq-codebook-storage.ts times (issue 16 item 2), built
 * without touching production files: (a) the production IQ mat-vec, grid as a WGSL `const`
 * array; (b) the same composed WGSL with that one `const` declaration rewritten to a
 * `var<storage, read>` binding at a binding index the kernel leaves free, the grid uploaded once.
 *
 * (b) reuses the production kernel's own composed source, bind-group resources and dispatch size,
 * captured while the production kernel is created and bound, so that it follows whatever
 * shaders/matmul.wgsl and src/kernels/matmul.ts become; storageGridWgsl throws when the
 * declaration it rewrites is no longer there. test/kernels/iq-codebook-storage.test.ts checks (b)
 * against (a) bit for bit for every codebook type.
 */
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import type { GpuWeight } from '../../src/gpu/weights.ts';
import { createMatVec } from '../../src/kernels/matmul.ts';
import type { KernelCall } from '../../src/kernels/common.ts';
import * as grids from '../../src/quant/cpu/iq-grids.ts';
import type { GridCodes } from '../../src/quant/cpu/iq-grids.ts';
import { gpuQuantTypes } from '../../src/quant/table.ts';
import { GGMLType } from '../../src/quant/types.ts';

/**
 * The codebook types: those whose GPU decoder declares a `const <name>_GRID = array<u32, N>`
 * (gpu-decoders.ts appends it), with the grid's name and its codes from cpu/iq-grids.ts. Derived,
 * not listed, so a new codebook type joins the probe and its test by itself.
 */
export const CODEBOOK_TYPES: readonly { name: string; type: GGMLType; grid: string; codes: GridCodes }[] = gpuQuantTypes().flatMap(
  (entry) => {
    const grid = /const (\w+_GRID) = array<u32, \d+>/.exec(entry.gpu.source)?.[1];
    if (!grid) return [];
    const codes = (grids as Record<string, unknown>)[grid];
    if (!(codes instanceof Uint16Array)) throw new Error(`${entry.name}: the decoder's ${grid} is not in cpu/iq-grids.ts`);
    return [{ name: entry.name, type: entry.id, grid, codes }];
  },
);

/** Group-0 binding of the grid in variant (b): past the mat-vec's own bindings 0–5. */
export const GRID_BINDING = 6;

/**
 * `source` with its `const <grid> = array<u32, N>(…);` declaration replaced by a read-only storage
 * binding of the same name and type; throws unless exactly one such declaration is present and
 * the binding index is free.
 */
export function storageGridWgsl(source: string, grid: string): string {
  const decl = new RegExp(`const ${grid} = array<u32, (\\d+)>\\([^)]*\\);`, 'g');
  const found = source.match(decl)?.length ?? 0;
  if (found !== 1) throw new Error(`storage-grid variant: expected one const ${grid} declaration, found ${found}`);
  if (source.includes(`@binding(${GRID_BINDING})`)) throw new Error(`storage-grid variant: binding ${GRID_BINDING} is taken`);
  return source.replace(decl, (_all, n: string) => `@group(0) @binding(${GRID_BINDING}) var<storage, read> ${grid}: array<u32, ${n}>;`);
}

export interface CodebookPair {
  /** (a) the production kernel, const grid. */
  constCall: KernelCall;
  /** (b) the grid in a storage buffer. */
  storageCall: KernelCall;
  /** The storage buffer holding the grid (destroyed with the device). */
  gridBuffer: GPUBuffer;
}

/** Records what a KernelCall encodes, to replay its dispatch size. */
function recordDispatch(call: KernelCall): [number, number, number] {
  const dispatches: [number, number, number][] = [];
  const recorder = {
    setPipeline() {},
    setBindGroup() {},
    dispatchWorkgroups(x: number, y = 1, z = 1) {
      dispatches.push([x, y, z]);
    },
  } as unknown as GPUComputePassEncoder;
  call.encode(recorder);
  if (dispatches.length !== 1) throw new Error(`storage-grid variant: expected one dispatch (one weight part), got ${dispatches.length}`);
  return dispatches[0]!;
}

/**
 * Creates the production mat-vec for `type` bound to weight/input/output, capturing its composed
 * WGSL and bind-group entries (by wrapping the device's createShaderModule / createBindGroup for
 * the duration), and builds variant (b) from them. Needs a device on which this mat-vec pipeline
 * was not compiled yet (the pipeline cache would skip createShaderModule).
 */
export async function buildCodebookPair(
  ctx: GpuContext,
  type: GGMLType,
  bindings: { weight: GpuWeight; input: GPUBuffer; output: GPUBuffer },
): Promise<CodebookPair> {
  const spec = CODEBOOK_TYPES.find((t) => t.type === type);
  if (!spec) throw new Error(`storage-grid variant: ${GGMLType[type]} has no codebook`);
  const device = ctx.device;
  const sources: string[] = [];
  const groupEntries: GPUBindGroupEntry[][] = [];
  const createShaderModule = device.createShaderModule;
  const createBindGroup = device.createBindGroup;
  device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
    sources.push(d.code);
    return createShaderModule.call(device, d);
  };
  device.createBindGroup = (d: GPUBindGroupDescriptor) => {
    groupEntries.push([...(d.entries as Iterable<GPUBindGroupEntry>)]);
    return createBindGroup.call(device, d);
  };
  let constCall: KernelCall;
  try {
    constCall = createMatVec(ctx, { type, rows: bindings.weight.rows, cols: bindings.weight.cols }).bind(bindings);
  } finally {
    device.createShaderModule = createShaderModule;
    device.createBindGroup = createBindGroup;
  }
  if (sources.length !== 1) throw new Error(`storage-grid variant: captured ${sources.length} shader sources, expected 1`);
  if (groupEntries.length !== 1) throw new Error(`storage-grid variant: captured ${groupEntries.length} bind groups, expected 1`);
  const [gx, gy, gz] = recordDispatch(constCall);

  const gridBuffer = createStorageBuffer(ctx, Uint32Array.from(spec.codes), { label: `${spec.grid}:storage` });
  device.pushErrorScope('validation');
  const pipeline = device.createComputePipeline({
    label: `probe-storage-grid:${spec.name}`,
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: storageGridWgsl(sources[0]!, spec.grid) }), entryPoint: 'main' },
  });
  const group = device.createBindGroup({
    label: `probe-storage-grid:${spec.name}`,
    layout: pipeline.getBindGroupLayout(0),
    entries: [...groupEntries[0]!, { binding: GRID_BINDING, resource: { buffer: gridBuffer } }],
  });
  const error = await device.popErrorScope();
  if (error) throw new Error(`storage-grid variant of ${spec.name}: ${error.message}`);
  const storageCall: KernelCall = {
    encode(pass) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(gx, gy, gz);
    },
  };
  return { constCall, storageCall, gridBuffer };
}

/** Runs `call` once and returns the output's first `n` f32 as raw bits. */
export async function outputBits(ctx: GpuContext, call: KernelCall, output: GPUBuffer, n: number): Promise<Uint32Array> {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  call.encode(pass);
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
  const y = await readF32(ctx, output, n);
  return new Uint32Array(y.buffer, y.byteOffset, n);
}

/** Index of the first output whose bits differ between (a) and (b), or −1; clears the output in between. */
export async function firstMismatch(ctx: GpuContext, pair: CodebookPair, output: GPUBuffer, n: number): Promise<number> {
  const a = Uint32Array.from(await outputBits(ctx, pair.constCall, output, n));
  ctx.device.queue.writeBuffer(output, 0, new Float32Array(n).fill(Number.NaN));
  const b = await outputBits(ctx, pair.storageCall, output, n);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}
