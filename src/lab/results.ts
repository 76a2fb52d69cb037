/**
 * The lab's results table: one row per model measured (the base, each quantization, each file the
 * user added for comparison), and its CSV and JSON exports. Names in it come from model files and
 * file names, so they are hostile text: the CSV quotes every text cell and defuses cells a
 * spreadsheet would run as a formula.
 */
import type { GGUFFile } from '../gguf/file.ts';

export type LabRowKind = 'base' | 'quantized' | 'opened';

/**
 * queued → quantizing → evaluating → done; or error (a message says why), cancelled, or
 * unsupported (a file lowbit cannot run yet: listed with its size, never plotted).
 */
export type LabRowStatus = 'queued' | 'quantizing' | 'evaluating' | 'done' | 'error' | 'cancelled' | 'unsupported';

export interface LabRow {
  /** The mixture (Q4_K_M…) or, for the base and opened files, the file name. */
  label: string;
  kind: LabRowKind;
  status: LabRowStatus;
  /** The model store id of a quantized result (download, chat). */
  storedId?: string;
  /** File size in bytes. */
  bytes?: number;
  /** Tensor data bits over parameters, as llama.cpp reports BPW. */
  bitsPerWeight?: number;
  ppl?: number;
  pplError?: number;
  /** Mean KL(base ‖ this model), nats per token; 0 for the base. */
  kl?: number;
  klError?: number;
  /** Share of scored positions whose most likely token is the base's, 0…1. */
  sameTop1?: number;
  /** Scored tokens the numbers are over. */
  tokens?: number;
  /** Progress of the current phase, 0…1. */
  progress?: number;
  message?: string;
}

/** Bits per weight of a model file: its tensor bytes over its parameter count (llama.cpp's BPW). */
export function fileBitsPerWeight(file: Pick<GGUFFile, 'tensors'>): number {
  let bytes = 0;
  let values = 0;
  for (const t of file.tensors) {
    bytes += t.byteSize;
    values += t.nElements;
  }
  return values > 0 ? (8 * bytes) / values : NaN;
}

const COLUMNS = [
  'model',
  'kind',
  'status',
  'bytes',
  'bits_per_weight',
  'ppl',
  'ppl_error',
  'kl_vs_base',
  'kl_error',
  'same_top1_pct',
  'tokens',
  'message',
] as const;

/** A number cell: full precision, empty when unknown. */
function numberCell(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : String(v);
}

/**
 * A text cell, always quoted. A leading = + - @ (or tab / carriage return) would make a spreadsheet
 * evaluate the cell as a formula (CSV injection): such cells get a leading apostrophe.
 */
export function csvText(v: string | undefined): string {
  const s = v ?? '';
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** RFC 4180 CSV (CRLF line ends), a header line then one line per row. */
export function resultsToCsv(rows: readonly LabRow[]): string {
  const lines = [COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [
        csvText(r.label),
        csvText(r.kind),
        csvText(r.status),
        numberCell(r.bytes),
        numberCell(r.bitsPerWeight),
        numberCell(r.ppl),
        numberCell(r.pplError),
        numberCell(r.kl),
        numberCell(r.klError),
        numberCell(r.sameTop1 === undefined ? undefined : 100 * r.sameTop1),
        numberCell(r.tokens),
        csvText(r.message),
      ].join(','),
    );
  }
  return lines.join('\r\n') + '\r\n';
}

export interface LabRunInfo {
  base: string;
  text: string;
  ctx: number;
  chunks: number;
}

/** The table as JSON: the run's settings and the rows without their transient progress. */
export function resultsToJson(info: LabRunInfo, rows: readonly LabRow[]): string {
  const clean = rows.map(({ progress: _progress, ...r }) => r);
  return JSON.stringify({ tool: 'lowbit lab', ...info, rows: clean }, null, 2) + '\n';
}
