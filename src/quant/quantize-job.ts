/**
 * The unit of quantization work: f32 values (whole rows, so whole blocks) in, the target type's
 * bytes out. Pure computation with no transport: Node worker threads, Web Workers and the main
 * thread all call {@link runQuantizeJob}.
 */
import { QuantizeError } from '../errors.ts';
import { quantizeI2SCodes } from './cpu/ternary.ts';
import { getQuantType } from './table.ts';
import { GGMLType } from './types.ts';

export interface QuantizeJob {
  /** Target GGML type id. */
  readonly type: number;
  /** A whole number of rows of the tensor, row-major. */
  readonly values: Float32Array;
}

export interface QuantizeResult {
  readonly bytes: Uint8Array;
  /**
   * Largest |x| of the job's values. Per-tensor formats (I2_S) store the tensor-wide maximum in a
   * trailer after the last row, so the caller keeps the largest of these.
   */
  readonly absMax: number;
}

/** Quantize one job with llama.cpp's reference quantizer for the type. */
export function runQuantizeJob(job: QuantizeJob): QuantizeResult {
  if (job.type === GGMLType.I2_S) {
    const bytes = new Uint8Array(job.values.length / 4);
    return { bytes, absMax: quantizeI2SCodes(job.values, bytes) };
  }
  const entry = getQuantType(job.type);
  if (!entry.quantize) throw new QuantizeError(`lowbit has no quantizer for ${entry.name}`);
  return { bytes: entry.quantize(job.values), absMax: 0 };
}
