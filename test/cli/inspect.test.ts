/** `lowbit inspect` run as a real child process (node bin/lowbit.js), on good and broken files. */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGGUF } from '../../src/gguf/index.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { localModel, repoRoot } from '../helpers/fixtures.ts';
import { fieldAt, setU32 } from '../gguf/craft.ts';
import { expectCleanError, lowbit } from './lowbit-cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lowbit-inspect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function parsed(path: string) {
  const src = await FileByteSource.open(path);
  try {
    return await readGGUF(src);
  } finally {
    await src.close();
  }
}

describe('lowbit inspect', () => {
  it('prints architecture, hyper-parameters, tokenizer and tensor summary', async () => {
    const r = await lowbit('inspect', localModel('stories260K-Q4_0.gguf'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = r.stdout;
    expect(out).toMatch(/architecture\s+llama/);
    expect(out).toMatch(/file size\s+281,120 bytes/);
    expect(out).toMatch(/embedding_length\s+64\n/);
    expect(out).toMatch(/block_count\s+5\n/);
    expect(out).toMatch(/feed_forward_length\s+172\n/);
    expect(out).toMatch(/attention\.head_count\s+8\n/);
    expect(out).toMatch(/attention\.head_count_kv\s+4\n/);
    expect(out).toMatch(/layer_norm_rms_epsilon\s+0\.00001\n/);
    expect(out).toMatch(/vocab_size\s+512\n/);
    expect(out).toMatch(/model\s+llama\n/);
    expect(out).toMatch(/tokens\s+512\n/);
    expect(out).toMatch(/chat template\s+none/);
    const f = await parsed(localModel('stories260K-Q4_0.gguf'));
    expect(out).toContain(`tensors: ${f.tensors.length}, ${f.tensorBytes.toLocaleString('en-US')} bytes`);
    for (const type of ['F32', 'F16', 'Q4_0', 'Q5_0', 'Q8_0']) {
      const count = f.tensors.filter((t) => t.typeName === type).length;
      expect(out).toMatch(new RegExp(`\\n  ${type}\\s+${count}\\s`));
    }
    expect(out).not.toContain('blk.0.attn_q.weight'); // only with --tensors
  });

  it('--tensors lists every tensor', async () => {
    const r = await lowbit('inspect', '--tensors', localModel('tinystories-bitnet-3M-TQ1_0.gguf'));
    expect(r.code).toBe(0);
    const f = await parsed(localModel('tinystories-bitnet-3M-TQ1_0.gguf'));
    for (const t of f.tensors)
      expect(r.stdout).toMatch(new RegExp(`\\n  ${t.name.replaceAll('.', '\\.')}\\s+${t.typeName}\\s+${t.dims.join(' x ')}\\s`));
    expect(r.stdout).toMatch(/architecture\s+bitnet/);
  });

  it('--json gives full metadata (long arrays summarised) and the full tensor table', async () => {
    const path = localModel('tinystories-bitnet-3M-I2_S.gguf');
    const r = await lowbit('inspect', path, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const f = await parsed(path);
    expect(j.architecture).toBe(f.architecture);
    expect(j.fileSize).toBe(f.fileSize);
    expect(Object.keys(j.metadata)).toEqual([...f.metadata.keys()]);
    expect(j.metadata['tokenizer.ggml.tokens']).toEqual({
      type: 'ARRAY<STRING>',
      value: { itemType: 'STRING', length: 512, first: f.getStringArray('tokenizer.ggml.tokens')!.slice(0, 8) },
    });
    expect(j.metadata['general.architecture']).toEqual({ type: 'STRING', value: f.architecture });
    expect(j.tensors).toHaveLength(f.tensors.length);
    expect(j.tensors[3]).toEqual({
      name: f.tensors[3]!.name,
      type: f.tensors[3]!.typeName,
      typeId: f.tensors[3]!.typeId,
      dims: f.tensors[3]!.dims,
      offset: f.tensors[3]!.offset,
      absoluteOffset: f.tensors[3]!.absoluteOffset,
      elements: f.tensors[3]!.nElements,
      bytes: f.tensors[3]!.byteSize,
    });
    expect(j.tensorsByType.I2_S.count).toBe(f.tensors.filter((t) => t.typeName === 'I2_S').length);
    expect(j.tensorBytes).toBe(f.tensorBytes);
    expect(j.hyperparameters.block_count).toBe(f.getNumber('bitnet.block_count') ?? f.getNumber(f.archKey('block_count')));
  });

  it('a truncated file: exit 2 and one error line', async () => {
    const cut = join(tmp, 'cut.gguf');
    writeFileSync(cut, readFileSync(localModel('stories260K.gguf')).subarray(0, 100_000));
    expectCleanError(
      await lowbit('inspect', cut),
      /^error: GGUFFormatError: cut\.gguf: tensor ".+" offset at byte \d+: data .* runs past the end of the file/,
    );
    const cutHeader = join(tmp, 'cut-header.gguf');
    writeFileSync(cutHeader, readFileSync(localModel('stories260K.gguf')).subarray(0, 5000));
    expectCleanError(await lowbit('inspect', cutHeader), /^error: GGUFFormatError: cut-header\.gguf: truncated: .+ at byte \d+/);
  });

  it('corrupted files: bad magic, unknown tensor type', async () => {
    const bytes = new Uint8Array(readFileSync(localModel('stories260K-Q8_0.gguf')));
    const magic = join(tmp, 'magic.gguf');
    writeFileSync(magic, Buffer.concat([Buffer.from('GGML'), bytes.subarray(4)]));
    expectCleanError(await lowbit('inspect', magic), /^error: GGUFFormatError: magic\.gguf: magic at byte 0: bad magic "GGML"/);
    const typed = join(tmp, 'type.gguf');
    writeFileSync(typed, setU32(bytes.slice(), fieldAt(bytes, 'tensor_type', 0), 99));
    expectCleanError(
      await lowbit('inspect', typed),
      /^error: UnsupportedTensorTypeError: type\.gguf: tensor ".+" has unknown tensor type id 99/,
    );
  });

  it('a missing file or a directory: exit 2 and one error line', async () => {
    expectCleanError(await lowbit('inspect', join(tmp, 'nope.gguf')), /^error: ModelNotFoundError: no such file: .*nope\.gguf$/);
    expectCleanError(await lowbit('inspect', tmp), /^error: ModelNotFoundError: not a file: /);
  });

  it('usage: --help, no arguments, unknown command or option', async () => {
    const help = await lowbit('inspect', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: lowbit inspect <file\.gguf> \[--json\]/);
    const top = await lowbit('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Commands:\n\s+inspect\s/);
    const helpCmd = await lowbit('help', 'inspect');
    expect(helpCmd.stdout).toBe(help.stdout);
    expect((await lowbit()).code).toBe(2);
    expectCleanError(await lowbit('frobnicate'), /^error: unknown command "frobnicate"/);
    expectCleanError(await lowbit('inspect'), /^error: inspect takes exactly one model file/);
    expectCleanError(await lowbit('inspect', '--bogus', 'x.gguf'), /^error: Unknown option '--bogus'/);
    const v = await lowbit('--version');
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it('a path with spaces and a copy outside the repo work the same', async () => {
    const spaced = join(tmp, 'my model.gguf');
    copyFileSync(localModel('stories260K.gguf'), spaced);
    const r = await lowbit('inspect', spaced);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(spaced);
  });
});
