/**
 * The one place that knows how to load `@mlc-ai/web-tokenizers` (Hugging Face tokenizers and
 * SentencePiece compiled to wasm). Version 0.1.6 ships a UMD bundle under `"type": "module"`:
 * bundlers (Vite) turn it into a module with named exports, but Node's ESM loader sees no exports,
 * so Node evaluates the file as CommonJS in `web-tokenizers-node.ts`. The Node path is a dynamic
 * import behind a runtime check so browser bundles never pull `node:` modules.
 */

/** The wasm tokenizer handle (the package's `Tokenizer` instance). */
export interface WasmTokenizer {
  encode(text: string): Int32Array;
  decode(ids: Int32Array): string;
  getVocabSize(): number;
  idToToken(id: number): string;
  dispose(): void;
}

/** The package's static `Tokenizer` factory methods we use. */
export interface WasmTokenizerFactory {
  fromJSON(json: ArrayBuffer): Promise<WasmTokenizer>;
  fromSentencePiece(model: ArrayBuffer): Promise<WasmTokenizer>;
}

const isNode = typeof process !== 'undefined' && typeof process.versions === 'object' && typeof process.versions?.node === 'string';

let loading: Promise<WasmTokenizerFactory> | null = null;

/** Load (once) and return the wasm tokenizer factory. */
export function loadWebTokenizers(): Promise<WasmTokenizerFactory> {
  loading ??= (isNode ? loadInNode() : loadInBrowser()).catch((err: unknown) => {
    loading = null;
    throw err;
  });
  return loading;
}

async function loadInNode(): Promise<WasmTokenizerFactory> {
  // A variable specifier keeps bundlers from following this import into the browser build.
  const nodeLoader = './web-tokenizers-node.ts';
  const mod = (await import(/* @vite-ignore */ nodeLoader)) as { loadWebTokenizersInNode(): WasmTokenizerFactory };
  return mod.loadWebTokenizersInNode();
}

async function loadInBrowser(): Promise<WasmTokenizerFactory> {
  const mod = (await import('@mlc-ai/web-tokenizers')) as unknown as Record<string, unknown>;
  // Depending on how the bundler wrapped the UMD file the class is a named export, hangs off
  // `default`, or (evaluated as a plain ES module) was put on globalThis.tokenizers.
  const candidates = [mod, mod.default, (globalThis as Record<string, unknown>).tokenizers];
  for (const c of candidates) {
    const t = (c as { Tokenizer?: WasmTokenizerFactory } | undefined)?.Tokenizer;
    if (t && typeof t.fromJSON === 'function') return t;
  }
  throw new Error('@mlc-ai/web-tokenizers loaded but exposes no Tokenizer class');
}
