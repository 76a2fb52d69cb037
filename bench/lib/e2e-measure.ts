/**
 * The browser-safe core of the end-to-end benchmark (no node: imports): the device/queue/pass
 * instrumentation, the fixed prompt, and one measured generate run on a loaded engine. Node's
 * bench/lib/e2e.ts and the browser page bench/browser-page.ts both use it, so the two report
 * the same quantities measured the same way.
 */
import type { Engine } from '../../src/engine/engine.ts';
import type { GpuContext } from '../../src/gpu/device.ts';

export interface Counters {
  submissions: number;
  dispatches: number;
  readbackBytes: number;
  objects: number;
}

/** What one measured run reports: speed plus the structural counters of a decode step. */
export interface RunMeasurement {
  promptTokens: number;
  decodeTokens: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  timeToFirstTokenMs: number;
  submissionsPerStep: number;
  dispatchesPerStep: number;
  readbackBytesPerStep: number;
  newGpuObjectsPerStep: number;
}

const CREATORS = [
  'createBuffer',
  'createBindGroup',
  'createComputePipeline',
  'createShaderModule',
  'createBindGroupLayout',
  'createPipelineLayout',
  'createQuerySet',
  'createTexture',
] as const;

/** Wraps the device so every submission, dispatch, readback copy and object creation is counted. */
export function instrument(ctx: GpuContext): { counters: Counters; restore(): void } {
  const counters: Counters = { submissions: 0, dispatches: 0, readbackBytes: 0, objects: 0 };
  const device = ctx.device as unknown as Record<string, (...a: unknown[]) => unknown>;
  const queue = ctx.device.queue as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved: [Record<string, unknown>, string, unknown][] = [];
  const wrap = (
    obj: Record<string, (...a: unknown[]) => unknown>,
    name: string,
    before: (...a: unknown[]) => void,
    after?: (r: unknown) => unknown,
  ) => {
    const orig = obj[name]!;
    saved.push([obj, name, orig]);
    obj[name] = function (this: unknown, ...args: unknown[]) {
      before(...args);
      const r = orig.apply(this, args);
      return after ? after(r) : r;
    };
  };
  for (const c of CREATORS) if (typeof device[c] === 'function') wrap(device, c, () => counters.objects++);
  wrap(queue, 'submit', () => counters.submissions++);
  wrap(
    device,
    'createCommandEncoder',
    () => undefined,
    (enc) => {
      const e = enc as Record<string, (...a: unknown[]) => unknown>;
      const origPass = e.beginComputePass!.bind(e);
      e.beginComputePass = (...a: unknown[]) => {
        const pass = origPass(...a) as Record<string, (...a: unknown[]) => unknown>;
        const d = pass.dispatchWorkgroups!.bind(pass);
        pass.dispatchWorkgroups = (...b: unknown[]) => {
          counters.dispatches++;
          return d(...b);
        };
        return pass;
      };
      const origCopy = e.copyBufferToBuffer!.bind(e);
      e.copyBufferToBuffer = (...a: unknown[]) => {
        const dst = a[2] as GPUBuffer;
        if (dst.usage & GPUBufferUsage.MAP_READ) counters.readbackBytes += a[4] as number;
        return origCopy(...a);
      };
      return enc;
    },
  );
  return {
    counters,
    restore() {
      for (const [obj, name, fn] of saved.reverse()) obj[name] = fn;
    },
  };
}

/** Token ids for a prompt of exactly n tokens (repeating the model's own encoding of a story). */
export function promptOf(encode: (s: string) => number[], n: number): number[] {
  const base = encode('Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. ');
  const out = [base[0]!];
  while (out.length < n) out.push(...base.slice(1));
  return out.slice(0, n);
}

/**
 * Context size the benchmark loads a model with (loadEngine clamps it to the model's own context
 * length): room for the 128-token prompt and the decoded tokens, and a small KV cache.
 */
export const BENCH_CONTEXT_SIZE = 512;

/**
 * A warm-up run (pipelines compiled, bind groups built), then one instrumented run of the prompt
 * plus `decodeTokens` greedy tokens.
 */
export async function measureRun(
  engine: Engine,
  ctx: GpuContext,
  opts: { promptTokens: number; decodeTokens: number },
): Promise<RunMeasurement> {
  const nPrompt = Math.min(opts.promptTokens, engine.info.contextSize - opts.decodeTokens - 1);
  const prompt = promptOf((s) => engine.encodePrompt(s), nPrompt);
  const run = async (n: number) => {
    await engine.reset();
    const s = engine.generate(prompt, { maxTokens: n, temperature: 0 });
    let count = 0;
    for await (const t of s) if (t.id >= 0) count++;
    return { stats: await s.stats, count };
  };
  await run(4);
  const probe = instrument(ctx);
  let measured;
  try {
    measured = await run(opts.decodeTokens);
  } finally {
    probe.restore();
  }
  // Prefill of the prompt is one submission per 64-token batch and one readback; attribute the
  // rest to the decode steps.
  const prefillSubmits = Math.ceil(nPrompt / 64);
  const steps = Math.max(1, measured.count - 1);
  const c = probe.counters;
  return {
    promptTokens: nPrompt,
    decodeTokens: measured.count,
    prefillTokensPerSec: measured.stats.prefillTokensPerSec,
    decodeTokensPerSec: measured.stats.decodeTokensPerSec,
    timeToFirstTokenMs: measured.stats.timeToFirstTokenMs,
    submissionsPerStep: (c.submissions - prefillSubmits) / steps,
    dispatchesPerStep: c.dispatches / (steps + prefillSubmits),
    readbackBytesPerStep: c.readbackBytes / measured.count,
    newGpuObjectsPerStep: c.objects / steps,
  };
}

/** The device note every benchmark report starts with (adapter, features, limits). */
export function deviceSummary(ctx: GpuContext) {
  return {
    ...ctx.adapterInfo,
    software: ctx.isSoftware,
    hasF16: ctx.hasF16,
    hasSubgroups: ctx.hasSubgroups,
    maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize,
    maxBufferSize: ctx.limits.maxBufferSize,
  };
}
