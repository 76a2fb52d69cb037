/** `lowbit inspect <model> [--json] [--tensors]`: what a GGUF file holds, without loading weights. */
import { formatBytes } from '../format.ts';
import type { GGUFFile } from '../gguf/file.ts';
import { readGGUF } from '../gguf/reader.ts';
import { GGUFArray, GGUFValueType, valueTypeName, type GGUFValue } from '../gguf/values.ts';
import { parseCommand } from './options.ts';
import { resolveModelSource } from './model-arg.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';

const HELP = `Usage: lowbit inspect <file.gguf> [--json] [--tensors] [--store DIR]

Print a GGUF model's architecture, hyper-parameters, tokenizer, chat template presence and a
summary of its tensors. Reads only the file's header.

Options:
  --json      one JSON object: full metadata (long arrays summarised) and the full tensor table
  --tensors   also list every tensor (name, type, dims, offset, bytes) in the text output
  --store DIR where to look up <file.gguf> as a stored model name when no such file exists
              (default: see lowbit pull --help)
  -h, --help  show this help

Exit status: 0 ok, 2 when the file is missing or malformed (one "error: …" line on stderr).
`;

/** Arrays longer than this are summarised (type, length, first items) in the output. */
const ARRAY_PREVIEW = 8;

// Shown first, in this order, when present; other `<arch>.*` keys follow alphabetically.
const KEY_HYPERPARAMS = [
  'context_length',
  'embedding_length',
  'block_count',
  'feed_forward_length',
  'attention.head_count',
  'attention.head_count_kv',
  'attention.key_length',
  'attention.value_length',
  'rope.dimension_count',
  'rope.freq_base',
  'rope.scaling.type',
  'rope.scaling.factor',
  'attention.layer_norm_rms_epsilon',
  'attention.layer_norm_epsilon',
  'vocab_size',
];

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'inspect',
    help: HELP,
    options: {
      json: { type: 'boolean' },
      tensors: { type: 'boolean' },
      store: { type: 'string' },
    },
    positionals: { min: 1, max: 1, text: 'takes exactly one model file' },
  });
  if (!parsed) return 0;
  const model = await resolveModelSource(parsed.positionals[0]!, parsed.values.store);
  try {
    const file = await readGGUF(model.source);
    const report = inspectReport(file, model.label);
    process.stdout.write(parsed.values.json ? `${terminalJson(report, 2)}\n` : formatReport(report, !!parsed.values.tensors));
    return 0;
  } finally {
    await model.close();
  }
}

export interface InspectReport {
  file: string;
  fileSize: number;
  version: number;
  alignment: number;
  headerSize: number;
  dataOffset: number;
  architecture: string | null;
  name: string | null;
  hyperparameters: Record<string, unknown>;
  tokenizer: { model: string | null; pre: string | null; tokens: number; merges: number; chatTemplate: boolean; chatTemplateChars: number };
  tensorCount: number;
  tensorBytes: number;
  tensorsByType: Record<string, { count: number; bytes: number }>;
  metadata: Record<string, { type: string; value: unknown }>;
  tensors: {
    name: string;
    type: string;
    typeId: number;
    dims: number[];
    offset: number;
    absoluteOffset: number;
    elements: number;
    bytes: number;
  }[];
}

/**
 * A record for keys taken from the file: no prototype, so keys such as `__proto__` or
 * `constructor` are ordinary own properties instead of vanishing or reaching Object.prototype.
 */
function fileKeyed<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Everything `inspect` prints, as plain JSON-safe data. */
export function inspectReport(file: GGUFFile, label: string): InspectReport {
  const arch = file.architecture ?? null;
  const hyper = fileKeyed<unknown>();
  if (arch) {
    const prefix = `${arch}.`;
    const archKeys = [...file.metadata.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const ordered = [
      ...KEY_HYPERPARAMS.filter((k) => archKeys.includes(k)),
      ...archKeys.filter((k) => !KEY_HYPERPARAMS.includes(k)).sort(),
    ];
    for (const k of ordered) hyper[k] = jsonValue(file.metadata.get(prefix + k)!.value);
  }
  const tokens = file.getArray('tokenizer.ggml.tokens')?.length ?? 0;
  if (!('vocab_size' in hyper) && tokens) hyper.vocab_size = tokens;
  const template = file.get('tokenizer.chat_template');

  const byType = fileKeyed<{ count: number; bytes: number }>();
  for (const t of file.tensors) {
    const e = (byType[t.typeName] ??= { count: 0, bytes: 0 });
    e.count++;
    e.bytes += t.byteSize;
  }
  const metadata = fileKeyed<InspectReport['metadata'][string]>();
  for (const e of file.metadata.values()) {
    metadata[e.key] = { type: typeLabel(e.type, e.value), value: jsonValue(e.value) };
  }
  return {
    file: label,
    fileSize: file.fileSize,
    version: file.version,
    alignment: file.alignment,
    headerSize: file.headerSize,
    dataOffset: file.dataOffset,
    architecture: arch,
    name: typeof file.get('general.name') === 'string' ? (file.get('general.name') as string) : null,
    hyperparameters: hyper,
    tokenizer: {
      model: stringOrNull(file.get('tokenizer.ggml.model')),
      pre: stringOrNull(file.get('tokenizer.ggml.pre')),
      tokens,
      merges: file.getArray('tokenizer.ggml.merges')?.length ?? 0,
      chatTemplate: typeof template === 'string',
      chatTemplateChars: typeof template === 'string' ? template.length : 0,
    },
    tensorCount: file.tensors.length,
    tensorBytes: file.tensorBytes,
    tensorsByType: byType,
    metadata,
    tensors: file.tensors.map((t) => ({
      name: t.name,
      type: t.typeName,
      typeId: t.typeId,
      dims: [...t.dims],
      offset: t.offset,
      absoluteOffset: t.absoluteOffset,
      elements: t.nElements,
      bytes: t.byteSize,
    })),
  };
}

function stringOrNull(v: GGUFValue | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

function typeLabel(type: GGUFValueType, value: GGUFValue): string {
  return value instanceof GGUFArray ? `ARRAY<${arrayTypeLabel(value)}>` : valueTypeName(type);
}

function arrayTypeLabel(a: GGUFArray): string {
  if (a.itemType !== GGUFValueType.ARRAY) return valueTypeName(a.itemType);
  const first = a.items[0] as GGUFArray | undefined;
  return first ? `ARRAY<${arrayTypeLabel(first)}>` : 'ARRAY';
}

/** JSON-safe form: bigints as decimal strings, non-finite floats as strings, long arrays summarised. */
function jsonValue(v: GGUFValue): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v instanceof GGUFArray) {
    if (v.length <= ARRAY_PREVIEW) return Array.from({ length: v.length }, (_, i) => jsonValue(v.at(i)!));
    return {
      itemType: arrayTypeLabel(v),
      length: v.length,
      first: Array.from({ length: ARRAY_PREVIEW }, (_, i) => jsonValue(v.at(i)!)),
    };
  }
  return v;
}

