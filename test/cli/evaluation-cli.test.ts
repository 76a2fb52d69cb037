// lowbit perplexity / kl / imatrix (issue 12 items 2–4) as a user runs them: bad arguments and
// bad files are one-line errors before (or instead of) any GPU work, --json is one object, and
// imatrix writes a file llama.cpp's reader layout accepts, or nothing.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { UsageError } from '../../src/cli/errors.ts';
import { ChunkProgress } from '../../src/cli/evaluation.ts';
import { run as imatrix } from '../../src/cli/imatrix.ts';
import { run as kl } from '../../src/cli/kl.ts';
import { run as perplexity } from '../../src/cli/perplexity.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { readImatrix } from '../../src/quant/imatrix.ts';
import { demoModel, localModel } from '../helpers/fixtures.ts';
import { lowbit, type CliResult } from './lowbit-cli.ts';

/**
 * Exit 2, nothing on stdout, the error as the last stderr line and no stack trace. (Before it,
 * stderr holds the GPU adapter notice and whatever Dawn prints while probing drivers.)
 */
function expectEvaluationError(r: CliResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(new RegExp(`^error: ${pattern.source}`));
  expect(lines.filter((l) => l.startsWith('error: EvaluationError'))).toHaveLength(1);
  // No JavaScript stack (Dawn's probe warning has a C++ "at" line of its own).
  expect(r.stderr).not.toMatch(/\n\s+at .*\.[jt]s:\d+/);
  expect(r.stderr).not.toMatch(/internal error/);
}

