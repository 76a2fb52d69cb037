// Dispatches per decode step and per layer (issue 11 item 4): a llama layer takes at most 7 with f32
// activations (the fused graph), and 7 with int8 activations (the same graph, plus the quantize of
// the attention output; the other inputs are quantized by the mat-vec that wrote them). Counted
// on the device while the engine generates from a one-token prompt, so every step after the
// prompt's runs the decode graph; per layer = the difference between the same model with 3 layers and with 1, over 2.
import { afterAll, describe, expect, test } from 'vitest';
import { instrument } from '../../bench/lib/e2e-measure.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { ActivationPrecision } from '../../src/kernels/matvec-q8.ts';
import { localModel } from '../helpers/fixtures.ts';
import { openEngine, releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { makeSyntheticModel, removeSyntheticModels, type SyntheticModelSpec } from '../helpers/synthetic-models.ts';

afterAll(async () => {
  removeSyntheticModels();
  await releaseTestGpu();
});

/**
 * Dispatches of a decode step (the most common count over the run's submissions: a prompt
 * the engine extends with BOS takes one prefill step), submissions per generated token, and the
 * GPU objects created while decoding.
 */
async function perStep(engine: Engine): Promise<{ dispatches: number; submissions: number; objects: number }> {
  const steps = 6;
  const run = async () => {
    await engine.reset();
    const s = engine.generate([1], { maxTokens: steps, temperature: 0 });
    let n = 0;
    for await (const t of s) if (t.id >= 0) n++;
    await s.stats;
    return n;
  };
  await run(); // warm-up: pipelines and bind groups exist afterwards
  const gpu = await testGpu();
  const probe = instrument(gpu);
  const queue = gpu.device.queue;
  const submit = queue.submit.bind(queue);
  const perSubmission: number[] = [];
  let seen = 0;
  queue.submit = (buffers) => {
    submit(buffers);
    perSubmission.push(probe.counters.dispatches - seen);
    seen = probe.counters.dispatches;
  };
  let n: number;
  try {
    n = await run();
  } finally {
    queue.submit = submit;
    probe.restore();
  }
  // A sampled end-of-text token may end the run early; every step still counts.
  expect(n).toBeGreaterThan(1);
  // The first submission is the prompt's, through the prefill graph (a prompt token takes it even
  // alone); every later one is a decode step.
  const decodeSubmissions = perSubmission.slice(1);
  const counts = new Map<number, number>();
  for (const d of decodeSubmissions) counts.set(d, (counts.get(d) ?? 0) + 1);
  const [dispatches, stepCount] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
  return { dispatches, submissions: decodeSubmissions.length / stepCount, objects: probe.counters.objects };
}

async function layerCost(
  spec: Omit<SyntheticModelSpec, 'nLayer'>,
  activations: ActivationPrecision = 'f32',
): Promise<{ perLayer: number; submissions: number; objects: number; activations: ActivationPrecision }> {
  const counts = [];
  let used: ActivationPrecision | undefined;
  for (const nLayer of [1, 3]) {
    const engine = await openEngine(await makeSyntheticModel({ ...spec, nLayer } as SyntheticModelSpec), 64, { activations });
    used = engine.info.activations;
    try {
      counts.push(await perStep(engine));
    } finally {
      await engine.dispose();
    }
  }
  return {
    perLayer: (counts[1]!.dispatches - counts[0]!.dispatches) / 2,
    submissions: Math.max(...counts.map((c) => c.submissions)),
    objects: Math.max(...counts.map((c) => c.objects)),
    activations: used!,
  };
}

const shape = { nEmbd: 256, nFF: 512, nHead: 4, nHeadKV: 2 };

describe('dispatches per decode layer', () => {
  test('llama (Q4_K): at most 7, one submission per step, no GPU object created', async () => {
    const c = await layerCost({ arch: 'llama', seed: 3, ...shape, weightType: 'Q4_K' });
    console.log(`dispatches per layer: llama Q4_K ${c.perLayer}`);
    expect(c.perLayer).toBeLessThanOrEqual(7);
    expect(c.submissions).toBe(1);
    expect(c.objects).toBe(0);
  });

  test('llama (Q4_K) with int8 activations: 7, one submission per step, no GPU object created', async () => {
    const c = await layerCost({ arch: 'llama', seed: 3, ...shape, weightType: 'Q4_K' }, 'int8');
    console.log(`dispatches per layer: llama Q4_K int8 activations ${c.perLayer}`);
    expect(c.activations).toBe('int8');
    // Q/K/V (input normed and quantized by the previous layer's down), RoPE, attention, the
    // quantize of att, output + add (quantizing x·ffn_norm), gate·up (quantizing act(gate)·up),
    // down + add (quantizing x·the next attn_norm). It was 16.
    expect(c.perLayer).toBe(7);
    expect(c.submissions).toBe(1);
    expect(c.objects).toBe(0);
  });

  // Six engines load and compile here: slow on a busy software device.
  test('BitNet b1.58 (I2_S, sub-norms, scale tensors) and qwen3 (q/k norms): what they reach', { timeout: 600_000 }, async () => {
    const bitnet = await layerCost({ arch: 'bitnet-b1.58', seed: 5, ...shape, bitnetScales: true, weightType: 'I2_S' });
    const bitnetPlain = await layerCost({ arch: 'bitnet-b1.58', seed: 5, ...shape, weightType: 'I2_S' });
    const qwen3 = await layerCost({ arch: 'qwen3', seed: 31, ...shape, headDim: 32 });
    console.log(
      `dispatches per layer: bitnet-b1.58 I2_S ${bitnetPlain.perLayer}, with scale tensors ${bitnet.perLayer}; qwen3 F32 ${qwen3.perLayer}`,
    );
    // Sub-norms fold into the output/down mat-vecs: a BitNet layer costs what a llama layer does.
    expect(bitnetPlain.perLayer).toBeLessThanOrEqual(7);
    // Scale tensors: a multiply for each of q, k, v, o, gate, up and down, an add for o and down,
    // and gate/up run apart with their own activation kernel (their scales precede it): 17 at
    // this context, against 22 before the fusions.
    expect(bitnet.perLayer).toBeLessThanOrEqual(17);
    // The per-head q and k norms are two more.
    expect(qwen3.perLayer).toBeLessThanOrEqual(9);
  });

  test('BitNet b1.58 (I2_S, sub-norms) and qwen3 (Q8_0, q/k norms) with int8 activations', { timeout: 600_000 }, async () => {
    const bitnet = await layerCost({ arch: 'bitnet-b1.58', seed: 5, ...shape, weightType: 'I2_S' }, 'int8');
    const qwen3 = await layerCost({ arch: 'qwen3', seed: 31, ...shape, headDim: 32, weightType: 'Q8_0' }, 'int8');
    console.log(`dispatches per layer, int8 activations: bitnet-b1.58 I2_S ${bitnet.perLayer}; qwen3 Q8_0 ${qwen3.perLayer}`);
    // The sub-norms are applied at the o and down stores, their weights by the quantizes before.
    expect(bitnet.perLayer).toBeLessThanOrEqual(7);
    // The per-head q and k norms are two more.
    expect(qwen3.perLayer).toBeLessThanOrEqual(9);
    for (const c of [bitnet, qwen3]) {
      expect(c.activations).toBe('int8');
      expect(c.submissions).toBe(1);
      expect(c.objects).toBe(0);
    }
  });

  test('the Q4_K_M demo model (attn_v Q6_K in some layers): at most 7 per layer on average', async () => {
    const engine = await openEngine(localModel('tinystories-llama-3M-Q4_K_M.gguf'), 64, { activations: 'f32' });
    try {
      const c = await perStep(engine);
      // Embedding, final norm, LM head and argmax outside the 4 layers.
      const perLayer = (c.dispatches - 4) / 4;
      console.log(`dispatches per step: Q4_K_M demo ${c.dispatches} (${perLayer} per layer)`);
      expect(perLayer).toBeLessThanOrEqual(7);
    } finally {
      await engine.dispose();
    }
  });
});
