/**
 * End-to-end benchmark of one model: prefill and decode speed, time to first token, and the
 * structural counters of a decode step (submissions, dispatches, readback bytes, GPU objects
 * created after warm-up, weight bytes read vs the quantized weight bytes), measured by counting
 * calls on the device, queue and pass encoders while the engine runs.
 */
import { loadEngine } from '../../src/engine/engine.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';

export interface E2eRow {
  model: string;
  promptTokens: number;
  decodeTokens: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  timeToFirstTokenMs: number;
  submissionsPerStep: number;
  dispatchesPerStep: number;
  readbackBytesPerStep: number;
  newGpuObjectsPerStep: number;
  weightBytesReadPerStep: number;
  weightBytes: number;
  gpuBytes: { weights: number; kvCache: number; scratch: number };
  fileBytes: number;
  peakJsHeapDuringLoadBytes: number;
  llamaCpp?: { prefillTokensPerSec: number; decodeTokensPerSec: number };
}

interface Counters {
  submissions: number;
  dispatches: number;
  readbackBytes: number;
  objects: number;
}

const CREATORS = ['createBuffer', 'createBindGroup', 'createComputePipeline', 'createShaderModule', 'createBindGroupLayout', 'createPipelineLayout', 'createQuerySet', 'createTexture'] as const;

/** Wraps the device so every submission, dispatch, readback copy and object creation is counted. */
function instrument(ctx: GpuContext): { counters: Counters; restore(): void } {
  const counters: Counters = { submissions: 0, dispatches: 0, readbackBytes: 0, objects: 0 };
  const device = ctx.device as unknown as Record<string, (...a: unknown[]) => unknown>;
  const queue = ctx.device.queue as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved: [Record<string, unknown>, string, unknown][] = [];
  const wrap = (obj: Record<string, (...a: unknown[]) => unknown>, name: string, before: (...a: unknown[]) => void, after?: (r: unknown) => unknown) => {
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
  wrap(device, 'createCommandEncoder', () => undefined, (enc) => {
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
  });
  return {
    counters,
    restore() {
      for (const [obj, name, fn] of saved.reverse()) obj[name] = fn;
    },
  };
}

/** Token ids for a prompt of exactly n tokens (repeating the model's own encoding of a story). */
function promptOf(encode: (s: string) => number[], n: number): number[] {
  const base = encode('Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. ');
  const out = [base[0]!];
  while (out.length < n) out.push(...base.slice(1));
  return out.slice(0, n);
}

export async function benchModel(ctx: GpuContext, path: string, opts: { promptTokens: number; decodeTokens: number }): Promise<E2eRow> {
  const source = await FileByteSource.open(path);
  const gguf = await readGGUF(source);
  const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  let heapPeak = heapBefore;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    heapPeak = Math.max(heapPeak, m.heapUsed + m.arrayBuffers);
  }, 5);
  const engine = await loadEngine(source, { gpu: ctx, contextSize: Math.min(512, gguf.getNumber(gguf.archKey('context_length')) ?? 512) });
  clearInterval(sampler);
  await source.close();
  try {
    const nPrompt = Math.min(opts.promptTokens, engine.info.contextSize - opts.decodeTokens - 1);
    const prompt = promptOf((s) => engine.encodePrompt(s), nPrompt);
    const run = async (n: number) => {
      await engine.reset();
      const s = engine.generate(prompt, { maxTokens: n, temperature: 0 });
      let count = 0;
      for await (const t of s) if (t.id >= 0) count++;
      return { stats: await s.stats, count };
    };
    await run(4); // warm-up: pipelines compiled, bind groups built
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
    const weightBytes = gguf.tensors.reduce((s, t) => s + t.byteSize, 0);
    const embd = gguf.tensor('token_embd.weight')!;
    const tied = !gguf.tensor('output.weight');
    // A decode step reads every weight once, except token_embd, of which it reads one row — unless
    // the LM head is tied to it, in which case the head reads all of it.
    const weightBytesReadPerStep = weightBytes - (tied ? 0 : embd.byteSize - embd.byteSize / embd.dims[1]!);
    return {
      model: path.split('/').pop()!,
      promptTokens: nPrompt,
      decodeTokens: measured.count,
      prefillTokensPerSec: measured.stats.prefillTokensPerSec,
      decodeTokensPerSec: measured.stats.decodeTokensPerSec,
      timeToFirstTokenMs: measured.stats.timeToFirstTokenMs,
      submissionsPerStep: (c.submissions - prefillSubmits) / steps,
      dispatchesPerStep: c.dispatches / (steps + prefillSubmits),
      readbackBytesPerStep: c.readbackBytes / measured.count,
      newGpuObjectsPerStep: c.objects / steps,
      weightBytesReadPerStep,
      weightBytes,
      gpuBytes: engine.info.gpuBytes,
      fileBytes: engine.info.fileBytes,
      peakJsHeapDuringLoadBytes: Math.max(0, heapPeak - heapBefore),
    };
  } finally {
    await engine.dispose();
  }
}

/** Threads llama.cpp uses in the side-by-side rows (recorded in the output). */
export const LLAMA_CPP_THREADS = 1;

/** The same prompt length and decode count through llama.cpp (node-llama-cpp, CPU). */
export async function benchLlamaCpp(path: string, opts: { promptTokens: number; decodeTokens: number }): Promise<{ prefillTokensPerSec: number; decodeTokensPerSec: number }> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 512, batchSize: 512, threads: LLAMA_CPP_THREADS });
  try {
    const seq = context.getSequence();
    const base = model.tokenize('Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. ') as number[];
    const prompt: number[] = [model.tokens.bos as number];
    while (prompt.length < opts.promptTokens) prompt.push(...base);
    prompt.length = Math.min(opts.promptTokens, 512 - opts.decodeTokens - 1);
    const t0 = performance.now();
    let n = 0;
    let tFirst = 0;
    // The first result arrives after the whole prompt is evaluated (prefill), then one per token.
    for await (const _ of seq.evaluateWithMetadata(prompt as never, {}, { temperature: 0 })) {
      if (n === 0) tFirst = performance.now();
      if (++n >= opts.decodeTokens) break;
    }
    const t2 = performance.now();
    return {
      prefillTokensPerSec: (prompt.length / (tFirst - t0)) * 1000,
      decodeTokensPerSec: ((n - 1) / (t2 - tFirst)) * 1000,
    };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}
