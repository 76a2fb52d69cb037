import { describe, expect, it } from 'vitest';
import { QuantizeError } from '../../src/errors.ts';
import { GGMLType, quantTypeInfo } from '../../src/quant/index.ts';
import { fileTypeByName, llamaTensorOrder, modelShapeFromMetadata, planMixture, type ModelShape } from '../../src/quant/mixture.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { loadModel } from './helpers.ts';

// Oracles: files written by llama-quantize (llama.cpp c392e509). Each pair is (input, output,
// the type argument, --pure); the output's tensor order and per-tensor types are what the
// mixture rules must reproduce. PROVENANCE.md next to each file gives the command.

interface Pair {
  input: () => string;
  output: () => string;
  type: string;
  pure?: boolean;
}

async function expectSameMix(pair: Pair): Promise<void> {
  const src = await loadModel(pair.input());
  const out = await loadModel(pair.output());
  const shape = modelShapeFromMetadata((k) => src.file.get(k));
  const plan = planMixture(
    shape,
    src.file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.typeId })),
    fileTypeByName(pair.type),
    { pure: pair.pure },
  );
  const expected = out.file.tensors.map((t) => `${t.name}:${t.typeName}`);
  const planned = plan.map((p) => `${p.name}:${quantTypeInfo(p.type)!.name}`);
  expect(planned).toEqual(expected);
}

const trained = (name: string) => () => sharedPath('models/trained-here', name);
const derived = (name: string) => () => sharedPath('models/derived-quantized', name);

describe('mixtures against llama-quantize (committed fixtures)', () => {
  it('a Q6_K request on 64- and 172-wide rows falls back to Q8_0 and F16 (stories260K-Q8_0)', async () => {
    await expectSameMix({ input: () => localModel('stories260K.gguf'), output: () => localModel('stories260K-Q8_0.gguf'), type: 'Q6_K' });
  });
  it('a TQ2_0 request falls back to Q4_0, token_embd to Q5_0, output to Q8_0 (stories260K-Q4_0)', async () => {
    await expectSameMix({ input: () => localModel('stories260K.gguf'), output: () => localModel('stories260K-Q4_0.gguf'), type: 'TQ2_0' });
  });
});

describe.runIf(haveShared())('mixtures against llama-quantize (shared fixtures)', () => {
  const llama = trained('tinystories-llama-3M-F32.gguf');
  const bitnet = trained('tinystories-bitnet-3M-F32.gguf');
  const pairs: [string, Pair][] = [
    ['Q8_0', { input: llama, output: trained('tinystories-llama-3M-Q8_0.gguf'), type: 'Q8_0' }],
    ['Q4_0', { input: llama, output: trained('tinystories-llama-3M-Q4_0.gguf'), type: 'Q4_0' }],
    ['Q4_K_M', { input: llama, output: trained('tinystories-llama-3M-Q4_K_M.gguf'), type: 'Q4_K_M' }],
    ['Q2_K', { input: llama, output: trained('tinystories-llama-3M-Q2_K.gguf'), type: 'Q2_K' }],
    ['F16', { input: llama, output: trained('tinystories-llama-3M-F16.gguf'), type: 'F16' }],
    ['--pure Q4_K', { input: llama, output: trained('tinystories-llama-3M-Q4_K-pure.gguf'), type: 'Q4_K', pure: true }],
    ['--pure Q5_K', { input: llama, output: trained('tinystories-llama-3M-Q5_K-pure.gguf'), type: 'Q5_K', pure: true }],
    ['--pure Q6_K', { input: llama, output: trained('tinystories-llama-3M-Q6_K-pure.gguf'), type: 'Q6_K', pure: true }],
    ['Q6_K (same mix as --pure, per PROVENANCE)', { input: llama, output: trained('tinystories-llama-3M-Q6_K-pure.gguf'), type: 'Q6_K' }],
    ['TQ1_0 (tied token_embd → Q6_K)', { input: bitnet, output: trained('tinystories-bitnet-3M-TQ1_0.gguf'), type: 'TQ1_0' }],
    ['TQ2_0', { input: bitnet, output: trained('tinystories-bitnet-3M-TQ2_0.gguf'), type: 'TQ2_0' }],
    [
      '--pure Q4_0 from a Q8_0 input with a tied embedding',
      {
        input: derived('../TinyStories-656K/TinyStories-656K-Q8_0.gguf'),
        output: derived('TinyStories-656K-Q4_0.gguf'),
        type: 'Q4_0',
        pure: true,
      },
    ],
  ];
  for (const [label, pair] of pairs) it(label, () => expectSameMix(pair));
});

