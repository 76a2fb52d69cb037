/**
 * Importance-quantized (IQ) formats. Only the CPU dequantizers: llama-quantize makes these types
 * with an importance matrix, which lowbit does not reproduce.
 *
 * IQ4_NL  d:f16 qs[16] — 32 values as 4-bit indices into the fixed non-linear table
 *         kvalues_iq4nl; x[j] = d·table[qs[j] & 15] and x[16 + j] = d·table[qs[j] >> 4]
 *         (low nibbles hold elements 0..15, high nibbles 16..31).
 */

import { f16Table } from './float.ts';
import { assertTensorBytes, floatOutput } from './validate.ts';

/** ggml's kvalues_iq4nl: the 16 levels of IQ4_NL, denser near zero where weights cluster. */
export const IQ4_NL_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

const QK4_NL = 32;
const IQ4_NL_BLOCK_BYTES = 18;

export function dequantizeIQ4_NL(src: Uint8Array, nElements: number, dst?: Float32Array): Float32Array {
  const nb = assertTensorBytes('IQ4_NL', src, nElements, QK4_NL, IQ4_NL_BLOCK_BYTES);
  const out = floatOutput('IQ4_NL', nElements, dst);
  const f16 = f16Table();
  const values = IQ4_NL_VALUES;
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += IQ4_NL_BLOCK_BYTES, y += QK4_NL) {
    const d = f16[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = values[q & 0x0f] * d; // small int × f32 is exact in f64; the store rounds once, as f32 does
      out[y + j + 16] = values[q >> 4] * d;
    }
  }
  return out;
}
