/**
 * Writes scale models: each tensor's random values are drawn chunk by chunk (a fixed number of
 * rows per chunk, each chunk its own seeded stream, so the bytes do not depend on the thread
 * count), quantized by the worker pool to the recipe's per-tensor type, and streamed into the GGUF
 * writer. Memory stays at a few chunks whatever the model's size.
 */
import { rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readGGUF } from '../../src/gguf/reader.ts';
import { writeGGUFToFile } from '../../src/gguf/write-file.ts';
import { planGGUF, type GGUFMetadataInput, type GGUFWritePlan } from '../../src/gguf/writer.ts';
import { GGUFValueType } from '../../src/gguf/values.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { f16ToF32, f32ToF16 } from '../../src/quant/cpu/float.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { FILE_TYPE_KEY, QUANTIZATION_VERSION, QUANTIZATION_VERSION_KEY } from '../../src/quant/quantize-model.ts';
import { quantizeRowChunks, type QuantizeRunner } from '../../src/quant/quantize-stream.ts';
import { rng } from '../../test/helpers/random.ts';
import { headDimOf, planRecipe, recipeId, recipeTensors, type RecipeTensor, type ScaleRecipe, type ValueInit } from './recipes.ts';
import { tokenizerMetadata } from './tokenizers.ts';

/** Metadata key holding the recipe id, so a cached file can be recognised. */
export const RECIPE_KEY = 'lowbit.scale_model.recipe';
/** Values per generated chunk (rounded down to whole rows). */
const CHUNK_VALUES = 1 << 20;

/** The cache directory: LOWBIT_SCALE_DIR, else .cache/scale-models in the repository. */
export function scaleModelDir(repoRoot: string): string {
  return process.env.LOWBIT_SCALE_DIR || join(repoRoot, '.cache/scale-models');
}

