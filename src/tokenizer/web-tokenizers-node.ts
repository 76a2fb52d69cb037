/**
 * Node-only: evaluate `@mlc-ai/web-tokenizers` (a UMD bundle in a `"type": "module"` package, so
 * Node's ESM loader finds no exports in it) as a CommonJS module. Imported dynamically from
 * `web-tokenizers.ts` only when running under Node.
 */
import Module, { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { WasmTokenizerFactory } from './web-tokenizers.ts';

interface CompilableModule {
  filename: string;
  paths: string[];
  exports: Record<string, unknown>;
  _compile(source: string, filename: string): void;
}

let factory: WasmTokenizerFactory | null = null;

export function loadWebTokenizersInNode(): WasmTokenizerFactory {
  if (factory) return factory;
  const require = createRequire(import.meta.url);
  const file = require.resolve('@mlc-ai/web-tokenizers');
  const ModuleCtor = Module as unknown as {
    new (id: string): CompilableModule;
    _nodeModulePaths(dir: string): string[];
  };
  const m = new ModuleCtor(file);
  m.filename = file;
  m.paths = ModuleCtor._nodeModulePaths(file);
  // _compile gives the bundle CommonJS `module`/`exports`/`require`/`__filename`, which its UMD
  // header and its emscripten loader (which embeds the wasm as a data: URI) expect.
  m._compile(readFileSync(file, 'utf8'), file);
  const t = (m.exports as { Tokenizer?: WasmTokenizerFactory }).Tokenizer;
  if (!t || typeof t.fromJSON !== 'function') throw new Error(`${file}: no Tokenizer export after CommonJS evaluation`);
  factory = t;
  return t;
}
