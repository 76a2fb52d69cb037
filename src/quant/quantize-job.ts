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
  /** The tensor's importance weights (imatrix), when quantizing with them. */
  readonly importance?: JobImportance;
}

/**
 * Importance weights for a job's rows. A tensor holds one matrix (dense) or one per expert (MoE,
 * `rowsPerMatrix` rows each), and each matrix has its own weights, one per column.
 */
export interface JobImportance {
  /** rowLength × matrix-count values: matrix m's weights at [m·rowLength, (m+1)·rowLength). */
  readonly weights: Float32Array;
  readonly rowLength: number;
  readonly rowsPerMatrix: number;
  /** Index in the tensor of the job's first row. */
  readonly firstRow: number;
}

export interface QuantizeResult {
  readonly bytes: Uint8Array;
  /**
   * Largest |x| of the job's values. Per-tensor formats (I2_S) store the tensor-wide maximum in a
   * trailer after the last row, so the caller keeps the largest of these.
   */
  readonly absMax: number;
}

/**
 * Quantize one job as llama-quantize does: with the type's importance-weighted quantizer when the
 * job has weights and the type uses them, else with its reference quantizer.
 */
export function runQuantizeJob(job: QuantizeJob): QuantizeResult {
  if (job.type === GGMLType.I2_S) {
    const bytes = new Uint8Array(job.values.length / 4);
    return { bytes, absMax: quantizeI2SCodes(job.values, bytes) };
  }
  const entry = getQuantType(job.type);
  if (!entry.quantize) throw new QuantizeError(`lowbit has no quantizer for ${entry.name}`);
  const weighted = entry.quantizeWeighted;
  if (!job.importance || !weighted) return { bytes: entry.quantize(job.values), absMax: 0 };
  const { weights, rowLength, rowsPerMatrix, firstRow } = job.importance;
  const nRows = job.values.length / rowLength;
  if (!Number.isInteger(nRows) || rowsPerMatrix < 1 || (firstRow + nRows) / rowsPerMatrix > weights.length / rowLength) {
    throw new QuantizeError(
      `importance weights (${weights.length}) do not cover rows ${firstRow}..${firstRow + nRows} of ${rowLength} values`,
    );
  }
  const bytes = new Uint8Array(entry.rowBytes(rowLength) * nRows);
  // Split the rows where the matrix (expert) changes: each run uses its matrix's weights.
  for (let row = 0; row < nRows;) {
    const matrix = Math.floor((firstRow + row) / rowsPerMatrix);
    const end = Math.min(nRows, (matrix + 1) * rowsPerMatrix - firstRow);
    const w = weights.subarray(matrix * rowLength, (matrix + 1) * rowLength);
    const rowBytes = entry.rowBytes(rowLength);
    weighted(job.values.subarray(row * rowLength, end * rowLength), w, bytes.subarray(row * rowBytes, end * rowBytes));
    row = end;
  }
  return { bytes, absMax: 0 };
}
