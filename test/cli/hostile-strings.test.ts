/**
 * Strings from a GGUF file or a file name reach the terminal only escaped, and keys that collide
 * with Object.prototype names survive. Attack: a model whose name, architecture, tokenizer names,
 * metadata keys and values and tensor names carry ESC/CSI/OSC sequences (retitle the terminal,
 * clear the screen, move the cursor to overwrite earlier lines, C1 CSI U+009B).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GGUFArray, GGUFValueType, readGGUF, writeGGUFToBytes } from '../../src/gguf/index.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { importPath } from '../../src/storage/import-node.ts';
import { escapeControl, terminalJson } from '../../src/cli/terminal-text.ts';
import { fieldAt, setU32 } from '../gguf/craft.ts';
import { expectCleanError, lowbit, type CliResult } from './lowbit-cli.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lowbit-hostile-strings-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Anything a terminal could act on: C0 controls but newline, DEL, C1 controls. */
// eslint-disable-next-line no-control-regex -- the test looks for raw control characters
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

const ARCH = 'llama\x1b]0;pwned\x07';
const NAME = '\x1b[2Jclean\x9b31mname\r\x1b[1A';
const TENSOR = 'blk.0\x1b[1A\x9b2K.weight';
const EVIL_KEY = 'evil.\x1b[2K\x7fkey\nforged  line';
const EVIL_VALUE = '\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07\u0085';
const PROTO_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

const spec = {
  metadata: [
    { key: 'general.architecture', value: ARCH },
    { key: 'general.name', value: NAME },
    { key: `${ARCH}.context_length`, type: GGUFValueType.UINT32, value: 64 },
    { key: `${ARCH}.\x9bevil`, value: EVIL_VALUE },
    { key: 'tokenizer.ggml.model', value: 'gpt2\x1b[31m' },
    { key: 'tokenizer.ggml.pre', value: '\x9b2J' },
    { key: 'tokenizer.ggml.tokens', value: new GGUFArray(GGUFValueType.STRING, ['\x1b[5m', 'a']) },
    { key: EVIL_KEY, value: EVIL_VALUE },
    ...PROTO_KEYS.map((key, i) => ({ key, type: GGUFValueType.UINT32, value: i + 1 })),
    { key: `${ARCH}.__proto__`, type: GGUFValueType.UINT32, value: 7 },
  ],
  tensors: [{ name: TENSOR, dims: [8], type: GGMLType.F32, data: new Uint8Array(32) }],
};
const bytes = await writeGGUFToBytes(spec);
const path = join(tmp, 'evil.gguf');
writeFileSync(path, bytes);

function expectNoRawControl(r: CliResult): void {
  const bad = (r.stdout + r.stderr).match(RAW_CONTROL);
  expect(bad, `raw control character ${JSON.stringify(bad?.[0])} in output`).toBeNull();
}

