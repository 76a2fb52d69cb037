import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantizeFile, type OutputSink } from '../../src/cli/quantize.ts';
import { GGUFFormatError, QuantizeError } from '../../src/errors.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { NodeQuantizePool } from '../../src/quant/node-quantize-pool.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { haveShared, localModel, repoRoot, sharedPath } from '../helpers/fixtures.ts';
import { ggufHashes, loadModel, type GGUFHashes } from '../quant/helpers.ts';
import { expectCleanError, lowbit } from './lowbit-cli.ts';

// Oracles: files written by llama-quantize (llama.cpp c392e509, 2 threads) from the F32 (or
// Q8_0) files beside them; PROVENANCE.md gives each command. Our output must match byte for byte.

const dir = mkdtempSync(join(tmpdir(), 'lowbit-quantize-'));
const pool = new NodeQuantizePool(2);
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
let n = 0;
const outPath = () => join(dir, `out-${n++}.gguf`);
/** Files in the output directory other than finished outputs (temporaries left behind). */
const leftovers = () => readdirSync(dir).filter((f) => f.startsWith('.'));

describe.runIf(haveShared())('lowbit quantize is byte-identical to llama-quantize', () => {
  const trained = (name: string) => sharedPath('models/trained-here', name);
  const llama = () => trained('tinystories-llama-3M-F32.gguf');
  const bitnet = () => trained('tinystories-bitnet-3M-F32.gguf');
  const cases: [string, () => string, string, string, boolean?][] = [
    ['Q8_0', llama, 'tinystories-llama-3M-Q8_0.gguf', 'Q8_0'],
    ['Q4_0', llama, 'tinystories-llama-3M-Q4_0.gguf', 'Q4_0'],
    ['Q4_K_M', llama, 'tinystories-llama-3M-Q4_K_M.gguf', 'Q4_K_M'],
    ['Q2_K', llama, 'tinystories-llama-3M-Q2_K.gguf', 'Q2_K'],
    ['F16', llama, 'tinystories-llama-3M-F16.gguf', 'F16'],
    ['Q6_K (its default mix equals --pure)', llama, 'tinystories-llama-3M-Q6_K-pure.gguf', 'Q6_K'],
    ['--pure Q4_K', llama, 'tinystories-llama-3M-Q4_K-pure.gguf', 'Q4_K', true],
    ['--pure Q5_K', llama, 'tinystories-llama-3M-Q5_K-pure.gguf', 'Q5_K', true],
    ['--pure Q6_K', llama, 'tinystories-llama-3M-Q6_K-pure.gguf', 'Q6_K', true],
    ['TQ1_0', bitnet, 'tinystories-bitnet-3M-TQ1_0.gguf', 'TQ1_0'],
    ['TQ2_0', bitnet, 'tinystories-bitnet-3M-TQ2_0.gguf', 'TQ2_0'],
  ];
  for (const [label, input, oracle, type, pure] of cases) {
    it(label, async () => {
      const out = outPath();
      await quantizeFile(input(), out, { fileType: fileTypeByName(type), pure, runner: pool });
      expect(sha(out)).toBe(sha(trained(oracle)));
    });
  }

  it('--imatrix through the CLI: the tensors of llama-quantize --imatrix, and the matrix recorded as given', async () => {
    const out = outPath();
    const imatrix = 'test/fixtures/imatrix-3M/imatrix-3M.gguf'; // relative to the CLI's working directory
    const r = await lowbit('quantize', llama(), out, '--type', 'Q2_K', '--imatrix', imatrix, '--threads', '2');
    expect(r.code, r.stderr).toBe(0);
    const oracle = (
      JSON.parse(readFileSync(`${repoRoot}/test/fixtures/imatrix-3M/oracle-hashes.json`, 'utf8')) as Record<string, GGUFHashes>
    ).Q2_K!;
    const got = await ggufHashes(new Uint8Array(readFileSync(out)));
    expect(got.tensors).toEqual(oracle.tensors);
    const q = await loadModel(out);
    expect(q.file.get('quantize.imatrix.file')).toBe(imatrix);
    expect(q.file.get('quantize.imatrix.dataset')).toBe('heldout.txt');
    expect(q.file.get('quantize.imatrix.chunks_count')).toBe(40);
  });

  it('re-quantizes a Q8_0 input (--pure Q4_0 of TinyStories-656K)', async () => {
    const out = outPath();
    await quantizeFile(sharedPath('models/TinyStories-656K/TinyStories-656K-Q8_0.gguf'), out, {
      fileType: fileTypeByName('Q4_0'),
      pure: true,
      runner: pool,
    });
    expect(sha(out)).toBe(sha(sharedPath('models/derived-quantized/TinyStories-656K-Q4_0.gguf')));
  });
});

