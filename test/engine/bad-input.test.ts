// Bad input (issue 10): metadata that disagrees with the tensors, a tokenizer whose size
// disagrees with the embedding, and a context above the model's trained length. Each bad file is
// a typed error naming the key or tensor, raised before the engine creates any GPU buffer; a long
// context is allowed with a warning in ModelInfo.warnings.
import { afterAll, describe, expect, test } from 'vitest';
import { loadEngine } from '../../src/engine/engine.ts';
import { ModelFormatError } from '../../src/errors.ts';
import { readGGUF, writeGGUFToBytes, type GGUFMetadataInput, type GGUFTensorInput } from '../../src/gguf/index.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { modelConfigFromMetadata } from '../../src/model/config.ts';
import { resolveTensorNames } from '../../src/model/tensors.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { syntheticModelSpec, type SyntheticModelSpec } from '../helpers/synthetic-models.ts';
import { countingGpu } from './counting-gpu.ts';

afterAll(() => releaseTestGpu());

const SPEC: SyntheticModelSpec = { arch: 'llama', seed: 5, nLayer: 2, nEmbd: 64, nFF: 96, nHead: 4, nHeadKV: 2 };
const U32 = 4;

type Model = { metadata: GGUFMetadataInput[]; tensors: GGUFTensorInput[] };

function setKey(m: Model, key: string, value: number): Model {
  const metadata = m.metadata.filter((e) => e.key !== key);
  metadata.push({ key, type: U32, value });
  return { ...m, metadata };
}

/** Replaces a tensor's dims (its bytes become zeros of the new size). */
function setDims(m: Model, name: string, dims: number[]): Model {
  return { ...m, tensors: m.tensors.map((t) => (t.name === name ? { name, dims, type: t.type } : t)) };
}

const CASES: [string, (m: Model) => Model, RegExp][] = [
  [
    'embedding_length ≠ token_embd ne[0]',
    (m) => setKey(m, 'llama.embedding_length', 96),
    /token_embd\.weight has rows of 64 elements but llama\.embedding_length is 96/,
  ],
  [
    'head_count does not divide embedding_length',
    (m) => setKey(m, 'llama.attention.head_count', 6),
    /llama\.embedding_length 64 is not a multiple of llama\.attention\.head_count 6/,
  ],
  [
    'head_count_kv does not divide head_count',
    (m) => setKey(m, 'llama.attention.head_count_kv', 3),
    /llama\.attention\.head_count 4 is not a multiple of llama\.attention\.head_count_kv 3/,
  ],
  [
    'block_count below the blk.N tensors',
    (m) => setKey(m, 'llama.block_count', 1),
    /llama\.block_count is 1 but the file has tensors for block blk\.1/,
  ],
  ['block_count above the blk.N tensors', (m) => setKey(m, 'llama.block_count', 3), /missing blk\.2\.attn_norm\.weight/],
  [
    'tokenizer size ≠ embedding rows',
    (m) => setDims(setDims(m, 'token_embd.weight', [64, 500]), 'output.weight', [64, 500]),
    /tokenizer\.ggml\.tokens has 512 tokens but token_embd\.weight has 500 rows/,
  ],
  [
    'vocab_size ≠ tokenizer size',
    (m) => setKey(m, 'llama.vocab_size', 600),
    /llama\.vocab_size is 600 but tokenizer\.ggml\.tokens has 512 tokens/,
  ],
  [
    'output.weight rows ≠ vocabulary',
    (m) => setDims(m, 'output.weight', [64, 500]),
    /output\.weight has shape \[64, 500\], expected \[64, 512\]/,
  ],
];

async function bytesOf(m: Model): Promise<Uint8Array> {
  return writeGGUFToBytes(m);
}

describe.each(CASES)('%s', (_name, mutate, message) => {
  test('model config + tensor check: ModelFormatError naming the key or tensor', async () => {
    const bytes = await bytesOf(mutate(await syntheticModelSpec(SPEC)));
    const file = await readGGUF(new BufferByteSource(bytes, 'bad.gguf'));
    const err = (() => {
      try {
        resolveTensorNames(modelConfigFromMetadata(file, file.tensor('token_embd.weight')?.dims[1]), file.tensors);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(message);
  });

  test('loadEngine: the same error, and no GPU buffer created', async () => {
    const bytes = await bytesOf(mutate(await syntheticModelSpec(SPEC)));
    const counted = countingGpu(await testGpu());
    const err = await loadEngine(new BufferByteSource(bytes, 'bad.gguf'), { gpu: counted.gpu, contextSize: 64 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(message);
    expect(counted.buffers).toHaveLength(0);
  });
});

test('the unmodified synthetic model passes the same checks (the cases above fail for their one change)', async () => {
  const bytes = await bytesOf(await syntheticModelSpec(SPEC));
  const file = await readGGUF(new BufferByteSource(bytes, 'good.gguf'));
  expect(resolveTensorNames(modelConfigFromMetadata(file, file.tensor('token_embd.weight')?.dims[1]), file.tensors).layers).toHaveLength(2);
});

describe("a context above the model's trained length", () => {
  test('is allowed, with a warning in ModelInfo.warnings, and generates past the trained length', async () => {
    const bytes = await bytesOf(setKey(await syntheticModelSpec(SPEC), 'llama.context_length', 32));
    const engine = await loadEngine(new BufferByteSource(bytes, 'short.gguf'), { gpu: await testGpu(), contextSize: 64 });
    try {
      expect(engine.info.contextSize).toBe(64);
      expect(engine.info.modelContextLength).toBe(32);
      expect(engine.info.warnings).toEqual([expect.stringMatching(/context size 64 is above the 32 tokens this model was trained with/)]);
      const stream = engine.generate([1, 2, 3, 4], { maxTokens: 40, temperature: 0 });
      for await (const _ of stream) {
        /* drain */
      }
      const stats = await stream.stats;
      expect(stats.promptTokens + stats.generatedTokens).toBeGreaterThan(32);
    } finally {
      await engine.dispose();
    }
  });

  test('no warning at or below the trained length; the default context is min(model, 2048)', async () => {
    const bytes = await bytesOf(setKey(await syntheticModelSpec(SPEC), 'llama.context_length', 32));
    for (const contextSize of [32, undefined]) {
      const engine = await loadEngine(new BufferByteSource(bytes, 'short.gguf'), { gpu: await testGpu(), contextSize });
      try {
        expect(engine.info.contextSize).toBe(32);
        expect(engine.info.warnings).toEqual([]);
      } finally {
        await engine.dispose();
      }
    }
  });

  test('a non-finite context size is a RangeError, before any GPU buffer', async () => {
    const bytes = await bytesOf(await syntheticModelSpec(SPEC));
    const counted = countingGpu(await testGpu());
    for (const contextSize of [Number.POSITIVE_INFINITY, Number.NaN]) {
      await expect(loadEngine(new BufferByteSource(bytes, 'x.gguf'), { gpu: counted.gpu, contextSize })).rejects.toThrow(RangeError);
    }
    expect(counted.buffers).toHaveLength(0);
  });
});