/** A dense model shape with `n` layers of standard llama tensor names. */
function llamaTensors(n: number, embd: number, ff: number, kv: number, tied: boolean) {
  const t: { name: string; dims: number[]; type: number }[] = [
    { name: 'token_embd.weight', dims: [embd, 1000], type: GGMLType.F32 },
    { name: 'output_norm.weight', dims: [embd], type: GGMLType.F32 },
  ];
  if (!tied) t.push({ name: 'output.weight', dims: [embd, 1000], type: GGMLType.F32 });
  for (let i = 0; i < n; i++) {
    for (const [k, dims] of [
      ['attn_norm', [embd]],
      ['attn_q', [embd, embd]],
      ['attn_k', [embd, kv]],
      ['attn_v', [embd, kv]],
      ['attn_output', [embd, embd]],
      ['ffn_norm', [embd]],
      ['ffn_gate', [embd, ff]],
      ['ffn_up', [embd, ff]],
      ['ffn_down', [ff, embd]],
    ] as const) {
      t.push({ name: `blk.${i}.${k}.weight`, dims: [...dims], type: GGMLType.F32 });
    }
  }
  return t;
}

const typeOf = (plan: ReturnType<typeof planMixture>, name: string) => quantTypeInfo(plan.find((p) => p.name === name)!.type)!.name;