/** FNV-1a of the stream name and chunk index mixed with the seed: one independent stream per chunk. */
function chunkSeed(seed: number, stream: string, chunk: number): number {
  let h = (0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(chunk + 1, 0x85ebca6b)) >>> 0;
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Values [start, start + out.length) of a tensor drawn as `init` says; start is a chunk boundary. */
export function fillChunk(init: ValueInit, seed: number, chunk: number, start: number, out: Float32Array): void {
  if (init.kind === 'fixed') {
    out.set(init.values.subarray(start, start + out.length));
    return;
  }
  const next = rng(chunkSeed(seed, init.stream, chunk));
  if (init.kind === 'norm') {
    // Around 1 with some spread, so a misplaced norm changes the output.
    for (let i = 0; i < out.length; i++) out[i] = init.gain * (0.6 + 0.8 * next());
  } else if (init.kind === 'ternary') {
    // {−s, 0, +s}, s an f16 value so TQ2_0 (f16 block scale) and I2_S (f32 tensor scale) hold it exactly.
    const s = f16ToF32(f32ToF16(init.std * Math.sqrt(1.5)));
    for (let i = 0; i < out.length; i++) {
      const u = next();
      out[i] = u < 1 / 3 ? -s : u < 2 / 3 ? 0 : s;
    }
  } else {
    // Box–Muller, both outputs.
    for (let i = 0; i < out.length; i += 2) {
      const r = init.std * Math.sqrt(-2 * Math.log(1 - next()));
      const a = 2 * Math.PI * next();
      out[i] = r * Math.cos(a);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
    }
  }
}

function* tensorValueChunks(t: RecipeTensor, seed: number): Generator<Float32Array> {
  const rowLength = t.dims[0]!;
  const total = t.dims.reduce((a, b) => a * b, 1);
  const chunkLen = Math.max(1, Math.floor(CHUNK_VALUES / rowLength)) * rowLength;
  for (let start = 0, chunk = 0; start < total; start += chunkLen, chunk++) {
    const out = new Float32Array(Math.min(chunkLen, total - start));
    fillChunk(t.init, seed, chunk, start, out);
    yield out;
  }
}

/** Metadata in the order llama.cpp's converter and quantizer write it. */
export async function recipeMetadata(r: ScaleRecipe): Promise<GGUFMetadataInput[]> {
  const a = r.arch;
  const U32 = GGUFValueType.UINT32;
  const F32 = GGUFValueType.FLOAT32;
  const hd = headDimOf(r);
  const tok = await tokenizerMetadata(r.family, r.vocab);
  return [
    { key: 'general.architecture', value: a },
    { key: 'general.name', value: `${r.model} (random-weight scale model)` },
    { key: `${a}.block_count`, type: U32, value: r.nLayer },
    { key: `${a}.context_length`, type: U32, value: r.contextLength },
    { key: `${a}.embedding_length`, type: U32, value: r.nEmbd },
    { key: `${a}.feed_forward_length`, type: U32, value: r.nFF },
    { key: `${a}.attention.head_count`, type: U32, value: r.nHead },
    { key: `${a}.attention.head_count_kv`, type: U32, value: r.nHeadKv },
    { key: `${a}.rope.freq_base`, type: F32, value: r.ropeBase },
    { key: `${a}.attention.layer_norm_rms_epsilon`, type: F32, value: r.rmsEps },
    ...(r.headDim !== undefined
      ? [
          { key: `${a}.attention.key_length`, type: U32, value: hd },
          { key: `${a}.attention.value_length`, type: U32, value: hd },
        ]
      : []),
    { key: `${a}.vocab_size`, type: U32, value: r.vocab },
    { key: `${a}.rope.dimension_count`, type: U32, value: hd },
    ...[...tok].map(([key, value]) => ({ key, value })),
    { key: RECIPE_KEY, value: recipeId(r) },
    { key: QUANTIZATION_VERSION_KEY, type: U32, value: QUANTIZATION_VERSION },
    { key: FILE_TYPE_KEY, type: U32, value: fileTypeByName(r.fileType).ftype },
  ];
}

/** The complete write plan of a recipe: header built, tensor data generated and quantized on demand. */
export async function recipeWritePlan(r: ScaleRecipe, runner: QuantizeRunner, onValues?: (n: number) => void): Promise<GGUFWritePlan> {
  const types = new Map(planRecipe(r).map((p) => [p.name, p.type]));
  return planGGUF({
    metadata: await recipeMetadata(r),
    tensors: recipeTensors(r).map((t) => ({
      name: t.name,
      dims: t.dims,
      type: types.get(t.name)!,
      data: () => quantizeRowChunks(tensorValueChunks(t, r.seed), types.get(t.name)!, runner, onValues),
    })),
  });
}

/** True when `path` holds this recipe's file already (same recipe id, complete size). */
export async function isCurrent(path: string, r: ScaleRecipe, expectedSize?: number): Promise<boolean> {
  let source: FileByteSource | undefined;
  try {
    source = await FileByteSource.open(path);
    const file = await readGGUF(source);
    return file.get(RECIPE_KEY) === recipeId(r) && (expectedSize === undefined || file.fileSize === expectedSize);
  } catch {
    return false;
  } finally {
    await source?.close();
  }
}

export interface GenerateResult {
  path: string;
  bytes: number;
  /** False when a current file was already there. */
  generated: boolean;
  seconds: number;
}

/** Writes `<dir>/<recipe>.gguf` unless a current one exists; via a temporary file renamed at the end. */
export async function generateScaleModel(
  r: ScaleRecipe,
  dir: string,
  runner: QuantizeRunner,
  opts: { force?: boolean; onValues?: (n: number) => void } = {},
): Promise<GenerateResult> {
  const started = performance.now();
  const path = join(dir, `${r.name}.gguf`);
  const plan = await recipeWritePlan(r, runner, opts.onValues);
  if (!opts.force && (await isCurrent(path, r, plan.totalSize))) {
    return { path, bytes: plan.totalSize, generated: false, seconds: (performance.now() - started) / 1000 };
  }
  const tmp = `${path}.${process.pid}.part`;
  try {
    await writeGGUFToFile(tmp, plan);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  const { size } = await stat(path);
  return { path, bytes: size, generated: true, seconds: (performance.now() - started) / 1000 };
}
