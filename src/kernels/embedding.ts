/**
 * Token embedding lookup from the (possibly quantized, possibly split) token_embd table. The ids
 * come from a GPU buffer — the sampler's output or the token history indexed by position — so a
 * decode step never needs the CPU to know the token.
 */
import embeddingWgsl from '../../shaders/embedding.wgsl?raw';
import stepWgsl from '../../shaders/step.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { composeWgsl, definesKey, getPipeline } from '../gpu/pipelines.ts';
import type { GpuWeight } from '../gpu/weights.ts';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.ts';
import { decoderSnippets, gpuBlockGeometry } from '../quant/gpu-decoders.ts';
import { getGpuQuantType, type GpuQuantType, gpuQuantTypes, quantTypeInfo } from '../quant/table.ts';
import type { GGMLType } from '../quant/types.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, isGpuBuffer } from './common.ts';

/** The fields of a GpuWeight the lookup needs: rows = vocab, cols = n_embd. */
export type EmbeddingTable = Pick<GpuWeight, 'name' | 'type' | 'rows' | 'cols' | 'parts' | 'tensorScale'>;

export interface EmbeddingConfig {
  type: GGMLType;
  /** Vocabulary size (table rows). */
  rows: number;
  /** n_embd (table columns). */
  cols: number;
  /** Largest nTokens the step params will hold. Default 1. */
  maxTokens?: number;
  /** Read ids[pos0 + t] (the token history) instead of ids[t]. Default false. */
  idsByPosition?: boolean;
}

export interface EmbeddingBindings {
  params: BufferRef;
  /** u32 token ids. */
  ids: BufferRef;
  table: EmbeddingTable;
  /** [nTokens][cols] f32 */
  output: BufferRef;
}

interface Format {
  defines: Record<string, string | number | boolean>;
  /** Threads per row (each decodes one unit: a word of floats, or a block chunk). */
  units: number;
  /** Binding 4 (the table as 16-byte words) is used. */
  usesW4: boolean;
  snippets: Record<string, string>;
}

/**
 * Float tables take one 32-bit word per thread (one 4-byte value or two 2-byte ones), any width;
 * the shader's path is chosen by a define named after the type. Block types decode through the
 * types' GPU decoders (src/quant/gpu-decoders.ts), one chunk per thread, so each block layout is
 * written down once.
 */
function formatOf(quant: GpuQuantType, cols: number): Format {
  const floatPaths = Object.fromEntries(
    gpuQuantTypes()
      .filter((t) => t.gpu.float)
      .map((t) => [t.name, false]),
  );
  const base = { ...floatPaths, QUANT: false, TERNARY: false, USES_W4: false };
  const dec = quant.gpu;
  if (dec.float) {
    const perUnit = 4 / quant.layout.blockBytes;
    if (cols % perUnit)
      throw new RangeError(`embedding: ${quant.name} tables need a column count that is a multiple of ${perUnit}, got ${cols}`);
    return { defines: { ...base, [quant.name]: true }, units: cols / perUnit, usesW4: false, snippets: {} };
  }
  const geo = gpuBlockGeometry(quant.layout, dec, cols);
  if (cols % geo.blockElems) {
    throw new ModelFormatError(`embedding: ${quant.name} rows of ${cols} values are not a multiple of the ${geo.blockElems}-value block`);
  }
  const blocks = cols / geo.blockElems;
  return {
    defines: {
      ...base,
      QUANT: true,
      TERNARY: Boolean(dec.ternary),
      USES_W4: geo.usesW4,
      DECODER: dec.snippet,
      ALIGNED: geo.aligned,
      FB: 0,
      CW: geo.chunkVec4s,
      NG: dec.groups,
      ROW_BYTES: geo.rowBytes,
    },
    units: blocks * dec.chunksPerBlock,
    usesW4: geo.usesW4,
    snippets: decoderSnippets(dec),
  };
}

const layoutCache = new WeakMap<GPUDevice, Map<boolean, { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout }>>();

/**
 * Explicit layout (params, ids, W, out, [W4]): decoders that read only W4 leave W unused, and an
 * 'auto' layout would drop it.
 */
