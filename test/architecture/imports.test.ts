// The layer rule of src/: io → gguf/quant → gpu → kernels → runtime → engine → ui → app, with
// storage beside io for the engine and the CLI, server (lowbit serve's HTTP layer, Node only)
// above engine, beside ui, for the CLI, and lab (the quantization lab page) beside app. A lower
// layer never imports a higher one, type-only imports included: a type imported upwards is still
// a dependency the lower layer cannot be built or tested without. The files at the top of src/
// (errors.ts, format.ts, stats.ts) are shared by every layer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Each layer (a folder of src/, or '.' for the files at its top) and the layers it may not import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  '.': [
    'io',
    'gguf',
    'quant',
    'gpu',
    'kernels',
    'model',
    'tokenizer',
    'runtime',
    'storage',
    'engine',
    'server',
    'ui',
    'app',
    'lab',
    'cli',
    'node',
  ],
  io: ['gguf', 'quant', 'gpu', 'kernels', 'model', 'tokenizer', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  gguf: ['gpu', 'kernels', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  quant: ['gpu', 'kernels', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  model: ['gpu', 'kernels', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  tokenizer: ['gpu', 'kernels', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  gpu: ['kernels', 'runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  kernels: ['runtime', 'storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  runtime: ['storage', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  storage: ['gpu', 'kernels', 'runtime', 'engine', 'server', 'ui', 'app', 'lab', 'cli'],
  engine: ['server', 'ui', 'app', 'lab', 'cli'],
  ui: ['server', 'app', 'lab', 'cli'],
  server: ['ui', 'app', 'lab', 'cli'],
  app: ['server', 'lab', 'cli'],
  // The quantization lab page sits beside the demo app: it may use the app's shared pieces, the app never imports it.
  lab: ['server', 'cli'],
  // Node's module hooks for the CLI, bench and tests: plain files that import nothing of lowbit.
  node: [
    'io',
    'gguf',
    'quant',
    'gpu',
    'kernels',
    'model',
    'tokenizer',
    'runtime',
    'storage',
    'engine',
    'server',
    'ui',
    'app',
    'lab',
    'cli',
  ],
  // The command line sits on top: it may import every layer.
  cli: [],
};

interface ImportEdge {
  /** Importing file, relative to src/. */
  file: string;
  /** The module specifier as written. */
  specifier: string;
  /** Imported path relative to src/ (may start with '../' for files outside src, e.g. shaders). */
  target: string;
}

/** Relative imports of one source file: static, type-only, re-exports and dynamic import(). */
function importsOf(file: string, text: string): ImportEdge[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((specifier) => ({ file, specifier, target: relative(SRC, resolve(SRC, dirname(file), specifier)) }));
}

function layerOf(pathInSrc: string): string {
  const parts = pathInSrc.split(/[\\/]/);
  return parts.length === 1 ? '.' : parts[0]!;
}

/** One line per import that crosses the rule, e.g. "runtime/session.ts imports engine/types.ts". */
function violations(edges: readonly ImportEdge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    if (e.target.startsWith('..')) continue; // shaders and other assets outside src/
    const from = layerOf(e.file);
    const to = layerOf(e.target);
    if (from === to) continue;
    if (FORBIDDEN[from]?.includes(to)) out.push(`${e.file} imports ${e.target} (${from}/ may not import ${to}/)`);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return /\.(ts|js)$/.test(d.name) ? [p] : [];
  });
}

describe('layer rule', () => {
  it('the checker sees every import form and flags an upward one', () => {
    const text = [
      "import type { FinishReason } from '../engine/types.ts';",
      "import { x } from '../kernels/sample.ts';",
      "export { y } from '../ui/format.ts';",
      '// a comment mentioning import("../app/main.ts") is not an import',
      "const m = await import('../cli/main.ts');",
      "import '../storage/store.ts';",
    ].join('\n');
    const edges = importsOf('runtime/session.ts', text);
    expect(edges.map((e) => e.target)).toEqual(['engine/types.ts', 'kernels/sample.ts', 'ui/format.ts', 'cli/main.ts', 'storage/store.ts']);
    expect(violations(edges)).toEqual([
      'runtime/session.ts imports engine/types.ts (runtime/ may not import engine/)',
      'runtime/session.ts imports ui/format.ts (runtime/ may not import ui/)',
      'runtime/session.ts imports cli/main.ts (runtime/ may not import cli/)',
      'runtime/session.ts imports storage/store.ts (runtime/ may not import storage/)',
    ]);
    expect(violations(importsOf('io/progress.ts', "import { f } from '../format.ts';"))).toEqual([]);
    expect(violations(importsOf('format.ts', "import { g } from './gpu/device.ts';"))).toEqual([
      'format.ts imports gpu/device.ts (./ may not import gpu/)',
    ]);
  });

  it('every folder of src/ has a rule (a new folder must say where it sits)', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.filter((f) => !(f in FORBIDDEN))).toEqual([]);
    expect(folders.length).toBeGreaterThan(10);
  });

  it('src/ has no import against the layer order', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const edges = files.flatMap((f) => importsOf(relative(SRC, f), readFileSync(f, 'utf8')));
    expect(violations(edges)).toEqual([]);
  });
});