describe('lowbit quantize', () => {
  it.runIf(haveShared())(
    "I2_S writes the same tensor bytes as BitNet's converter (token_embd kept F32 here, as in that fixture)",
    async () => {
      const out = outPath();
      const source = sharedPath('models/trained-here/tinystories-bitnet-3M-F32.gguf');
      await quantizeFile(source, out, { fileType: fileTypeByName('I2_S'), tokenEmbeddingType: GGMLType.F32, runner: pool });
      const mine = await loadModel(out);
      const theirs = await loadModel(localModel('tinystories-bitnet-3M-I2_S.gguf'));
      expect(mine.file.get('general.file_type')).toBe(40);
      let i2s = 0;
      for (const t of theirs.file.tensors) {
        const m = mine.file.tensor(t.name)!;
        expect(m.typeName, t.name).toBe(t.typeName);
        expect(Buffer.compare(mine.raw(m), theirs.raw(t)), t.name).toBe(0);
        if (t.typeId === GGMLType.I2_S) i2s++;
      }
      expect(i2s).toBe(28);
    },
  );

  it('runs through the CLI with its own worker pool and prints a summary', async () => {
    const out = outPath();
    const r = await lowbit('quantize', localModel('stories260K.gguf'), out, '--type', 'Q6_K', '--threads', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Q6_K, .* tensors quantized/);
    const q = await loadModel(out);
    // 64-wide rows fall back from Q6_K to Q8_0, 172-wide ffn_down rows further to F16, as in llama-quantize.
    expect(q.file.tensor('blk.0.ffn_down.weight')!.typeName).toBe('F16');
    expect(q.file.tensor('blk.0.attn_q.weight')!.typeName).toBe('Q8_0');
    expect(leftovers()).toEqual([]);
  });

  it('an unknown type is a clean error and writes nothing', async () => {
    const out = outPath();
    expectCleanError(
      await lowbit('quantize', localModel('stories260K.gguf'), out, '--type', 'Q9_K'),
      /QuantizeError: unknown quantization type "Q9_K"/,
    );
    expect(readdirSync(dir)).not.toContain(out.split('/').pop());
  });

  it('--imatrix with a file that is not an importance matrix is a clean error and writes nothing', async () => {
    const junk = join(dir, 'junk.dat');
    writeFileSync(junk, new Uint8Array(3000).fill(0x7f));
    const out = outPath();
    const r = await lowbit('quantize', localModel('stories260K.gguf'), out, '--type', 'Q4_K_M', '--imatrix', junk);
    expectCleanError(r, /GGUFFormatError: .*junk\.dat: not an importance matrix \(legacy \.dat\): entry count/);
    expect(readdirSync(dir)).not.toContain(out.split('/').pop());
    expect(leftovers()).toEqual([]);
  });

  it('an input already quantized below the target is refused before anything is written', async () => {
    const out = outPath();
    await expect(
      quantizeFile(localModel('stories260K-Q4_0.gguf'), out, { fileType: fileTypeByName('Q6_K'), runner: pool }),
    ).rejects.toThrow('tensor "token_embd.weight" is already quantized below the target: Q5_0 has fewer bits than Q8_0');
    await expect(
      quantizeFile(localModel('stories260K-Q4_0.gguf'), out, { fileType: fileTypeByName('Q6_K'), runner: pool }),
    ).rejects.toBeInstanceOf(QuantizeError);
    expect(readdirSync(dir).filter((f) => f.includes(out.split('/').pop()!))).toEqual([]);
  });

  it('a full disk fails the run and leaves neither the output nor the temporary file', async () => {
    const out = outPath();
    let closed = false;
    const fullDisk = async (): Promise<OutputSink> => {
      let written = 0;
      return {
        async write(chunk) {
          written += chunk.length;
          if (written > 100_000) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        },
        async close() {
          closed = true;
        },
      };
    };
    // The failing sink stands in for the temporary file: create the real one too, so that its removal is checked.
    const openSink = async (path: string) => {
      writeFileSync(path, 'partial');
      return fullDisk();
    };
    await expect(
      quantizeFile(localModel('stories260K.gguf'), out, { fileType: fileTypeByName('Q6_K'), runner: pool, openSink }),
    ).rejects.toThrow(/ENOSPC/);
    expect(closed).toBe(true);
    expect(leftovers()).toEqual([]);
    expect(readdirSync(dir)).not.toContain(out.split('/').pop());
  });

  it('an interrupted run (Ctrl-C) removes its temporary file and writes no output', async () => {
    const out = outPath();
    const interrupt = new AbortController();
    await expect(
      quantizeFile(localModel('stories260K.gguf'), out, {
        fileType: fileTypeByName('Q6_K'),
        runner: pool,
        signal: interrupt.signal,
        onProgress: (done) => {
          if (done > 50_000) interrupt.abort();
        },
      }),
    ).rejects.toThrow(/abort/i);
    expect(leftovers()).toEqual([]);
    expect(readdirSync(dir)).not.toContain(out.split('/').pop());
  });

  it('an unreadable or malformed input is a clean error with no output', async () => {
    const out = outPath();
    expectCleanError(await lowbit('quantize', join(dir, 'missing.gguf'), out, '--type', 'Q8_0'), /ENOENT/);
    const garbage = join(dir, 'garbage.bin');
    writeFileSync(garbage, Buffer.alloc(4096, 7));
    await expect(quantizeFile(garbage, out, { fileType: fileTypeByName('Q8_0'), runner: pool })).rejects.toBeInstanceOf(GGUFFormatError);
    expect(readdirSync(dir).filter((f) => f.startsWith('out-') && f === out.split('/').pop())).toEqual([]);
    expect(leftovers()).toEqual([]);
  });
});