const SLOW = 600_000;
let dir: string;
let story: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lowbit-eval-'));
  story = join(dir, 'story.txt');
  await writeFile(
    story,
    'Once upon a time, a little girl named Lily went to the park. She saw a big red ball and wanted to play with it. '.repeat(12),
  );
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('usage errors, before the model is opened', () => {
  const missing = '/nonexistent/model.gguf';
  test.each([
    ['perplexity', perplexity, [missing], /perplexity needs a text file: --file/],
    ['perplexity', perplexity, [missing, '-f', 'x', '--ctx', '3'], /--ctx must be at least 4 tokens/],
    ['perplexity', perplexity, [missing, '-f', 'x', '--ctx', '0x10'], /--ctx must be an integer/],
    ['perplexity', perplexity, [missing, '-f', 'x', '--chunks', '0'], /--chunks must be a positive integer/],
    ['perplexity', perplexity, [missing, '-f', 'x', '--bogus'], /Unknown option '--bogus'/],
    ['perplexity', perplexity, [], /exactly one model/],
    ['kl', kl, [missing, '-f', 'x'], /kl needs a base model and one to 16 quantized models/],
    ['kl', kl, [...Array<string>(18).fill(missing), '-f', 'x'], /kl needs a base model and one to 16 quantized models/],
    ['kl', kl, [missing, missing, '-f', 'x', '--activations', 'int4'], /--activations must be one of auto, f32, int8, ggml/],
    ['imatrix', imatrix, [missing, '-f', 'x', '--output-format', 'csv'], /--output-format must be gguf or dat/],
  ] as const)('%s %j', async (_name, cmd, args, message) => {
    const err = await cmd([...args]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
  });

  test('a text file that is not UTF-8, or not a file', async () => {
    const bin = join(dir, 'bin.txt');
    await writeFile(bin, Uint8Array.of(0x4f, 0xff, 0xfe, 0x00));
    await expect(perplexity(['/nonexistent/model.gguf', '-f', bin])).rejects.toThrow(/is not UTF-8 text/);
    await expect(perplexity(['/nonexistent/model.gguf', '-f', dir])).rejects.toThrow(/not a file/);
  });
});

test('progress: a bar redrawn in place on a terminal, ended by a newline; nothing on a pipe', () => {
  const written: string[] = [];
  const out = { write: (s: string) => (written.push(s), true) } as unknown as NodeJS.WriteStream;
  const tty = new ChunkProgress('perplexity', 4, out, true);
  tty.update(1, ', PPL 5.2000');
  tty.update(4);
  tty.done();
  // eslint-disable-next-line no-control-regex -- the bar's redraw is an escape sequence
  expect(written[0]).toMatch(/^\r\x1b\[2Kperplexity \[#{6}-{18}\] 1\/4 chunks, PPL 5\.2000, ETA \d+:\d\d$/);
  expect(written[1]).toMatch(/\[#{24}\] 4\/4 chunks$/);
  expect(written[2]).toBe('\n');
  written.length = 0;
  const pipe = new ChunkProgress('kl', 4, out, false);
  pipe.update(2);
  pipe.done();
  expect(written).toEqual([]);
});

describe('on the GPU (the 3M demo model)', () => {
  test(
    'perplexity --json: one object; too little text for two chunks is a clean error',
    async () => {
      const r = await lowbit('perplexity', demoModel, '-f', story, '-c', '64', '--chunks', '2', '--json', '--limits', 'default');
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, number>;
      expect(out.ctx).toBe(64);
      expect(out.chunks).toBe(2);
      expect(out.scoredTokens).toBe(2 * 31);
      expect(out.ppl).toBeGreaterThan(1);
      expect(out.ppl).toBeLessThan(20); // a story model on a story
      expect(out.ppl).toBeCloseTo(Math.exp(out.nll!), 9);

      const short = await lowbit('perplexity', demoModel, '-f', story, '-c', '4096', '--limits', 'default');
      expectEvaluationError(short, /EvaluationError: the text has \d+ tokens; a context of 4096 needs at least 8192/);
    },
    SLOW,
  );

  test(
    'imatrix -o: a GGUF imatrix of every block linear, counts = chunks × ctx; a failed run leaves no file',
    async () => {
      const out = join(dir, 'im.gguf');
      const r = await lowbit('imatrix', demoModel, '-f', story, '-c', '64', '--chunks', '2', '-o', out, '--json', '--limits', 'default');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ output: out, format: 'gguf', chunks: 2, entries: 28, tokens: 128 });
      const m = await readImatrix(new BufferByteSource(await readFile(out), out));
      expect(m.entries.size).toBe(28);
      expect(m.chunkCount).toBe(2);
      expect(m.chunkSize).toBe(64);
      expect(m.datasets).toEqual(['story.txt']);
      for (const e of m.entries.values()) {
        expect(e.counts).toEqual([128]);
        expect(e.sum2.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
      }
      expect(m.entries.get('blk.0.ffn_down.weight')!.sum2.length).toBe(768);

      const none = join(dir, 'none.gguf');
      const bad = await lowbit('imatrix', demoModel, '-f', story, '-c', '4096', '-o', none, '--limits', 'default');
      expectEvaluationError(bad, /EvaluationError/);
      expect(existsSync(none)).toBe(false);
    },
    SLOW,
  );

  test(
    'kl with several models: each report is what a run against that model alone gives; --activations reaches the engine',
    async () => {
      const [base, q8, q4] = ['stories260K.gguf', 'stories260K-Q8_0.gguf', 'stories260K-Q4_0.gguf'].map(localModel);
      const args = ['-f', story, '-c', '64', '--chunks', '2', '--json', '--limits', 'default'];
      const reports = (r: CliResult) => {
        expect(r.code, r.stderr).toBe(0);
        return r.stdout
          .trimEnd()
          .split('\n')
          .map((line) => {
            const { seconds, ...rest } = JSON.parse(line) as { seconds: number } & Record<string, unknown>;
            expect(seconds).toBeGreaterThan(0);
            return rest as { quant: string; ppl: { base: number; quant: number }; kld: { mean: number } };
          });
      };
      const both = reports(await lowbit('kl', base!, q8!, q4!, ...args, '--activations', 'ggml'));
      expect(both.map((r) => r.quant)).toEqual([q8, q4]);
      // The base is evaluated once for both, in step with each: the same numbers as alone.
      const [q4Alone] = reports(await lowbit('kl', base!, q4!, ...args, '--activations', 'ggml'));
      expect(both[1]).toEqual(q4Alone);
      expect(both[0]!.kld.mean).toBeLessThan(both[1]!.kld.mean);
      // f32 activations: the F32 base is not rounded in either mode, the Q4_0 model's inputs are only in ggml's.
      const [q4F32] = reports(await lowbit('kl', base!, q4!, ...args, '--activations', 'f32'));
      expect(q4F32!.ppl.base).toBeCloseTo(q4Alone!.ppl.base, 9);
      expect(q4F32!.kld.mean).not.toBe(q4Alone!.kld.mean);
    },
    SLOW,
  );
});
