/**
 * The tokenizer the engine uses: llama.cpp's tokenize/detokenize semantics around a wasm
 * tokenizer core. Special tokens are split out in TypeScript (partition.ts), the plain-text
 * fragments go to the wasm core, BOS/EOS are added per the vocab's flags, and decoding is done
 * here from the vocab (pieces.ts) so it needs no round trip into wasm.
 */
import { ContextOverflowError, TokenizerError } from '../errors.ts';
import type { PackedStrings } from '../gguf/packed-strings.ts';
import { StreamingDetokenizer, type DetokenizeOptions } from './detokenizer.ts';
import { SpecialTokenSplitter } from './partition.ts';
import { TokenPieces } from './pieces.ts';
import { Attr, type SpecialTokens, type TokenizerKind } from './special-tokens.ts';
import { TokenIndex } from './token-index.ts';
import type { WasmTokenizer } from './web-tokenizers.ts';

export interface EncodeOptions {
  /** Add BOS/EOS as the vocab asks (`add_bos_token`/`add_eos_token`). Default true. */
  addSpecial?: boolean;
  /** Recognise control-token texts such as "<|im_start|>" in the input. Default false. */
  parseSpecial?: boolean;
  /**
   * The context the tokens must fit with room for one more: text that surely fills it (by
   * {@link Tokenizer.minTokenCount}) is refused with ContextOverflowError before it is encoded,
   * since encoding costs memory in proportion to the text.
   */
  contextSize?: number;
}

export interface DecodeOptions {
  /** Render control tokens as their text. Default false (they vanish, as in llama.cpp). */
  special?: boolean;
  /**
   * Drop one leading space from the output. Default true for SentencePiece vocabs that add a
   * space prefix (so decode(encode(text)) gives text back) and for WordPiece; false for BPE.
   */
  stripLeadingSpace?: boolean;
}

export interface TokenizerParts {
  kind: TokenizerKind;
  /** The effective pre-tokenizer name (BPE), e.g. "llama3" when detected from the vocab. */
  pre: string | null;
  /** The vocabulary, packed: it stays resident as long as the tokenizer. */
  tokens: PackedStrings;
  special: SpecialTokens;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  chatTemplate: string | null;
  core: WasmTokenizer;
  /** Id the core returns for text it cannot encode when the vocab itself has no unknown token. */
  syntheticUnkId: number | null;
  /**
   * The most UTF-16 code units of input one token can stand for, or null when the vocabulary
   * gives no such bound (see {@link Tokenizer.minTokenCount}).
   */
  maxTokenChars?: number | null;
  warnings: string[];
}

export class Tokenizer {
  readonly kind: TokenizerKind;
  readonly pre: string | null;
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly eotId: number | null;
  readonly unkId: number | null;
  readonly padId: number | null;
  /** Every token that ends generation (EOS, EOT, <|im_end|>, <|eot_id|>, <end_of_turn>, …). */
  readonly eogIds: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly chatTemplate: string | null;
  /** Things in the metadata that were tolerated or guessed (missing pre-tokenizer, bad ids). */
  readonly warnings: readonly string[];

  private readonly tokens: PackedStrings;
  private readonly special: SpecialTokens;
  private readonly pieces: TokenPieces;
  private readonly splitter: SpecialTokenSplitter;
  private readonly addSpacePrefix: boolean;
  private readonly syntheticUnkId: number | null;
  private readonly maxTokenChars: number | null;
  private core: WasmTokenizer | null;

  constructor(parts: TokenizerParts) {
    this.kind = parts.kind;
    this.pre = parts.pre;
    this.tokens = parts.tokens;
    this.vocabSize = parts.tokens.length;
    this.special = parts.special;
    const ids = parts.special.ids;
    this.bosId = ids.bos ?? null;
    this.eosId = ids.eos ?? null;
    this.eotId = ids.eot ?? null;
    this.unkId = ids.unk ?? null;
    this.padId = ids.pad ?? null;
    this.eogIds = parts.special.eog;
    this.addBos = parts.addBos;
    this.addEos = parts.addEos;
    this.addSpacePrefix = parts.addSpacePrefix;
    this.chatTemplate = parts.chatTemplate;
    this.warnings = parts.warnings;
    this.core = parts.core;
    this.syntheticUnkId = parts.syntheticUnkId;
    this.maxTokenChars = parts.maxTokenChars ?? null;
    this.pieces = new TokenPieces(parts.tokens, parts.special.attrs, parts.kind);
    // the splitter reads the special tokens' texts only: a sparse array of those
    const specialTexts: string[] = [];
    for (const id of parts.special.partitionOrder) specialTexts[id] = parts.tokens.get(id);
    this.splitter = new SpecialTokenSplitter(parts.special.partitionOrder, specialTexts, parts.special.attrs);
  }

