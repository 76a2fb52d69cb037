/**
 * Which tensors a model of a given family needs, by GGUF name, and the check that they are all
 * present with the shapes the config implies. A missing or misshapen tensor is reported together
 * with every other one, so a user sees the whole problem at once.
 */
import { ModelFormatError } from '../errors.ts';
import type { ModelConfig } from './config.ts';

export interface TensorShapeInfo {
  name: string;
  /** ggml order: dims[0] is the row length (input features). */
  dims: readonly number[];
}

export interface LayerTensorNames {
  attnNorm: string;
  q: string;
  k: string;
  v: string;
  o: string;
  qBias?: string;
  kBias?: string;
  vBias?: string;
  qNorm?: string;
  kNorm?: string;
  attnSubNorm?: string;
  ffnNorm: string;
  gate: string;
  up: string;
  down: string;
  ffnSubNorm?: string;
  /** BitNet per-tensor multipliers (optional in the file). */
  scales: Partial<Record<'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', string>>;
}

export interface ModelTensorNames {
  tokenEmbd: string;
  outputNorm: string;
  /** Undefined when the LM head is tied to token_embd. */
  output?: string;
  /** Llama-3 style per-dimension RoPE frequency factors. */
  ropeFreqs?: string;
  layers: LayerTensorNames[];
}

const SCALED = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
const BASE: Record<(typeof SCALED)[number], string> = {
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  gate: 'ffn_gate',
  up: 'ffn_up',
  down: 'ffn_down',
};

export function resolveTensorNames(cfg: ModelConfig, tensors: readonly TensorShapeInfo[]): ModelTensorNames {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const problems: string[] = [];
  const expect = (name: string, dims: number[]): string => {
    const t = byName.get(name);
    if (!t) problems.push(`missing ${name} [${dims.join(', ')}]`);
    else if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      // 2-D weights may be stored with trailing 1s; compare the meaningful dims.
      const trimmed = [...t.dims];
      while (trimmed.length > dims.length && trimmed[trimmed.length - 1] === 1) trimmed.pop();
      if (trimmed.length !== dims.length || trimmed.some((d, i) => d !== dims[i])) {
        problems.push(`${name} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}]`);
      }
    }
    return name;
  };
  const optional = (name: string, dims: number[]): string | undefined => (byName.has(name) ? expect(name, dims) : undefined);

  const { nEmbd, nFF, nHead, nHeadKV, headDim, headDimV, vocabSize } = cfg;
  const a = cfg.architecture;
  const embd = byName.get('token_embd.weight');
  if (embd && embd.dims[0] !== nEmbd) {
    problems.push(`token_embd.weight has rows of ${embd.dims[0]} elements but ${a}.embedding_length is ${nEmbd}`);
  }
  // Blocks past block_count would be ignored silently: a file whose count is wrong is broken.
  const extraBlocks = new Set<number>();
  for (const t of tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m && Number(m[1]) >= cfg.nLayer) extraBlocks.add(Number(m[1]));
  }
  if (extraBlocks.size > 0) {
    const blocks = [...extraBlocks].sort((x, y) => x - y);
    problems.push(
      `${a}.block_count is ${cfg.nLayer} but the file has tensors for block ${blocks
        .slice(0, 5)
        .map((b) => `blk.${b}`)
        .join(', ')}${blocks.length > 5 ? ', …' : ''}`,
    );
  }
  const qDim = nHead * headDim;
  const kDim = nHeadKV * headDim;
  const vDim = nHeadKV * headDimV;
  const tokenEmbd = expect('token_embd.weight', [nEmbd, vocabSize]);
  const outputNorm = expect('output_norm.weight', [nEmbd]);
  const output = optional('output.weight', [nEmbd, vocabSize]);
  const ropeFreqs = optional('rope_freqs.weight', [cfg.ropeDim / 2]);
  const layers: LayerTensorNames[] = [];
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `blk.${i}.`;
    const layer: LayerTensorNames = {
      attnNorm: expect(`${p}attn_norm.weight`, [nEmbd]),
      q: expect(`${p}attn_q.weight`, [nEmbd, qDim]),
      k: expect(`${p}attn_k.weight`, [nEmbd, kDim]),
      v: expect(`${p}attn_v.weight`, [nEmbd, vDim]),
      o: expect(`${p}attn_output.weight`, [nHead * headDimV, nEmbd]),
      ffnNorm: expect(`${p}ffn_norm.weight`, [nEmbd]),
      gate: expect(`${p}ffn_gate.weight`, [nEmbd, nFF]),
      up: expect(`${p}ffn_up.weight`, [nEmbd, nFF]),
      down: expect(`${p}ffn_down.weight`, [nFF, nEmbd]),
      scales: {},
    };
    if (cfg.qkvBias) {
      layer.qBias = expect(`${p}attn_q.bias`, [qDim]);
      layer.kBias = expect(`${p}attn_k.bias`, [kDim]);
      layer.vBias = expect(`${p}attn_v.bias`, [vDim]);
    }
    if (cfg.qkNorm) {
      layer.qNorm = expect(`${p}attn_q_norm.weight`, [headDim]);
      layer.kNorm = expect(`${p}attn_k_norm.weight`, [headDim]);
    }
    if (cfg.subNorms) {
      layer.attnSubNorm = expect(`${p}attn_sub_norm.weight`, [nHead * headDimV]);
      layer.ffnSubNorm = expect(`${p}ffn_sub_norm.weight`, [nFF]);
      for (const s of SCALED) {
        const name = optional(`${p}${BASE[s]}.scale`, [1]);
        if (name) layer.scales[s] = name;
      }
    }
    layers.push(layer);
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20).join('; ');
    const more = problems.length > 20 ? ` (and ${problems.length - 20} more)` : '';
    throw new ModelFormatError(`${cfg.architecture} model does not have the tensors it needs: ${shown}${more}`);
  }
  return { tokenEmbd, outputNorm, output, ropeFreqs, layers };
}