describe('hostile strings in CLI output', () => {
  it('inspect (text, --tensors) escapes every control character from the file', async () => {
    for (const args of [[path], [path, '--tensors']]) {
      const r = await lowbit('inspect', ...args);
      expect(r.code, r.stderr).toBe(0);
      expectNoRawControl(r);
      expect(r.stdout).toContain(escapeControl(NAME));
      expect(r.stdout).toContain('\\x1b]0;pwned\\x07');
      expect(r.stdout).toContain('\\x9b2J');
      // A newline inside a key cannot forge a line of its own.
      expect(r.stdout.split('\n').some((l) => l.startsWith('forged'))).toBe(false);
    }
    const withTensors = await lowbit('inspect', path, '--tensors');
    expect(withTensors.stdout).toContain(escapeControl(TENSOR));
  });

  it('inspect --json escapes C1 and DEL too, and parses back to the exact strings and keys', async () => {
    const r = await lowbit('inspect', path, '--json');
    expect(r.code, r.stderr).toBe(0);
    expectNoRawControl(r);
    expect(r.stdout).toContain('\\u009b');
    const j = JSON.parse(r.stdout);
    expect(j.name).toBe(NAME);
    expect(j.architecture).toBe(ARCH);
    expect(j.tensors[0].name).toBe(TENSOR);
    expect(j.metadata[EVIL_KEY]).toEqual({ type: 'STRING', value: EVIL_VALUE });
    expect(Object.keys(j.metadata)).toEqual(spec.metadata.map((m) => m.key));
    // JSON.parse makes "__proto__" an own property: the key was in the output.
    PROTO_KEYS.forEach((key, i) => {
      expect(Object.hasOwn(j.metadata, key), key).toBe(true);
      expect(j.metadata[key]).toEqual({ type: 'UINT32', value: i + 1 });
    });
    expect(Object.hasOwn(j.hyperparameters, '__proto__')).toBe(true);
    expect(j.hyperparameters.context_length).toBe(64);
  });

  it('the reader keeps prototype-named keys as ordinary entries and pollutes nothing', async () => {
    const f = await readGGUF(new BufferByteSource(bytes, 'evil.gguf'));
    PROTO_KEYS.forEach((key, i) => {
      expect(f.has(key)).toBe(true);
      expect(f.getNumber(key)).toBe(i + 1);
    });
    expect(f.tensor(TENSOR)?.dims).toEqual([8]);
    expect(f.tensor('__proto__')).toBeUndefined();
    expect(f.tensor('constructor')).toBeUndefined();
    expect(({} as Record<string, unknown>).toString).toBe(Object.prototype.toString);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('error lines quote file strings escaped', async () => {
    const typed = bytes.slice();
    setU32(typed, fieldAt(typed, 'tensor_type', 0), 99);
    const p = join(tmp, 'evil-type.gguf');
    writeFileSync(p, typed);
    const r = await lowbit('inspect', p);
    expectCleanError(r, /^error: UnsupportedTensorTypeError: .*blk\.0\\x1b\[1A\\x9b2K\.weight.* unknown tensor type id 99/);
    expectNoRawControl(r);
    // Arguments are quoted in errors too.
    const arg = await lowbit('\x1b]0;pwned\x07');
    expectCleanError(arg, /^error: unknown command "\\x1b\]0;pwned\\x07"/);
    expectNoRawControl(arg);
  });

  it('ls and rm escape imported file names and model names', async () => {
    const store = join(tmp, 'store');
    const hostileFile = join(tmp, 'm\x1b[2J\x9bq.gguf');
    writeFileSync(hostileFile, bytes);
    await importPath(new FsModelStore(store), hostileFile, { name: 'evil-model' });
    const ls = await lowbit('ls', '--store', store);
    expect(ls.code, ls.stderr).toBe(0);
    expectNoRawControl(ls);
    expect(ls.stdout).toContain('m\\x1b[2J\\x9bq.gguf');
    const json = await lowbit('ls', '--json', '--store', store);
    expectNoRawControl(json);
    expect(JSON.parse(json.stdout)[0].origin.fileName).toBe('m\x1b[2J\x9bq.gguf');
    const rm = await lowbit('rm', 'evil-model', '--store', store);
    expect(rm.code, rm.stderr).toBe(0);
    expectNoRawControl(rm);
  });
});

describe('terminal-text helpers', () => {
  it('escapeControl shows C0, DEL and C1 as \\xNN and keeps newline and tab only when asked', () => {
    expect(escapeControl('a\x1b[2Jb\x7f\x9b\u0085\x00')).toBe('a\\x1b[2Jb\\x7f\\x9b\\x85\\x00');
    expect(escapeControl('l1\nl2\tx\r')).toBe('l1\\x0al2\\x09x\\x0d');
    expect(escapeControl('l1\nl2\tx\r\x1b', true)).toBe('l1\nl2\tx\\x0d\\x1b');
    expect(escapeControl('héllo wörld 日本 🙂 Ġ')).toBe('héllo wörld 日本 🙂 Ġ');
  });

  it('terminalJson escapes DEL and C1 inside strings and round-trips', () => {
    const v = { s: '\x7f\x80\x9b\x9f\xa0é\x1b', [EVIL_KEY]: 1 };
    const text = terminalJson(v, 2);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('\\u007f\\u0080\\u009b\\u009f\xa0é\\u001b');
    expect(JSON.parse(text)).toEqual(v);
  });
});
