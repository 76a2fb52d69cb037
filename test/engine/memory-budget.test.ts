// GPU memory budget (issue 10 item 5): the estimate from the header alone bounds what a real
// load allocates (counted at createBuffer), and a model over the budget or over a binding limit
// is refused before the first GPU buffer, with both numbers and the largest context that fits.
import { afterAll, describe, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import { checkGpuMemoryBudget, estimateGpuMemory } from '../../src/engine/memory-budget.ts';
import { DeviceLimitError, GpuMemoryBudgetError } from '../../src/errors.ts';
import { readGGUF, type GGUFFile } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { modelConfigFromMetadata } from '../../src/model/config.ts';
import { planRowParts } from '../../src/gpu/weights.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { countingGpu } from './counting-gpu.ts';

afterAll(() => releaseTestGpu());

async function header(path: string): Promise<GGUFFile> {
  const src = await FileByteSource.open(path);
  try {
    return await readGGUF(src);
  } finally {
    await src.close();
  }
}

async function load(path: string, options: Omit<Parameters<typeof loadEngine>[1], 'gpu'>, gpu: Parameters<typeof loadEngine>[1]['gpu']) {
  const source = await FileByteSource.open(path);
  try {
    return await loadEngine(source, { gpu, ...options });
  } finally {
    await source.close();
  }
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

describe('estimate from the header alone', () => {
  test.each(['stories260K-Q4_0.gguf', 'tinystories-bitnet-3M-I2_S.gguf', 'tinystories-bitnet-3M-TQ2_0.gguf'])(
    "%s: weights are the tensors' bytes as uploaded (I2_S without its 32-byte trailer, TQ2_0 in its GPU layout)",
    async (name) => {
      const file = await header(localModel(name));
      // TQ2_0 is repacked on upload (src/quant/gpu-layout.ts): per row, 64 bytes of codes per
      // 256-value block and a 16-byte word of f32 scales per 4 blocks.
      const uploaded = (t: (typeof file.tensors)[number]) => {
        if (t.typeId === GGMLType.I2_S) return t.byteSize - 32;
        if (t.typeId !== GGMLType.TQ2_0) return t.byteSize;
        const nb = t.dims[0]! / 256;
        return (t.nElements / t.dims[0]!) * (64 * nb + 16 * Math.ceil(nb / 4));
      };
      const expected = file.tensors.reduce((s, t) => s + pad4(uploaded(t)), 0);
      const est = estimateGpuMemory(file, { contextSize: 128 });
      expect(est.weights).toBe(expected);
      expect(est.total).toBe(est.weights + Math.max(est.kvCache + est.scratch + est.batch, est.fusionTransient));
    },
  );

  test('KV cache: 2 × layers × kv heads × head dim × context × 4 bytes; it grows with the context, the weights do not', async () => {
    const file = await header(localModel('stories260K.gguf')); // 5 layers, 4 KV heads of 8
    const a = estimateGpuMemory(file, { contextSize: 100 });
    const b = estimateGpuMemory(file, { contextSize: 200 });
    expect(a.kvCache).toBe(2 * 5 * 4 * 8 * 100 * 4);
    expect(b.kvCache).toBe(2 * a.kvCache);
    expect(b.weights).toBe(a.weights);
    expect(a.contextSize).toBe(100);
    expect(a.maxBatch).toBe(64);
    expect(estimateGpuMemory(file, { contextSize: 16 }).maxBatch).toBe(16);
  });

  test('checkGpuMemoryBudget: the suggested context fits the budget and one more token does not', async () => {
    const file = await header(demoModel);
    const full = estimateGpuMemory(file, { contextSize: 256 });
    const budget = full.total - full.kvCache / 2;
    let err: unknown;
    try {
      checkGpuMemoryBudget(file, { contextSize: 256, maxGpuBytes: budget });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    const e = err as GpuMemoryBudgetError;
    expect(e.neededBytes).toBe(full.total);
    expect(e.availableBytes).toBe(budget);
    expect(e.largestContext).toBeGreaterThan(1);
    expect(e.largestContext).toBeLessThan(256);
    expect(e.message).toContain(String(full.total));
    expect(e.message).toContain(String(budget));
    expect(e.message).toContain(`at most ${e.largestContext} tokens`);
    expect(checkGpuMemoryBudget(file, { contextSize: e.largestContext, maxGpuBytes: budget }).total).toBeLessThanOrEqual(budget);
    expect(() => checkGpuMemoryBudget(file, { contextSize: e.largestContext! + 1, maxGpuBytes: budget })).toThrow(GpuMemoryBudgetError);
  });

  test('a budget below the weights: no context fits, and the error says so', async () => {
    const file = await header(demoModel);
    const est = estimateGpuMemory(file);
    expect(() => checkGpuMemoryBudget(file, { maxGpuBytes: est.weights - 1 })).toThrow(/weights alone do not fit/);
    try {
      checkGpuMemoryBudget(file, { maxGpuBytes: est.weights - 1 });
    } catch (e) {
      expect((e as GpuMemoryBudgetError).largestContext).toBe(0);
    }
  });

  test('a context whose KV cache is over the binding limit is refused with the largest context that fits', async () => {
    const file = await header(localModel('stories260K.gguf')); // KV layer: 4 × 8 × 4 = 128 bytes per token
    const limits = { maxStorageBufferBindingSize: 64 * 1024, maxBufferSize: 1 << 30 };
    expect(() => checkGpuMemoryBudget(file, { contextSize: 1024, limits })).toThrow(DeviceLimitError);
    try {
      checkGpuMemoryBudget(file, { contextSize: 1024, limits });
    } catch (e) {
      expect(e).toBeInstanceOf(GpuMemoryBudgetError);
      expect((e as Error).message).toMatch(/kCache\.0.*binding limit of 65536 bytes.*at most 512 tokens/);
      expect((e as GpuMemoryBudgetError).largestContext).toBe(512);
    }
    expect(checkGpuMemoryBudget(file, { contextSize: 512, limits }).largestBuffer.bytes).toBe(64 * 1024);
  });

  test('maxGpuBytes must be a positive number', async () => {
    const file = await header(demoModel);
    for (const bad of [0, -1, Number.NaN]) expect(() => checkGpuMemoryBudget(file, { maxGpuBytes: bad })).toThrow(RangeError);
  });
});

/** A header (metadata + tensor shapes, no bytes) of a Llama-style model with these dimensions. */
function shapeHeader(
  a: string,
  o: {
    nL: number;
    nE: number;
    nFF: number;
    nH: number;
    nKV: number;
    vocab: number;
    ctx: number;
    w: GGMLType;
    embd: GGMLType;
    subNorms?: boolean;
  },
) {
  const hd = o.nE / o.nH;
  const meta: Record<string, unknown> = {
    'general.architecture': a,
    [`${a}.context_length`]: o.ctx,
    [`${a}.embedding_length`]: o.nE,
    [`${a}.block_count`]: o.nL,
    [`${a}.feed_forward_length`]: o.nFF,
    [`${a}.attention.head_count`]: o.nH,
    [`${a}.attention.head_count_kv`]: o.nKV,
    [`${a}.vocab_size`]: o.vocab,
  };
  const tensors = [
    { name: 'token_embd.weight', dims: [o.nE, o.vocab], typeId: o.embd },
    { name: 'output_norm.weight', dims: [o.nE], typeId: GGMLType.F32 },
  ];
  for (let l = 0; l < o.nL; l++) {
    const p = `blk.${l}.`;
    const m = (n: string, dims: number[]) => tensors.push({ name: p + n, dims, typeId: o.w });
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [o.nE], typeId: GGMLType.F32 },
      { name: `${p}ffn_norm.weight`, dims: [o.nE], typeId: GGMLType.F32 },
    );
    if (o.subNorms)
      tensors.push(
        { name: `${p}attn_sub_norm.weight`, dims: [o.nE], typeId: GGMLType.F32 },
        { name: `${p}ffn_sub_norm.weight`, dims: [o.nFF], typeId: GGMLType.F32 },
      );
    m('attn_q.weight', [o.nE, o.nE]);
    m('attn_k.weight', [o.nE, o.nKV * hd]);
    m('attn_v.weight', [o.nE, o.nKV * hd]);
    m('attn_output.weight', [o.nE, o.nE]);
    m('ffn_gate.weight', [o.nE, o.nFF]);
    m('ffn_up.weight', [o.nE, o.nFF]);
    m('ffn_down.weight', [o.nFF, o.nE]);
  }
  return { get: (k: string) => meta[k], tensors };
}

describe('catalogue shapes, from a header alone under WebGPU default limits', () => {
  const DEFAULT = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };
  const llama1B = shapeHeader('llama', {
    nL: 16,
    nE: 2048,
    nFF: 8192,
    nH: 32,
    nKV: 8,
    vocab: 128256,
    ctx: 131072,
    w: GGMLType.Q4_K,
    embd: GGMLType.Q6_K,
  });
  const bitnet2B = shapeHeader('bitnet-b1.58', {
    nL: 30,
    nE: 2560,
    nFF: 6912,
    nH: 20,
    nKV: 5,
    vocab: 128256,
    ctx: 4096,
    w: GGMLType.I2_S,
    embd: GGMLType.F16,
    subNorms: true,
  });

  test('Llama-3.2-1B shape: the 205 MiB Q6_K embedding is split in 2 under 128 MiB; KV = 16 × 2 × 8 × 64 × ctx × 4', () => {
    const est = estimateGpuMemory(llama1B, { contextSize: 2048, limits: DEFAULT });
    const embdRowBytes = (2048 / 256) * 210; // Q6_K: 210 bytes per 256
    const blockBytes = ((2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 8192) / 256) * 144; // Q4_K: 144 bytes per 256
    const f32 = (2048 + 16 * 2 * 2048) * 4;
    expect(est.weights).toBe(128256 * embdRowBytes + 16 * blockBytes + f32);
    expect(est.kvCache).toBe(16 * 2 * 8 * 64 * 2048 * 4);
    expect(est.maxBufferBytes).toBe(128 * 2 ** 20);
    expect(planRowParts(128256, (2048 / 256) * 210, est.maxBufferBytes, 'token_embd.weight')).toHaveLength(2);
    expect(est.largestBuffer.bytes).toBeLessThanOrEqual(est.maxBufferBytes);
    expect(checkGpuMemoryBudget(llama1B, { contextSize: 4096, limits: DEFAULT, maxGpuBytes: 2 ** 30 }).total).toBeLessThanOrEqual(2 ** 30);
  });

  test('BitNet b1.58 2B4T shape at its 4096 context does not fit 1 GiB: the weights alone (I2_S codes + F16 embedding) are over', () => {
    const est = estimateGpuMemory(bitnet2B, { contextSize: 4096, limits: DEFAULT });
    expect(est.kvCache).toBe(30 * 2 * 5 * 128 * 4096 * 4);
    const codes = (30 * (2 * 2560 * 2560 + 2 * 2560 * 640 + 3 * 2560 * 6912)) / 4;
    expect(est.weights).toBe(128256 * 2560 * 2 + codes + (2560 + 30 * (3 * 2560 + 6912)) * 4);
    let err: unknown;
    try {
      checkGpuMemoryBudget(bitnet2B, { contextSize: 4096, limits: DEFAULT, maxGpuBytes: 2 ** 30 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    expect((err as GpuMemoryBudgetError).largestContext).toBe(0);
    // With 2 GiB it fits, and with 1.5 GiB only a shorter context does.
    expect(checkGpuMemoryBudget(bitnet2B, { contextSize: 4096, limits: DEFAULT, maxGpuBytes: 2 * 2 ** 30 }).contextSize).toBe(4096);
    expect(() => checkGpuMemoryBudget(bitnet2B, { contextSize: 4096, limits: DEFAULT, maxGpuBytes: 1.5 * 2 ** 30 })).toThrow(
      /at most \d+ tokens would fit/,
    );
  });
});

describe('a real load', () => {
  test.each([
    ['tinystories-llama-3M-Q4_K_M (demo)', demoModel, 256],
    ['stories260K-Q8_0', localModel('stories260K-Q8_0.gguf'), 128],
    ['tinystories-bitnet-3M-I2_S', localModel('tinystories-bitnet-3M-I2_S.gguf'), 100],
  ])('%s: the estimate bounds the GPU bytes alive at any moment of the load, within 64 KiB', async (_n, path, contextSize) => {
    const counted = countingGpu(await testGpu());
    const engine = await load(path, { contextSize }, counted.gpu);
    try {
      const est = estimateGpuMemory(await header(path), { contextSize, limits: counted.gpu.limits });
      const allocated = counted.peakBytes();
      expect(est.total).toBeGreaterThanOrEqual(allocated);
      expect(est.total - allocated).toBeLessThan(64 * 1024);
      expect(engine.info.gpuBytes.weights).toBe(est.weights);
      expect(engine.info.gpuBytes.kvCache).toBe(est.kvCache);
      expect(engine.info.gpuBytes.scratch).toBeLessThanOrEqual(est.scratch);
    } finally {
      await engine.dispose();
    }
  });

  test('an evaluation load (perplexity, KL, imatrix): its all-positions logits and their readback are in the estimate and the budget', async () => {
    const path = demoModel;
    const contextSize = 128;
    const limits = (await testGpu()).limits;
    const file = await header(path);
    const plain = estimateGpuMemory(file, { contextSize, limits });
    const est = estimateGpuMemory(file, { contextSize, limits, allLogits: true });
    const vocab = modelConfigFromMetadata(file).vocabSize;
    // [maxBatch][vocab] f32 on the GPU, and the evaluator's staging buffer of the same size.
    expect(est.scratch - plain.scratch).toBe(2 * est.maxBatch * vocab * 4);
    const counted = countingGpu(await testGpu());
    const engine = await load(path, { contextSize, evaluation: { allLogits: true } }, counted.gpu);
    try {
      const evaluator = engine.evaluator();
      await evaluator.evaluate(
        Array.from({ length: 100 }, (_, i) => (i * 7) % vocab),
        () => undefined,
      );
      const allocated = counted.peakBytes();
      expect(est.total).toBeGreaterThanOrEqual(allocated);
      expect(est.total - allocated).toBeLessThan(64 * 1024);
      evaluator.destroy();
    } finally {
      await engine.dispose();
    }
    // A budget the generation load fits in but the evaluation load does not: refused up front.
    const err = await load(path, { contextSize, maxGpuBytes: plain.total, evaluation: { allLogits: true } }, counted.gpu).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    expect((err as GpuMemoryBudgetError).neededBytes).toBe(est.total);
  });

  test('a ggml-activations load: its buffer of rounded inputs (every row of a prefill step) is in the estimate', async () => {
    const path = demoModel;
    const contextSize = 128;
    const counted = countingGpu(await testGpu());
    const file = await header(path);
    const plain = estimateGpuMemory(file, { contextSize, limits: counted.gpu.limits, activations: 'f32' });
    const est = estimateGpuMemory(file, { contextSize, limits: counted.gpu.limits, activations: 'ggml' });
    const cfg = modelConfigFromMetadata(file);
    expect(est.scratch - plain.scratch).toBe(est.maxBatch * Math.max(cfg.nEmbd, cfg.nHead * cfg.headDimV, cfg.nFF) * 4);
    const engine = await load(path, { contextSize, activations: 'ggml' }, counted.gpu);
    try {
      const allocated = counted.peakBytes();
      expect(est.total).toBeGreaterThanOrEqual(allocated);
      expect(est.total - allocated).toBeLessThan(64 * 1024);
    } finally {
      await engine.dispose();
    }
  });

  test('over maxGpuBytes: GpuMemoryBudgetError before any GPU buffer, and the suggested context loads', async () => {
    const path = demoModel;
    const est = estimateGpuMemory(await header(path), { contextSize: 256, limits: (await testGpu()).limits });
    const budget = est.total - 1;
    const counted = countingGpu(await testGpu());
    const err = await load(path, { contextSize: 256, maxGpuBytes: budget }, counted.gpu).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    expect(counted.buffers).toHaveLength(0);
    const { neededBytes, availableBytes, largestContext } = err as GpuMemoryBudgetError;
    expect([neededBytes, availableBytes]).toEqual([est.total, budget]);
    expect(largestContext).toBeGreaterThan(0);
    const engine = await load(path, { contextSize: largestContext, maxGpuBytes: budget }, counted.gpu);
    try {
      expect(engine.info.contextSize).toBe(largestContext);
      expect(counted.peakBytes()).toBeLessThanOrEqual(budget);
    } finally {
      await engine.dispose();
    }
  });

  test("a KV cache over the device's binding limit: refused before any GPU buffer", async () => {
    const counted = countingGpu(await testGpu(), { maxStorageBufferBindingSize: 64 * 1024 });
    const err = await load(localModel('stories260K-Q8_0.gguf'), { contextSize: 2048 }, counted.gpu).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GpuMemoryBudgetError);
    expect(err).toBeInstanceOf(DeviceLimitError);
    expect((err as Error).message).toMatch(/2048-token context needs 262144 bytes for kCache\.0/);
    expect(counted.buffers).toHaveLength(0);
  });
});
