/**
 * End-to-end benchmark of one model: prefill and decode speed, time to first token, and the
 * structural counters of a decode step (submissions, dispatches, readback bytes, GPU objects
 * created after warm-up, weight bytes read vs the quantized weight bytes), measured by counting
 * calls on the device, queue and pass encoders while the engine runs (bench/lib/e2e-measure.ts,
 * shared with the browser variant).
 */
import { type EngineLoadOptions, loadEngine } from '../../src/engine/engine.ts';
import type { RowKernels } from './autotune.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import type { ActivationPrecision, ActivationsOption } from '../../src/kernels/matvec-q8.ts';
import { liveBytes, settleGc } from '../../test/helpers/live-memory.ts';
import { BENCH_CONTEXT_SIZE, measureRun, type RunMeasurement } from './e2e-measure.ts';

export interface E2eRow extends RunMeasurement {
  model: string;
  /** What the decode mat-vecs read (LoadOptions.activations, resolved). */
  activations?: ActivationPrecision;
  /** The kernel variants the row ran with and how they were chosen (ModelInfo.kernels). */
  kernels?: RowKernels;
  weightBytesReadPerStep: number;
  /**
   * Dispatches of a decode step less the 4 outside the layers (embedding, final norm, LM head,
   * token choice), per layer.
   */
  dispatchesPerLayer: number;
  weightBytes: number;
  gpuBytes: { weights: number; kvCache: number; scratch: number };
  fileBytes: number;
  peakJsHeapDuringLoadBytes: number;
  llamaCpp?: { prefillTokensPerSec: number; decodeTokensPerSec: number };
}

/**
 * The most JS memory (heap plus ArrayBuffers, sampled every 5 ms, no collection forced) `run` held
 * above what was live when it started. The baseline is taken after a settled collection: garbage
 * of the work before (a store import reads the whole file) would otherwise count in it and, once
 * collected during `run`, hide as much of run's own peak.
 */
export async function peakJsMemoryDuring<T>(run: () => Promise<T>): Promise<{ result: T; peakBytes: number }> {
  await settleGc();
  const before = liveBytes();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, liveBytes());
  }, 5);
  try {
    const result = await run();
    return { result, peakBytes: Math.max(0, peak - before) };
  } finally {
    clearInterval(sampler);
  }
}

export async function benchModel(
  ctx: GpuContext,
  path: string,
  opts: { promptTokens: number; decodeTokens: number; activations?: ActivationsOption } & KernelLoadOptions,
): Promise<E2eRow> {
  const source = await FileByteSource.open(path);
  const gguf = await readGGUF(source);
  const { result: engine, peakBytes } = await peakJsMemoryDuring(() => loadEngine(source, benchEngineOptions(ctx, opts)));
  await source.close();
  try {
    const measured = await measureRun(engine, ctx, opts);
    const weightBytes = gguf.tensors.reduce((s, t) => s + t.byteSize, 0);
    const embd = gguf.tensor('token_embd.weight')!;
    const tied = !gguf.tensor('output.weight');
    // A decode step reads every weight once, except token_embd, of which it reads one row — unless
    // the LM head is tied to it, in which case the head reads all of it.
    const weightBytesReadPerStep = weightBytes - (tied ? 0 : embd.byteSize - embd.byteSize / embd.dims[1]!);
    const nLayer = gguf.getNumber(`${gguf.architecture}.block_count`) ?? Number.NaN;
    return {
      model: path.split('/').pop()!,
      activations: engine.info.activations,
      kernels: engine.info.kernels,
      ...measured,
      dispatchesPerLayer: (measured.dispatchesPerStep - 4) / nLayer,
      weightBytesReadPerStep,
      weightBytes,
      gpuBytes: engine.info.gpuBytes,
      fileBytes: engine.info.fileBytes,
      peakJsHeapDuringLoadBytes: peakBytes,
    };
  } finally {
    await engine.dispose();
  }
}

/** The engine's kernel options the bench passes through (--autotune). */
export type KernelLoadOptions = Pick<EngineLoadOptions, 'autotune' | 'autotuneBudget' | 'onAutotune'>;

/** How every end-to-end bench row loads its engine: the bench's context and the row's kernel choices. */
export function benchEngineOptions(
  gpu: GpuContext,
  opts: { activations?: ActivationsOption } & KernelLoadOptions,
): EngineLoadOptions & { gpu: GpuContext } {
  return {
    gpu,
    contextSize: BENCH_CONTEXT_SIZE,
    activations: opts.activations,
    autotune: opts.autotune,
    autotuneBudget: opts.autotuneBudget,
    onAutotune: opts.onAutotune,
  };
}

/** Threads llama.cpp uses in the side-by-side rows (recorded in the output). */
export const LLAMA_CPP_THREADS = 1;

/** The same prompt length and decode count through llama.cpp (node-llama-cpp, CPU). */
export async function benchLlamaCpp(
  path: string,
  opts: { promptTokens: number; decodeTokens: number },
): Promise<{ prefillTokensPerSec: number; decodeTokensPerSec: number }> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 512, batchSize: 512, threads: LLAMA_CPP_THREADS });
  try {
    const seq = context.getSequence();
    const base = model.tokenize(
      'Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog. ',
    ) as number[];
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
    // Each getLlama() is a new instance holding a process beforeExit listener until disposed.
    await llama.dispose();
  }
}
