/**
 * Recording what a piece of engine code dispatches, so that each dispatch can be replayed and
 * timed alone (the per-kernel profiles in bench/probes/*-kernels.ts): compute passes are patched
 * to note each dispatch's pipeline, bind groups and grid, one list per queue submission.
 */
import { performance } from 'node:perf_hooks';

/** One dispatch as encoded: enough to encode it again on its own. */
export interface Dispatch {
  pipeline: GPUComputePipeline;
  groups: Map<number, { group: GPUBindGroup | null; offsets?: Iterable<number> }>;
  grid: [number, number, number];
}

/** Runs `work` with the device's encoders patched; returns the dispatches of each submission it made. */
export async function recordSubmissions(device: GPUDevice, work: () => Promise<void>): Promise<Dispatch[][]> {
  const submissions: Dispatch[][] = [];
  let recording: Dispatch[] = [];
  const createCommandEncoder = device.createCommandEncoder.bind(device);
  const queue = device.queue;
  const submit = queue.submit.bind(queue);
  device.createCommandEncoder = (d) => {
    const enc = createCommandEncoder(d);
    const beginComputePass = enc.beginComputePass.bind(enc);
    enc.beginComputePass = (pd) => {
      const pass = beginComputePass(pd);
      let pipeline: GPUComputePipeline | undefined;
      const groups = new Map<number, { group: GPUBindGroup | null; offsets?: Iterable<number> }>();
      const setPipeline = pass.setPipeline.bind(pass);
      const setBindGroup = pass.setBindGroup.bind(pass) as (i: number, g: GPUBindGroup | null, o?: Iterable<number>) => void;
      const dispatchWorkgroups = pass.dispatchWorkgroups.bind(pass);
      pass.setPipeline = (p) => {
        pipeline = p;
        setPipeline(p);
      };
      pass.setBindGroup = ((i: number, g: GPUBindGroup | null, o?: Iterable<number>) => {
        groups.set(i, { group: g, offsets: o === undefined ? undefined : [...o] });
        setBindGroup(i, g, o);
      }) as typeof pass.setBindGroup;
      pass.dispatchWorkgroups = (x, y = 1, z = 1) => {
        recording.push({ pipeline: pipeline!, groups: new Map(groups), grid: [x, y, z] });
        dispatchWorkgroups(x, y, z);
      };
      return pass;
    };
    return enc;
  };
  queue.submit = (buffers) => {
    submissions.push(recording);
    recording = [];
    submit(buffers);
  };
  try {
    await work();
  } finally {
    device.createCommandEncoder = createCommandEncoder;
    queue.submit = submit;
  }
  return submissions;
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  for (const [i, { group, offsets }] of d.groups) pass.setBindGroup(i, group, offsets === undefined ? undefined : [...offsets]);
  pass.dispatchWorkgroups(...d.grid);
}

/** Wall ms of one submission of `ds`, each dispatch `times` times in a row, to its completion. */
export async function timeDispatches(device: GPUDevice, ds: readonly Dispatch[], times: number): Promise<number> {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const d of ds) for (let i = 0; i < times; i++) encodeDispatch(pass, d);
  pass.end();
  const t0 = performance.now();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** A kernel family: the pipeline's name (its key up to the defines), and for mat-vecs and mat-muls the weight. */
export function dispatchFamily(d: Dispatch): string {
  const kernel = d.pipeline.label.split(/[|:{(]/)[0]!.trim() || d.pipeline.label;
  const weights = [...d.groups.values()].map((g) => g.group?.label ?? '').find((l) => /^matvec8?:|^matmul/.test(l));
  if (!weights) return kernel;
  const name = weights.replace(/^[^:]*:/, '').replace(/#\d+$/, '');
  return `${kernel} ${name.replace(/blk\.\d+\./g, 'blk.*.')}`;
}