const int = new Intl.NumberFormat('en-US');

/** The exact count, and the rounded one in the unit convention of src/format.ts. */
function bytesLabel(n: number): string {
  return n < 1000 ? `${int.format(n)} B` : `${int.format(n)} bytes (${formatBytes(n)})`;
}

/** At most `max` characters of `s` (a metadata string can be megabytes long). */
function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\ud800-\udbff]/.test(s[max - 4]!) ? max - 4 : max - 3; // never split a surrogate pair
  return `${s.slice(0, end)}...`;
}

function shortValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : shortFloat(v);
  if (typeof v === 'string') return JSON.stringify(clip(v, 80));
  if (Array.isArray(v)) return `[${v.map(shortValue).join(', ')}]`;
  if (v && typeof v === 'object' && 'length' in v) {
    const s = v as { itemType: string; length: number; first: unknown[] };
    return `${s.itemType}[${s.length}] [${s.first.map(shortValue).join(', ')}, ...]`;
  }
  return String(v);
}

/** Shortest decimal that reads back as the same float32 (metadata floats are mostly FLOAT32). */
function shortFloat(v: number): string {
  for (let p = 1; p <= 17; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === Math.fround(v)) return String(s);
  }
  return String(v);
}

/** Longest cell of the text output; longer file-provided strings are clipped. */
const MAX_CELL = 200;

/** A table with every cell made terminal-safe (control characters escaped, long strings clipped). */
function table(cells: string[][], rightAlign: boolean[] = []): string {
  const rows = cells.map((r) => r.map((cell) => escapeControl(clip(cell, MAX_CELL))));
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map(
      (r) =>
        '  ' +
        r
          .map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

export function formatReport(r: InspectReport, listTensors: boolean): string {
  const out: string[] = [];
  out.push(escapeControl(r.file));
  out.push(
    table([
      ['file size', bytesLabel(r.fileSize)],
      [
        'format',
        `GGUF v${r.version}, ${Object.keys(r.metadata).length} metadata keys, alignment ${r.alignment}, data at byte ${int.format(r.dataOffset)}`,
      ],
      ['architecture', r.architecture ?? '(none: general.architecture missing)'],
      ...(r.name ? [['name', r.name]] : []),
    ]),
  );
  const hyper = Object.entries(r.hyperparameters);
  if (hyper.length) {
    out.push('', `hyper-parameters (${escapeControl(clip(r.architecture ?? '', MAX_CELL))}.*)`);
    out.push(table(hyper.map(([k, v]) => [k, shortValue(v)])));
  }
  const t = r.tokenizer;
  out.push('', 'tokenizer');
  out.push(
    table([
      ['model', t.model ?? '(none)'],
      ['pre', t.pre ?? '(none)'],
      ['tokens', int.format(t.tokens)],
      ['merges', int.format(t.merges)],
      ['chat template', t.chatTemplate ? `present (${int.format(t.chatTemplateChars)} chars)` : 'none'],
    ]),
  );
  out.push('', `tensors: ${int.format(r.tensorCount)}, ${bytesLabel(r.tensorBytes)}`);
  const types = Object.entries(r.tensorsByType).sort((a, b) => b[1].bytes - a[1].bytes);
  if (types.length) {
    out.push(
      table(
        [['type', 'count', 'bytes'], ...types.map(([name, s]) => [name, int.format(s.count), int.format(s.bytes)])],
        [false, true, true],
      ),
    );
  }
  if (listTensors && r.tensors.length) {
    out.push('');
    out.push(
      table(
        [
          ['name', 'type', 'dims', 'offset', 'bytes'],
          ...r.tensors.map((x) => [x.name, x.type, x.dims.join(' x '), int.format(x.absoluteOffset), int.format(x.bytes)]),
        ],
        [false, false, false, true, true],
      ),
    );
  }
  return out.join('\n') + '\n';
}