describe('mixture rules', () => {
  // SmolLM2-135M: 30 layers, n_embd 576, n_ff 1536, 9 heads / 3 KV heads, tied embeddings.
  const smol: ModelShape = { arch: 'llama', nLayer: 30, nHead: 9, nHeadKv: 3 };
  const smolTensors = llamaTensors(30, 576, 1536, 192, true);

  it('SmolLM2 Q4_K_M: 576-wide rows fall back to Q5_0 (Q6_K ones to Q8_0), the tied embedding is Q8_0', () => {
    const plan = planMixture(smol, smolTensors, fileTypeByName('Q4_K_M'));
    expect(typeOf(plan, 'token_embd.weight')).toBe('Q8_0');
    expect(typeOf(plan, 'blk.5.attn_q.weight')).toBe('Q5_0');
    // ffn_down rows are 1536 = 6 × 256: Q4_K, or Q6_K in the layers useMoreBits picks (0-2, 5, 8, …, 27-29).
    expect(typeOf(plan, 'blk.0.ffn_down.weight')).toBe('Q6_K');
    expect(typeOf(plan, 'blk.4.ffn_down.weight')).toBe('Q4_K');
    expect(typeOf(plan, 'blk.5.ffn_down.weight')).toBe('Q6_K');
    expect(typeOf(plan, 'blk.29.ffn_down.weight')).toBe('Q6_K');
    // attn_v (576-wide rows): Q6_K falls back to Q8_0 where more bits are used, Q4_K to Q5_0 elsewhere.
    expect(typeOf(plan, 'blk.0.attn_v.weight')).toBe('Q8_0');
    expect(typeOf(plan, 'blk.4.attn_v.weight')).toBe('Q5_0');
    expect(typeOf(plan, 'blk.0.attn_norm.weight')).toBe('F32');
  });

  it('Q2_K on SmolLM2 falls back to IQ4_NL for 576-wide rows; attn_v is Q3_K-class below GQA 4', () => {
    const plan = planMixture(smol, smolTensors, fileTypeByName('Q2_K'));
    expect(typeOf(plan, 'blk.3.attn_q.weight')).toBe('IQ4_NL');
    expect(typeOf(plan, 'blk.3.ffn_down.weight')).toBe('Q3_K');
    const gqa4 = planMixture({ ...smol, nHead: 12 }, smolTensors, fileTypeByName('Q2_K'));
    expect(typeOf(gqa4, 'blk.3.attn_v.weight')).toBe('Q5_0'); // Q4_K → fallback
  });

  it('Q4_K_S, Q3_K_M and Q5_K_S: their attn_v / ffn_down / attn_output rules', () => {
    const shape: ModelShape = { arch: 'llama', nLayer: 16, nHead: 32, nHeadKv: 8 };
    const tensors = llamaTensors(16, 2048, 8192, 512, false);
    const s = planMixture(shape, tensors, fileTypeByName('Q4_K_S'));
    expect(typeOf(s, 'blk.3.attn_v.weight')).toBe('Q5_K');
    expect(typeOf(s, 'blk.4.attn_v.weight')).toBe('Q4_K');
    expect(typeOf(s, 'blk.1.ffn_down.weight')).toBe('Q5_K');
    expect(typeOf(s, 'blk.2.ffn_down.weight')).toBe('Q4_K');
    const m = planMixture(shape, tensors, fileTypeByName('Q3_K_M'));
    expect(typeOf(m, 'blk.1.attn_v.weight')).toBe('Q5_K');
    expect(typeOf(m, 'blk.2.attn_v.weight')).toBe('Q4_K');
    expect(typeOf(m, 'blk.0.ffn_down.weight')).toBe('Q5_K');
    expect(typeOf(m, 'blk.1.ffn_down.weight')).toBe('Q4_K');
    expect(typeOf(m, 'blk.7.attn_output.weight')).toBe('Q4_K');
    expect(typeOf(m, 'blk.7.attn_q.weight')).toBe('Q3_K');
    expect(typeOf(m, 'output.weight')).toBe('Q6_K');
    const k5s = planMixture(shape, tensors, fileTypeByName('Q5_K_S'));
    expect(new Set(k5s.filter((p) => p.requantize && p.name.startsWith('blk.')).map((p) => quantTypeInfo(p.type)!.name))).toEqual(
      new Set(['Q5_K']),
    );
  });

  it('"70B" models (80 layers: llama with GQA, qwen2) put attn_v in Q5_K where Q4_K_S would give Q4_K', () => {
    const tensors = llamaTensors(80, 256, 768, 128, false);
    const ft = fileTypeByName('Q4_K_S');
    expect(typeOf(planMixture({ arch: 'llama', nLayer: 80, nHead: 64, nHeadKv: 8 }, tensors, ft), 'blk.40.attn_v.weight')).toBe('Q5_K');
    expect(typeOf(planMixture({ arch: 'qwen2', nLayer: 80, nHead: 64, nHeadKv: 8 }, tensors, ft), 'blk.40.attn_v.weight')).toBe('Q5_K');
    expect(typeOf(planMixture({ arch: 'llama', nLayer: 80, nHead: 64, nHeadKv: 64 }, tensors, ft), 'blk.40.attn_v.weight')).toBe('Q4_K');
    expect(typeOf(planMixture({ arch: 'qwen3', nLayer: 80, nHead: 64, nHeadKv: 8 }, tensors, ft), 'blk.40.attn_v.weight')).toBe('Q4_K');
  });

  it('--output-type and --token-embedding-type override the rules, also with --pure', () => {
    const shape: ModelShape = { arch: 'llama', nLayer: 4, nHead: 8, nHeadKv: 4 };
    const tensors = llamaTensors(4, 256, 768, 128, false);
    const plan = planMixture(shape, tensors, fileTypeByName('Q4_K_M'), {
      pure: true,
      outputType: GGMLType.Q8_0,
      tokenEmbeddingType: GGMLType.F16,
    });
    expect(typeOf(plan, 'output.weight')).toBe('Q8_0');
    expect(typeOf(plan, 'token_embd.weight')).toBe('F16');
    expect(typeOf(plan, 'blk.3.attn_v.weight')).toBe('Q4_K');
  });

  it('I2_S: every block weight I2_S, the tied embedding F16, norms F32 (as BitNet 2B4T ships)', () => {
    const shape: ModelShape = { arch: 'bitnet-b1.58', nLayer: 2, nHead: 20, nHeadKv: 5 };
    const plan = planMixture(shape, llamaTensors(2, 2560, 6912, 640, true), fileTypeByName('I2_S'));
    const names = (t: string) => plan.filter((p) => quantTypeInfo(p.type)!.name === t).length;
    expect(names('I2_S')).toBe(14);
    expect(typeOf(plan, 'token_embd.weight')).toBe('F16');
    expect(names('F32')).toBe(5);
  });

  it('visits tensors in llama.cpp order: non-layer tensors by name, then by layer number (not string order)', () => {
    const order = llamaTensorOrder([
      { name: 'blk.10.a' },
      { name: 'blk.2.b' },
      { name: 'output.weight' },
      { name: 'blk.2.a' },
      { name: 'a' },
    ]);
    expect(order.map((t) => t.name)).toEqual(['a', 'output.weight', 'blk.2.a', 'blk.2.b', 'blk.10.a']);
  });

  it('unknown type names and row lengths no type fits are QuantizeErrors', () => {
    expect(() => fileTypeByName('Q7_K')).toThrow(QuantizeError);
    expect(() => fileTypeByName('IQ2_XXS')).toThrow(/choose one of/);
    const shape: ModelShape = { arch: 'llama', nLayer: 1, nHead: 1, nHeadKv: 1 };
    expect(() => planMixture(shape, [{ name: 'blk.0.ffn_up.weight', dims: [100, 4], type: 0 }], fileTypeByName('Q4_0'))).toThrow(
      QuantizeError,
    );
  });
});
