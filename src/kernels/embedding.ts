/**
 * Token embedding lookup from the (possibly quantized, possibly split) token_embd table. The ids
 * come from a GPU buffer — the sampler's output or the token history indexed by position — so a
 * decode step never needs the CPU to know the token.
 */
import embeddingWgsl from '../../shaders/embedding.wgsl?raw';
import type { GpuContext } from '../gpu/device.ts';
import { UnsupportedTensorTypeError } from '../errors.ts';
import { GGMLType } from '../quant/types.ts';
import { quantDefines, VALUE_TYPES, TERNARY_TYPES } from './quant-wgsl.ts';
import { type BufferRef, type KernelCall, checkDim, dispatchTokens, grid, makeBindGroup, opsPipeline } from './common.ts';

/** The fields of GpuWeight (src/gpu/weights.ts) the lookup needs: rows = vocab, cols = n_embd. */
export interface EmbeddingTable {
  name: string;
  type: GGMLType;
  rows: number;
  cols: number;
  parts: readonly { buffer: GPUBuffer; rowStart: number; rowCount: number }[];
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
  define: string;
  /** Values one thread decodes. */
  perUnit: number;
}

function formatOf(type: GGMLType, cols: number): Format {
  switch (type) {
    case GGMLType.F32:
      return { define: 'F32', perUnit: 1 };
    case GGMLType.F16:
    case GGMLType.BF16:
      if (cols % 2) throw new RangeError(`embedding: ${GGMLType[type]} tables need an even column count, got ${cols}`);
      return { define: GGMLType[type], perUnit: 2 };
    default:
      // Block types decode 32 values per unit through the shared quant_decode snippet. I2_S is
      // left out: its per-tensor scale is not bound here (no model stores token_embd as I2_S).
      if ((VALUE_TYPES.includes(type) || TERNARY_TYPES.includes(type)) && type !== GGMLType.I2_S) {
        return { define: 'QUANT', perUnit: 32 };
      }
      throw new UnsupportedTensorTypeError(`embedding: token_embd of type ${GGMLType[type] ?? type} has no GPU decoder yet`, type);
  }
}

export function createEmbedding(ctx: GpuContext, cfg: EmbeddingConfig): { bind(b: EmbeddingBindings): KernelCall } {
  checkDim('embedding', 'rows', cfg.rows);
  checkDim('embedding', 'cols', cfg.cols);
  const maxTokens = cfg.maxTokens ?? 1;
  checkDim('embedding', 'maxTokens', maxTokens);
  const fmt = formatOf(cfg.type, cfg.cols);
  const units = cfg.cols / fmt.perUnit;
  const defines: Record<string, string | number | boolean> = {
    COLS: cfg.cols,
    ROWS: cfg.rows,
    UNITS: units,
    BY_POSITION: cfg.idsByPosition === true,
    F32: false,
    F16: false,
    BF16: false,
    QUANT: false,
    ...quantDefines(cfg.type),
  };
  defines[fmt.define] = true;
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
      const calls = t.parts.map((part, i) => {
        const pipeline = opsPipeline(ctx, 'embedding', embeddingWgsl, defines, {
          subgroups: false,
          constants: { ROW_START: part.rowStart, ROW_COUNT: part.rowCount, ZERO_OOB: i === 0 ? 1 : 0 },
        });
        return { pipeline, group: makeBindGroup(ctx, pipeline, `embedding:${t.name}#${i}`, [b.params, b.ids, part.buffer, b.output]) };
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
