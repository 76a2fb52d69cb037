/**
 * Child process for header-memory.test.ts: parses one GGUF file and prints one JSON line with the
 * outcome and the live JS memory (heap + ArrayBuffers) above the baseline: `peak` sampled after a
 * forced GC at every read the parser makes, `retained` after parsing with the result still held.
 * Run as: node --expose-gc --import ./src/node/register.js test/gguf/header-memory-probe.ts FILE
 */
import { readGGUF } from '../../src/gguf/reader.ts';
import type { ByteSource } from '../../src/io/byte-source.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { collectGarbage, liveBytes, settleGc } from '../helpers/live-memory.ts';

const file = await FileByteSource.open(process.argv[2]!);
await settleGc();
const base = liveBytes();
let peak = 0;
const sampled: ByteSource = {
  name: file.name,
  size: file.size,
  read(offset, length, signal) {
    collectGarbage();
    peak = Math.max(peak, liveBytes() - base);
    return file.read(offset, length, signal);
  },
};
let result: Record<string, unknown>;
let parsed: unknown;
try {
  const gguf = await readGGUF(sampled);
  parsed = gguf;
  result = { ok: true, headerSize: gguf.headerSize };
} catch (e) {
  const err = e as Error & { offset?: number };
  result = { ok: false, error: err.name, message: err.message, offset: err.offset };
}
await file.close();
await settleGc();
const retained = liveBytes() - base;
peak = Math.max(peak, retained);
process.stdout.write(JSON.stringify({ ...result, peak, retained, kept: parsed !== undefined }) + '\n');
