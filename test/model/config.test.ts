import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.ts';
import { readGGUF } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { modelConfigFromMetadata } from '../../src/model/config.ts';
import { resolveTensorNames } from '../../src/model/tensors.ts';
import { localModel } from '../helpers/fixtures.ts';

async function open(name: string) {
  const src = await FileByteSource.open(localModel(name));
  try {
    return await readGGUF(src);
  } finally {
    await src.close();
  }
}

function meta(entries: Record<string, unknown>) {
  return { get: (k: string) => entries[k] };
}

describe('model config from GGUF metadata', () => {
  test('stories260K: llama, GQA 8/4, untied head', async () => {
    const f = await open('stories260K.gguf');
    const cfg = modelConfigFromMetadata(f, f.tensor('token_embd.weight')?.dims[1]);
    expect(cfg).toMatchObject({
      family: 'llama',
      nLayer: 5,
      nEmbd: 64,
      nFF: 172,
      nHead: 8,
      nHeadKV: 4,
      headDim: 8,
      ropeOrdering: 'normal',
      vocabSize: 512,
      ffnActivation: 'silu',
      subNorms: false,
    });
    const names = resolveTensorNames(cfg, f.tensors);
    expect(names.output).toBe('output.weight');
    expect(names.layers).toHaveLength(5);
  });

  test('TinyStories-656K: tied LM head (no output.weight)', async () => {
    const f = await open('TinyStories-656K-Q8_0.gguf');
    const cfg = modelConfigFromMetadata(f);
    expect(cfg.rmsEps).toBeCloseTo(1e-6, 12);
    expect(resolveTensorNames(cfg, f.tensors).output).toBeUndefined();
  });

  test.each(['tinystories-bitnet-3M-TQ2_0.gguf', 'tinystories-bitnet-3M-I2_S.gguf'])('%s: bitnet traits', async (name) => {
    const f = await open(name);
    const cfg = modelConfigFromMetadata(f);
    expect(cfg.family).toBe('bitnet');
    expect(cfg.ropeOrdering).toBe('neox');
    expect(cfg.subNorms).toBe(true);
    const names = resolveTensorNames(cfg, f.tensors);
    expect(names.layers[0]!.attnSubNorm).toBe('blk.0.attn_sub_norm.weight');
    expect(names.layers[3]!.ffnSubNorm).toBe('blk.3.ffn_sub_norm.weight');
  });

  test('missing tensors are all listed in one ModelFormatError', async () => {
    const f = await open('stories260K.gguf');
    const cfg = modelConfigFromMetadata(f);
    const tensors = f.tensors.filter((t) => !t.name.startsWith('blk.2.') && t.name !== 'output_norm.weight');
    const err = (() => {
      try {
        resolveTensorNames(cfg, tensors);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err!.message).toContain('missing output_norm.weight');
    expect(err!.message).toContain('missing blk.2.attn_q.weight');
    expect(err!.message).toContain('missing blk.2.ffn_down.weight');
  });

  test('wrong shapes are reported with expected and found dims', async () => {
    const f = await open('stories260K.gguf');
    const cfg = { ...modelConfigFromMetadata(f), nFF: 100 };
    expect(() => resolveTensorNames(cfg, f.tensors)).toThrow(/blk\.0\.ffn_gate\.weight has shape \[64, 172\], expected \[64, 100\]/);
  });

  test('an architecture named like an Object.prototype key is unsupported, not a family', () => {
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      expect(() => modelConfigFromMetadata(meta({ 'general.architecture': name, [`${name}.embedding_length`]: 64 }))).toThrow(
        new RegExp(`unsupported architecture '${name}'`),
      );
    }
  });

  test('unknown architecture and bad numbers are typed errors naming the key', () => {
    expect(() => modelConfigFromMetadata(meta({ 'general.architecture': 'gpt2' }))).toThrow(/unsupported architecture 'gpt2'/);
    expect(() => modelConfigFromMetadata(meta({ 'general.architecture': 'llama' }))).toThrow(/llama\.embedding_length/);
    const base = {
      'general.architecture': 'qwen3',
      'qwen3.embedding_length': 1024,
      'qwen3.attention.head_count': 16,
      'qwen3.attention.head_count_kv': 8,
      'qwen3.attention.key_length': 128,
      'qwen3.block_count': 28,
      'qwen3.feed_forward_length': 3072,
      'qwen3.vocab_size': 151936,
    };
    const q3 = modelConfigFromMetadata(meta(base));
    expect(q3).toMatchObject({ headDim: 128, ropeOrdering: 'neox', qkNorm: true, qkvBias: false });
    expect(() => modelConfigFromMetadata(meta({ ...base, 'qwen3.attention.head_count_kv': 5 }))).toThrow(ModelFormatError);
    expect(
      modelConfigFromMetadata(
        meta({
          ...base,
          'general.architecture': 'bitnet-b1.58',
          'bitnet-b1.58.embedding_length': 2560,
          'bitnet-b1.58.attention.head_count': 20,
          'bitnet-b1.58.attention.head_count_kv': 5,
          'bitnet-b1.58.block_count': 30,
          'bitnet-b1.58.feed_forward_length': 6912,
          'bitnet-b1.58.vocab_size': 128256,
        }),
      ).ffnActivation,
    ).toBe('relu2');
  });
});
