/**
 * Token embedding lookup from the (possibly quantized, possibly split) token_embd table. The ids
 * come from a GPU buffer — the sampler's output or the token history indexed by position — so a
 * decode step never needs the CPU to know the token.
 */
import embeddingWgsl from '../../shaders/embedding.wgsl?raw';
import stepWgsl from '../../shaders/step.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { composeWgsl, getPipeline } from '../gpu/pipelines.ts';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.ts';
import { GGMLType } from '../quant/types.ts';
import { MATMUL_TYPES, blockGeometry, matmulDecoder } from './matmul-decoders.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, isGpuBuffer } from './common.ts';

/** The fields of GpuWeight (src/gpu/weights.ts) the lookup needs: rows = vocab, cols = n_embd. */
export interface EmbeddingTable {
  name: string;
  type: GGMLType;
  rows: number;
  cols: number;
  parts: readonly { buffer: GPUBuffer; rowStart: number; rowCount: number }[];
  /** I2_S only: the per-tensor scale (the GPU buffers hold just the codes). */
  i2sScale?: number;
}

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
  /** Threads per row (each decodes one unit: a value, a word of halves, or a block chunk). */
  units: number;
  /** Binding 4 (the table as 16-byte words) is used. */
  usesW4: boolean;
}

const FLOAT_TYPES: readonly GGMLType[] = [GGMLType.F32, GGMLType.F16, GGMLType.BF16];

/**
 * Float tables take 1 (F32) or 2 (F16/BF16, one word) values per thread, any width. Block types
 * decode through the mat-vec kernels' decoders (matmul-decoders.ts), one chunk per thread, so
 * each block layout is written down once.
 */
function formatOf(type: GGMLType, cols: number): Format {
  const base = { F32: false, F16: false, BF16: false, QUANT: false, TERNARY: false, USES_W4: false };
  if (FLOAT_TYPES.includes(type)) {
    const perUnit = type === GGMLType.F32 ? 1 : 2;
    if (cols % perUnit) throw new RangeError(`embedding: ${GGMLType[type]} tables need an even column count, got ${cols}`);
    return { defines: { ...base, [GGMLType[type]]: true }, units: cols / perUnit, usesW4: false };
  }
  if (!MATMUL_TYPES.includes(type)) {
    const names = [...FLOAT_TYPES, ...MATMUL_TYPES.filter((t) => !FLOAT_TYPES.includes(t))].map((t) => GGMLType[t]);
    throw new UnsupportedTensorTypeError(`embedding: token_embd of type ${GGMLType[type] ?? type} has no GPU decoder; supported: ${names.join(', ')}`, type);
  }
  const dec = matmulDecoder(type);
  const geo = blockGeometry(dec, cols);
  if (cols % geo.blockElems) {
    throw new ModelFormatError(`embedding: ${GGMLType[type]} rows of ${cols} values are not a multiple of the ${geo.blockElems}-value block`);
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
      ROW_BYTES: blocks * geo.blockBytes,
    },
    units: blocks * dec.chunksPerBlock,
    usesW4: geo.usesW4,
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

const entry = (binding: number, ref: BufferRef): GPUBindGroupEntry => ({ binding, resource: isGpuBuffer(ref) ? { buffer: ref } : ref });

export function createEmbedding(ctx: GpuContext, cfg: EmbeddingConfig): { bind(b: EmbeddingBindings): KernelCall } {
  checkDim('embedding', 'rows', cfg.rows);
  checkDim('embedding', 'cols', cfg.cols);
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim('embedding', 'maxTokens', maxTokens);
  const fmt = formatOf(cfg.type, cfg.cols);
  const units = fmt.units;
  const defines = { ...fmt.defines, COLS: cfg.cols, ROWS: cfg.rows, UNITS: units, BY_POSITION: cfg.idsByPosition === true };
  const code = composeWgsl(embeddingWgsl, { subgroups: false, defines, snippets: { step: stepWgsl } });
  const key = `embedding:${Object.keys(defines).sort().map((k) => `${k}=${defines[k as keyof typeof defines]}`).join(',')}`;
  const layout = embeddingLayout(ctx, fmt.usesW4);
  return {
    bind(b) {
      const t = b.table;
      if (t.type !== cfg.type || t.rows !== cfg.rows || t.cols !== cfg.cols) {
        throw new RangeError(`embedding: table '${t.name}' is ${GGMLType[t.type]} ${t.rows}×${t.cols}, kernel was built for ${GGMLType[cfg.type]} ${cfg.rows}×${cfg.cols}`);
      }
      let covered = 0;
      t.parts.forEach((part, i) => {
        if (part.rowStart !== covered || part.rowCount < 1) throw new RangeError(`embedding: table '${t.name}' part ${i} does not continue at row ${covered}`);
        covered += part.rowCount;
      });
      if (covered !== t.rows) throw new RangeError(`embedding: table '${t.name}' parts cover ${covered} of ${t.rows} rows`);
      let scale: Record<string, number> = {};
      if (cfg.type === GGMLType.I2_S) {
        if (t.i2sScale === undefined || !Number.isFinite(t.i2sScale)) throw new ModelFormatError(`embedding: I2_S table '${t.name}' has no per-tensor scale (i2sScale)`);
        scale = { SCALE: t.i2sScale };
      }
      const calls = t.parts.map((part, i) => {
        const constants = { ROW_START: part.rowStart, ROW_COUNT: part.rowCount, ZERO_OOB: i === 0 ? 1 : 0, ...scale };
        const pipeline = getPipeline(ctx, key, code, 'main', constants, { layout: layout.pipeline });
        const entries = [entry(0, b.params), entry(1, b.ids), entry(2, part.buffer), entry(3, b.output)];
        if (fmt.usesW4) entries.push(entry(4, part.buffer));
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
