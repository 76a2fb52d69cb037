/**
 * Special tokens (parse_special, user-defined tokens, BOS/EOS, end-of-generation sets, Phi-3's
 * right-strip), decoding of control tokens, and the streaming detokenizer.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { TokenizerError } from '../../src/errors.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { tokenizerFromFile } from './helpers.ts';

describe('SentencePiece (stories260K)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await tokenizerFromFile(localModel('stories260K.gguf'));
  });
  afterAll(() => tok.dispose());

  test('BOS per add_bos_token, no EOS; parse_special decides whether "<s>" is the control token', () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.addBos).toBe(true);
    expect(tok.addEos).toBe(false);
    const plain = tok.encode('Hi', { addSpecial: false });
    expect(tok.encode('Hi')).toEqual([1, ...plain]);
    expect(tok.encode('<s>Hi', { addSpecial: false, parseSpecial: true })).toEqual([1, ...plain]);
    const literal = tok.encode('<s>Hi', { addSpecial: false, parseSpecial: false });
    expect(literal).not.toContain(1);
    expect(tok.decode(literal)).toBe('<s>Hi');
    expect(tok.encode('', { addSpecial: true })).toEqual([1]);
    expect(tok.encode('', { addSpecial: false })).toEqual([]);
  });

  test('control tokens vanish from decoded text unless asked for', () => {
    const ids = [1, ...tok.encode('Hi', { addSpecial: false }), 2];
    expect(tok.decode(ids)).toBe('Hi');
    expect(tok.decode(ids, { special: true })).toBe('<s> Hi</s>');
    expect(tok.tokenToPiece(1)).toBe('<s>');
    expect(tok.tokenToPiece(1, { special: false })).toBe('');
    expect(tok.tokenToPiece(tok.tokenId('<0x0A>')!)).toBe('\n');
    expect(tok.isControl(1)).toBe(true);
    expect(tok.isEog(2)).toBe(true);
    expect([...tok.eogIds]).toEqual([2]);
  });

  test('byte-fallback emoji: the streaming decoder holds partial UTF-8 until the character is whole', () => {
    const ids = tok.encode('Hi 🚀!', { addSpecial: false });
    const bytes = ['<0xF0>', '<0x9F>', '<0x9A>', '<0x80>'].map((t) => tok.tokenId(t)!);
    const at = ids.indexOf(bytes[0]!);
    expect(ids.slice(at, at + 4)).toEqual(bytes);
    const stream = tok.createStreamDecoder({ stripLeadingSpace: true });
    const pieces = ids.map((id) => stream.push(id));
    expect(pieces.slice(at, at + 3)).toEqual(['', '', '']); // F0 9F 9A: no character yet
    expect(pieces[at + 3]).toBe('🚀');
    expect(pieces.join('') + stream.flush()).toBe('Hi 🚀!');
    // a stream cut inside a character ends with U+FFFD instead of broken bytes
    const cut = tok.createStreamDecoder();
    expect(cut.push(bytes[0]!) + cut.push(bytes[1]!)).toBe('');
    expect(cut.flush()).toBe('\uFFFD');
    // a stray continuation byte is replaced right away, not held
    const stray = tok.createStreamDecoder();
    expect(stray.push(bytes[3]!)).toBe('\uFFFD');
  });

  test('random text survives encode → decode and encode → streamed decode', () => {
    // SentencePiece writes a space as U+2581 and decodes every U+2581 back as a space (llama.cpp's
    // token_to_piece too), so a literal U+2581 in the text cannot come back: fast-check found "▁".
    const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\u2581'));
    fc.assert(
      fc.property(text, (s) => {
        const ids = tok.encode(s);
        const stream = tok.createStreamDecoder({ stripLeadingSpace: true });
        const streamed = ids.map((id) => stream.push(id)).join('') + stream.flush();
        return tok.decode(ids) === s && streamed === s;
      }),
      { numRuns: 300 },
    );
  });

  test('bad ids are typed errors; a disposed tokenizer refuses to encode', async () => {
    expect(() => tok.decode([512])).toThrow(TokenizerError);
    expect(() => tok.tokenToPiece(-1)).toThrow(/outside the vocabulary/);
    const t2 = await tokenizerFromFile(localModel('stories260K.gguf'));
    t2.dispose();
    expect(() => t2.encode('x')).toThrow(TokenizerError);
    expect(t2.decode([1, 403])).toBe('Once');
  });
});

describe('Llama 3 vocabulary without pre (BitNet b1.58 2B4T layout)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await tokenizerFromGGUF(await tokenizerMetadata('bitnet', 128256));
  });
  afterAll(() => tok.dispose());

  test('BOS added by default for the llama3 family; header tokens parsed only with parse_special', () => {
    const header = '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>';
    const ids = tok.encode(header, { addSpecial: true, parseSpecial: true });
    expect(ids[0]).toBe(128000);
    expect(ids[1]).toBe(128006);
    expect(ids.at(-1)).toBe(128009);
    expect(ids).toContain(128007);
    const literal = tok.encode(header, { addSpecial: false, parseSpecial: false });
    expect(literal.some((id) => id >= 128000)).toBe(false);
    expect(tok.decode(literal)).toBe(header);
    expect(tok.decode(ids)).toBe('user\n\nHi');
    expect(tok.decode(ids, { special: true })).toBe('<|begin_of_text|>' + header);
  });

  test('end of generation: <|end_of_text|>, <|eom_id|>, <|eot_id|>', () => {
    expect([...tok.eogIds].sort()).toEqual([128001, 128008, 128009]);
    expect(tok.eotId).toBe(128009);
  });

  test('random text round-trips through the byte-level vocab', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const wellFormed = s.replace(/[\uD800-\uDFFF]/g, '\uFFFD');
        return tok.decode(tok.encode(wellFormed)) === wellFormed;
      }),
      { numRuns: 300 },
    );
  });
});

describe('Qwen3 vocabulary (ChatML control tokens, user-defined <think>)', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await tokenizerFromGGUF(await tokenizerMetadata('qwen3', 151936));
  });
  afterAll(() => tok.dispose());

  test('ChatML markers are single tokens only with parse_special; <think> (user-defined) always is', () => {
    const body = tok.encode('user\nHello', { addSpecial: false });
    expect(tok.encode('<|im_start|>user\nHello<|im_end|>', { addSpecial: false, parseSpecial: true })).toEqual([151644, ...body, 151645]);
    expect(tok.encode('<|im_start|>', { addSpecial: false })).not.toContain(151644);
    const think = tok.encode('<think>\nok\n</think>', { addSpecial: false, parseSpecial: false });
    expect(think[0]).toBe(151667);
    expect(think.at(-1)).toBe(151668);
    // no BOS for Qwen (add_bos_token false)
    expect(tok.encode('Hello')).toEqual(tok.encode('Hello', { addSpecial: false }));
    // user-defined tokens render as text even in normal decoding; control tokens do not
    expect(tok.decode([151644, ...body, 151667])).toBe('user\nHello<think>');
  });

  test('end of generation: <|im_end|>, <|endoftext|> and the FIM pad/repo/file-sep tokens', () => {
    // plus Qwen's ordinary BPE token "</s>": llama.cpp (v0.5.0) lists that text as end-of-generation
    // for every vocab (it was added for PaddleOCR), and we follow llama.cpp
    const eog = new Set(
      ['<|im_end|>', '<|endoftext|>', '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>', '</s>'].map((t) => tok.tokenId(t)!),
    );
    expect(new Set(tok.eogIds)).toEqual(eog);
    expect(tok.eosId).toBe(151645);
  });
});

describe.skipIf(!haveShared())('per-vocab special-token rules (shared vocab GGUFs)', () => {
  test('Phi-3: special tokens strip the whitespace to their right', async () => {
    const tok = await tokenizerFromFile(sharedPath('tokenizer', 'ggml-vocab-phi-3.gguf'));
    const hi = tok.encode('Hi', { addSpecial: false });
    expect(tok.encode('<|user|>\nHi<|end|>\n<|assistant|>', { addSpecial: false, parseSpecial: true })).toEqual([
      32010,
      ...hi,
      32007,
      32001,
    ]);
    // "</s>" is user-defined in this GGUF, but llama.cpp's end-of-generation texts make it a control
    // token, so (as in llama.cpp) only parse_special splits it out
    expect(tok.encode('a</s>b', { addSpecial: false, parseSpecial: true })).toContain(2);
    expect(tok.encode('a</s>b', { addSpecial: false, parseSpecial: false })).not.toContain(2);
    expect(tok.eogIds.has(32007) && tok.eogIds.has(32000)).toBe(true);
    tok.dispose();
  });

  test('DeepSeek: 2,400 user-defined tokens are split out of long text quickly', async () => {
    const tok = await tokenizerFromFile(sharedPath('tokenizer', 'ggml-vocab-deepseek-llm.gguf'));
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(1000) + 'Führer';
    const t0 = performance.now();
    const ids = tok.encode(text, { addSpecial: false });
    const ms = performance.now() - t0;
    expect(ids).toContain(100014); // "ü", user-defined
    expect(tok.decode(ids)).toBe(text);
    expect(ms).toBeLessThan(3000);
    tok.dispose();
  });
});
