/**
 * Child process for load-memory.test.ts: reads one GGUF file's header and builds its tokenizer,
 * then prints one JSON line with the live JS memory (heap + ArrayBuffers, the bench's "peak JS heap
 * in load" measure) above the baseline: `peak` sampled after a forced GC at every read the parser
 * makes and after each step, `retained` with the parsed header and the tokenizer still held.
 * Run as: node --expose-gc --import ./src/node/register.js test/tokenizer/load-memory-probe.ts FILE
 */
import { readGGUF } from '../../src/gguf/reader.ts';
import type { ByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { loadWebTokenizers } from '../../src/tokenizer/web-tokenizers.ts';
import { collectGarbage, liveBytes, settleGc } from '../helpers/live-memory.ts';

await loadWebTokenizers(); // the wasm module is loaded once per process, not per model
const file = await FileByteSource.open(process.argv[2]!);
await settleGc();
const base = liveBytes();
let peak = 0;
const sample = () => {
  collectGarbage();
  peak = Math.max(peak, liveBytes() - base);
};
const sampled: ByteSource = {
  name: file.name,
  size: file.size,
  read(offset, length, signal) {
    sample();
    return file.read(offset, length, signal);
  },
};
const gguf = await readGGUF(sampled);
sample();
const tokenizer = await tokenizerFromGGUF(gguf);
await file.close();
await settleGc();
const retained = liveBytes() - base;
peak = Math.max(peak, retained);
process.stdout.write(
  JSON.stringify({ vocabSize: tokenizer.vocabSize, peak, retained, encoded: tokenizer.encode('Hello world').length }) + '\n',
);
