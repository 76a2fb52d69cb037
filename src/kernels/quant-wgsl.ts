/**
 * The per-type WGSL block decoders (shaders/common/quant_decode.wgsl), registered as the
 * `#include "quant_decode"` snippet, plus the defines that select one type.
 */
import quantDecodeWgsl from '../../shaders/common/quant_decode.wgsl?raw';
import { registerWgslSnippet } from '../gpu/pipelines.ts';
import { GGMLType } from '../quant/types.ts';

registerWgslSnippet('quant_decode', quantDecodeWgsl);

/** Block types quant_decode.wgsl decodes as values (decode_unit). */
export const VALUE_TYPES: readonly GGMLType[] = [
  GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1,
  GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
];
/** Block types quant_decode.wgsl decodes as ternary codes (code_unit). */
export const TERNARY_TYPES: readonly GGMLType[] = [GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S];

const FLOAT_DEFINES = ['QT_F32', 'QT_F16', 'QT_BF16'];

/** `#if` defines selecting `type`'s decoder (every QT_* define present, one true). */
export function quantDefines(type: GGMLType): Record<string, boolean> {
  const d: Record<string, boolean> = {};
  for (const t of [...VALUE_TYPES, ...TERNARY_TYPES]) d[`QT_${GGMLType[t]}`] = t === type;
  for (const f of FLOAT_DEFINES) d[f] = f === `QT_${GGMLType[type]}`;
  d.QT_KSCALES = type === GGMLType.Q4_K || type === GGMLType.Q5_K;
  d.TERNARY = TERNARY_TYPES.includes(type);
  return d;
}
