/**
 * JS memory (heapUsed + arrayBuffers, the bench's "peak JS heap in load" measure) held after each
 * phase of building a tokenizer from a GGUF file: header read, vocab read, tokenizer build. Run
 * with --expose-gc so each figure is what stays reachable after a full collection; the figure
 * before the collection shows the transient garbage of the phase.
 *
 *   node --expose-gc --import ./src/node/register.js bench/probes/tokenizer-heap.ts /path/model.gguf …
 */
import { readGGUF } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/index.ts';
import { loadWebTokenizers } from '../../src/tokenizer/web-tokenizers.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

await loadWebTokenizers(); // the wasm module itself is not part of any one model's load
for (const path of process.argv.slice(2)) {
  gc();
  const base = used();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, used())), 1);
  const phases: Record<string, string> = {};
  const mark = (name: string) => {
    const raw = used();
    peak = Math.max(peak, raw);
    gc();
    phases[name] = `${mib(raw - base)} → ${mib(used() - base)} MiB`;
  };
  const source = await FileByteSource.open(path);
  let t = performance.now();
  const file = await readGGUF(source);
  const headerMs = performance.now() - t;
  mark('header');
  t = performance.now();
  const tokenizer = await tokenizerFromGGUF(file);
  const tokenizerMs = performance.now() - t;
  mark('tokenizer');
  clearInterval(sampler);
  await source.close();
  console.log(
    JSON.stringify({
      model: path.split('/').pop(),
      vocab: tokenizer.vocabSize,
      phases,
      sampledPeakMiB: mib(peak - base),
      headerMs: Math.round(headerMs),
      tokenizerMs: Math.round(tokenizerMs),
    }),
  );
}
