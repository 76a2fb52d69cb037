/**
 * Bad or unsupported tokenizer metadata gives typed errors naming the field, hostile vocab
 * contents never reach the wasm core in a form that would abort it, and every pre-tokenizer
 * rule lowbit knows compiles and runs in the wasm regex engine.
 */
import { describe, expect, test } from 'vitest';
import { ModelFormatError, TokenizerError } from '../../src/errors.ts';
import { BYTE_TO_CHAR } from '../../src/tokenizer/byte-level.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { supportedPreTokenizers } from '../../src/tokenizer/pre-tokenizers.ts';

/** A byte-level BPE vocab: the 256 byte characters plus a few merges. */
function tinyBpe(extra: Record<string, unknown> = {}): Map<string, unknown> {
  const tokens = [...BYTE_TO_CHAR, 'Ġt', 'he', 'Ġthe', '<|endoftext|>'];
  const types = Int32Array.from(tokens, (_, i) => (i === tokens.length - 1 ? 3 : 1));
  return new Map<string, unknown>(
    Object.entries({
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'gpt-2',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': types,
      'tokenizer.ggml.merges': ['Ġ t', 'h e', 'Ġt he'],
      'tokenizer.ggml.eos_token_id': tokens.length - 1,
      ...extra,
    }),
  );
}

/** A SentencePiece vocab with neither byte tokens nor an unknown token. */
function tinySpm(extra: Record<string, unknown> = {}): Map<string, unknown> {
  const tokens = ['<s>', '</s>', '▁', 'a', 'b', '▁a', 'ab', '▁ab'];
  return new Map<string, unknown>(
    Object.entries({
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': Float32Array.from(tokens, (_, i) => -i),
      'tokenizer.ggml.token_type': Int32Array.from(tokens, (_, i) => (i < 2 ? 3 : 1)),
      'tokenizer.ggml.bos_token_id': 0,
      'tokenizer.ggml.eos_token_id': 1,
      ...extra,
    }),
  );
}

describe('metadata errors name the field', () => {
  test.each([
    ['no tokenizer at all', new Map(), ModelFormatError, /tokenizer\.ggml\.model/],
    ['model without tokens', new Map([['tokenizer.ggml.model', 'gpt2']]), ModelFormatError, /tokenizer\.ggml\.tokens/],
    ['tokens not strings', tinyBpe({ 'tokenizer.ggml.tokens': [1, 2, 3] }), ModelFormatError, /tokenizer\.ggml\.tokens\[0\]/],
    [
      'token_type too short',
      tinyBpe({ 'tokenizer.ggml.token_type': new Int32Array(3) }),
      ModelFormatError,
      /tokenizer\.ggml\.token_type has 3 entries/,
    ],
    ['scores not numbers', tinySpm({ 'tokenizer.ggml.scores': ['x'] }), ModelFormatError, /tokenizer\.ggml\.scores/],
    ['merge without a space', tinyBpe({ 'tokenizer.ggml.merges': ['Ġt'] }), ModelFormatError, /tokenizer\.ggml\.merges\[0\]/],
    ['BPE without merges', tinyBpe({ 'tokenizer.ggml.merges': undefined }), ModelFormatError, /tokenizer\.ggml\.merges is missing/],
    ['bool flag of the wrong type', tinySpm({ 'tokenizer.ggml.add_bos_token': 'yes' }), ModelFormatError, /add_bos_token/],
    [
      'unsupported tokenizer kind',
      tinySpm({ 'tokenizer.ggml.model': 't5' }),
      TokenizerError,
      /tokenizer\.ggml\.model "t5" is not supported/,
    ],
    [
      'tokenizer kind named like an Object.prototype key',
      tinySpm({ 'tokenizer.ggml.model': 'constructor' }),
      TokenizerError,
      /tokenizer\.ggml\.model "constructor" is not supported/,
    ],
    [
      'unknown pre-tokenizer',
      tinyBpe({ 'tokenizer.ggml.pre': 'my-new-model' }),
      TokenizerError,
      /tokenizer\.ggml\.pre "my-new-model" is not supported/,
    ],
  ])('%s', async (_name, meta, errorClass, message) => {
    const p = tokenizerFromGGUF(meta as Map<string, unknown>);
    await expect(p).rejects.toThrow(errorClass);
    await expect(p).rejects.toThrow(message);
  });
});

describe('tolerated the way llama.cpp tolerates it', () => {
  test('special ids outside the vocabulary are ignored with a warning; 0xFFFFFFFF means none', async () => {
    const tok = await tokenizerFromGGUF(tinySpm({ 'tokenizer.ggml.eos_token_id': 999, 'tokenizer.ggml.padding_token_id': 0xffffffff }));
    expect(tok.eosId).toBe(2); // SPM default (2), which exists here
    expect(tok.padId).toBeNull();
    expect(tok.warnings.join('\n')).toMatch(/eos_token_id = 999 is outside the vocabulary/);
    tok.dispose();
  });

  test('merges naming tokens outside the vocab are dropped, not passed to the wasm core', async () => {
    const tok = await tokenizerFromGGUF(tinyBpe({ 'tokenizer.ggml.merges': ['Ġ t', 'x y', 'Ġt zz', 'h e', 'Ġt he', 'Ġ t'] }));
    expect(tok.warnings.join('\n')).toMatch(/3 merges/);
    expect(tok.encode(' the', { addSpecial: false })).toEqual([258]);
    tok.dispose();
  });

  test('hostile token strings (empty, duplicate, unpaired surrogate, NUL, 9000 bytes) build and encode', async () => {
    const tokens = ['<unk>', '<s>', '</s>', '', '▁a', '▁a', 'b\uD800', 'c\u0000', 'x'.repeat(9000), '▁', 'a', 'b', 'c'];
    const meta = tinySpm({
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': new Float32Array(tokens.length),
      'tokenizer.ggml.token_type': Int32Array.from(tokens, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1)),
      'tokenizer.ggml.unknown_token_id': 0,
      'tokenizer.ggml.bos_token_id': 1,
      'tokenizer.ggml.eos_token_id': 2,
    });
    const tok = await tokenizerFromGGUF(meta);
    expect(tok.warnings.join('\n')).toMatch(/empty token at index 3/);
    expect(tok.tokenText(3)).toBe('[EMPTY_3]');
    // duplicate "▁a": llama.cpp's text→id map keeps the last one
    expect(tok.encode('a', { addSpecial: false })).toEqual([5]);
    expect(tok.encode('a b c', { addSpecial: false })).toEqual([5, 9, 11, 9, 12]);
    tok.dispose();
  });

  test('an SPM vocab with neither byte fallback nor an unknown token refuses text it cannot spell', async () => {
    const tok = await tokenizerFromGGUF(tinySpm());
    expect(tok.encode('ab a', { addSpecial: true })).toEqual([0, 7, 5]);
    expect(() => tok.encode('abz')).toThrow(TokenizerError);
    expect(() => tok.encode('abz')).toThrow(/no byte fallback or unknown token/);
    tok.dispose();
  });
});

describe('every supported pre-tokenizer compiles in the wasm regex engine', () => {
  test.each(supportedPreTokenizers())('%s', async (pre) => {
    const tok = await tokenizerFromGGUF(tinyBpe({ 'tokenizer.ggml.pre': pre }));
    const text = "Hello the world's 12345 café <tag> 🚀 テスト 한국어\n\n  \t end. ";
    const ids = tok.encode(text, { addSpecial: false });
    expect(ids.length).toBeGreaterThan(10);
    expect(tok.decode(ids)).toBe(text);
    tok.dispose();
  });
});