  /**
   * A lower bound on the number of tokens `text` encodes to, found without encoding it: no token
   * stands for more input than the longest token text. 0 when the vocabulary gives no bound
   * (WordPiece's normalizer drops characters; SentencePiece without byte fallback may turn a run
   * of unknown characters into one token).
   */
  minTokenCount(text: string): number {
    return this.maxTokenChars ? Math.ceil(text.length / this.maxTokenChars) : 0;
  }

  /** Text → token ids, as llama.cpp's llama_tokenize(text, add_special, parse_special). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const core = this.liveCore();
    if (options.contextSize !== undefined) {
      const atLeast = this.minTokenCount(text);
      if (atLeast >= options.contextSize) {
        throw new ContextOverflowError(
          `the prompt has ${text.length} characters, so at least ${atLeast} tokens; this model was loaded with a ${options.contextSize}-token context, which leaves no room to generate`,
          atLeast + 1,
          options.contextSize,
        );
      }
    }
    const addSpecial = options.addSpecial ?? true;
    const out: number[] = [];
    const ids = this.special.ids;
    const wpm = this.kind === 'wpm';
    if (addSpecial && (this.addBos || wpm)) {
      if (ids.bos === undefined)
        throw new TokenizerError('the vocabulary asks for a BOS token but defines none (tokenizer.ggml.bos_token_id)');
      out.push(ids.bos);
    }
    const fragments = this.splitter.split(text, options.parseSpecial ?? false);
    for (const f of fragments) {
      if (typeof f === 'number') {
        out.push(f);
        continue;
      }
      let encoded: Int32Array;
      try {
        encoded = core.encode(f);
      } catch (err) {
        // a wasm abort (Rust panic) leaves the module unusable; say so instead of a bare RuntimeError
        throw new TokenizerError(`the wasm tokenizer failed on ${JSON.stringify(f.slice(0, 40))}: ${String(err)}`, { cause: err });
      }
      for (let i = 0; i < encoded.length; i++) {
        const id = encoded[i]!;
        if (id === this.syntheticUnkId || id < 0 || id >= this.vocabSize) {
          throw new TokenizerError(
            `cannot encode ${JSON.stringify(f.slice(0, 40))}: it has characters the vocabulary lacks, and it has no byte fallback or unknown token`,
          );
        }
        out.push(id);
      }
    }
    if (addSpecial && wpm) {
      if (ids.sep === undefined)
        throw new TokenizerError('WordPiece vocabulary has no separator token (tokenizer.ggml.seperator_token_id)');
      out.push(ids.sep);
    } else if (addSpecial && this.addEos) {
      if (ids.eos === undefined)
        throw new TokenizerError('the vocabulary asks for an EOS token but defines none (tokenizer.ggml.eos_token_id)');
      out.push(ids.eos);
    }
    return out;
  }

  /** Token ids → text. Bytes of all tokens are joined before UTF-8 decoding. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const special = options.special ?? false;
    const strip = options.stripLeadingSpace ?? (this.kind === 'wpm' || (this.kind === 'spm' && this.addSpacePrefix));
    const chunks: Uint8Array[] = [];
    let total = 0;
    let atStart = true;
    for (let i = 0; i < ids.length; i++) {
      let b = this.tokenBytes(ids[i]!, special);
      if (b.length === 0) continue;
      if (atStart && strip && b[0] === 0x20) b = b.subarray(1);
      atStart = false;
      chunks.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(all);
  }

  /** A detokenizer for generated tokens that never splits a UTF-8 character. */
  createStreamDecoder(options: DetokenizeOptions = {}): StreamingDetokenizer {
    return new StreamingDetokenizer(this, options);
  }

  /** The bytes token `id` stands for (control tokens are empty unless `special`). */
  tokenBytes(id: number, special = false): Uint8Array {
    this.checkId(id);
    return this.pieces.bytes(id, special);
  }

  /** The text of one token as llama.cpp's token_to_piece shows it (a partial character → U+FFFD). */
  tokenToPiece(id: number, options: { special?: boolean } = {}): string {
    return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(this.tokenBytes(id, options.special ?? true));
  }

  /** The raw vocabulary entry (e.g. "▁time", "Ġtime", "<0x0A>", "<|im_end|>"). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.tokens.get(id);
  }

  /** The id of a vocabulary entry, or undefined. */
  tokenId(text: string): number | undefined {
    return this.textToId().get(text);
  }

  isEog(id: number): boolean {
    return this.eogIds.has(id);
  }

  /** Control (or unknown) token: invisible in normal decoding, matched in text only with parseSpecial. */
  isControl(id: number): boolean {
    this.checkId(id);
    return (this.special.attrs[id]! & (Attr.Control | Attr.Unknown)) !== 0;
  }

  /** Release the wasm tokenizer. The object cannot encode afterwards (decoding still works). */
  dispose(): void {
    this.core?.dispose();
    this.core = null;
  }

  private idIndex: TokenIndex | null = null;
  private textToId(): TokenIndex {
    return (this.idIndex ??= new TokenIndex(this.tokens));
  }

  private liveCore(): WasmTokenizer {
    if (!this.core) throw new TokenizerError('tokenizer was disposed');
    return this.core;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    }
  }
}