function embeddingLayout(ctx: GpuContext, usesW4: boolean): { group: GPUBindGroupLayout; pipeline: GPUPipelineLayout } {
  let perDevice = layoutCache.get(ctx.device);
  if (!perDevice) layoutCache.set(ctx.device, (perDevice = new Map()));
  let l = perDevice.get(usesW4);
  if (!l) {
    const ro = { type: 'read-only-storage' as const };
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: ro },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: ro },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ];
    if (usesW4) entries.push({ binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: ro });
    const group = ctx.device.createBindGroupLayout({ label: `embedding:w4=${usesW4}`, entries });
    l = { group, pipeline: ctx.device.createPipelineLayout({ bindGroupLayouts: [group] }) };
    perDevice.set(usesW4, l);
  }
  return l;
}

const bindEntry = (binding: number, ref: BufferRef): GPUBindGroupEntry => ({ binding, resource: isGpuBuffer(ref) ? { buffer: ref } : ref });

export function createEmbedding(ctx: GpuContext, cfg: EmbeddingConfig): { bind(b: EmbeddingBindings): KernelCall } {
  checkDim('embedding', 'rows', cfg.rows);
  checkDim('embedding', 'cols', cfg.cols);
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim('embedding', 'maxTokens', maxTokens);
  const quant = getGpuQuantType(cfg.type);
  const fmt = formatOf(quant, cfg.cols);
  const units = fmt.units;
  // The kernel applies a per-tensor scale on its ternary path only (SCALE); the quant table's
  // tests hold every type with a trailer to a ternary decoder.
  if (quant.readTensorParams && !quant.gpu.ternary) {
    throw new UnsupportedTensorTypeError(
      `embedding: ${quant.name} tables carry a per-tensor scale, which the lookup applies to ternary types only`,
      quant.id,
    );
  }
  const defines = { ...fmt.defines, COLS: cfg.cols, ROWS: cfg.rows, UNITS: units, BY_POSITION: cfg.idsByPosition === true };
  const code = composeWgsl(embeddingWgsl, { subgroups: false, defines, snippets: { ...fmt.snippets, step: stepWgsl } });
  const key = definesKey('embedding', defines, false);
  const layout = embeddingLayout(ctx, fmt.usesW4);
  return {
    bind(b) {
      const t = b.table;
      if (t.type !== cfg.type || t.rows !== cfg.rows || t.cols !== cfg.cols) {
        throw new RangeError(
          `embedding: table '${t.name}' is ${quantTypeInfo(t.type)?.name ?? t.type} ${t.rows}×${t.cols}, kernel was built for ${quant.name} ${cfg.rows}×${cfg.cols}`,
        );
      }
      let covered = 0;
      t.parts.forEach((part, i) => {
        if (part.rowStart !== covered || part.rowCount < 1)
          throw new RangeError(`embedding: table '${t.name}' part ${i} does not continue at row ${covered}`);
        covered += part.rowCount;
      });
      if (covered !== t.rows) throw new RangeError(`embedding: table '${t.name}' parts cover ${covered} of ${t.rows} rows`);
      let scale: Record<string, number> = {};
      if (quant.readTensorParams) {
        if (t.tensorScale === undefined || !Number.isFinite(t.tensorScale))
          throw new ModelFormatError(`embedding: ${quant.name} table '${t.name}' has no per-tensor scale (tensorScale)`);
        scale = { SCALE: t.tensorScale };
      }
      const calls = t.parts.map((part, i) => {
        const constants = { ROW_START: part.rowStart, ROW_COUNT: part.rowCount, ZERO_OOB: i === 0 ? 1 : 0, ...scale };
        const pipeline = getPipeline(ctx, key, code, 'main', constants, { layout: layout.pipeline });
        const entries = [bindEntry(0, b.params), bindEntry(1, b.ids), bindEntry(2, part.buffer), bindEntry(3, b.output)];
        if (fmt.usesW4) entries.push(bindEntry(4, part.buffer));
        return { pipeline, group: ctx.device.createBindGroup({ label: `embedding:${t.name}#${i}`, layout: layout.group, entries }) };
      });
      return {
        encode(pass, step) {
          const [gx, gy] = grid(ctx, Math.ceil((dispatchTokens(step, maxTokens) * units) / 64));
          for (const c of calls) {
            pass.setPipeline(c.pipeline);
            pass.setBindGroup(0, c.group);
            pass.dispatchWorkgroups(gx, gy);
          }
        },
      };
    },
  };
}
