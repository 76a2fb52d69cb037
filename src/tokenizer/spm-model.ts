/**
 * GGUF "llama" (SentencePiece) vocab → a serialized SentencePiece ModelProto for the wasm
 * SentencePiece in @mlc-ai/web-tokenizers.
 *
 * llama.cpp's SPM tokenizer is a port of SentencePiece's BPE encoder (bigram merges ranked by the
 * merged piece's score, ties broken leftmost-first, then re-segmentation and byte fallback), so
 * running SentencePiece itself on the same pieces reproduces it, including vocabularies whose
 * scores all tie (TinyStories-656K), which no merge-rank BPE can express.
 *
 * Where the two differ we configure SentencePiece to act like llama.cpp:
 * - llama.cpp may merge into any token text (control, user-defined, unused included), SentencePiece
 *   only into NORMAL/USER_DEFINED/UNUSED pieces and it re-splits UNUSED ones: so every token except
 *   the unknown token and the byte tokens is written as NORMAL.
 * - special tokens are split out of the text before this model runs (partition.ts), and llama.cpp
 *   adds the space prefix per fragment, which add_dummy_prefix does per encode call.
 * - no text normalization, no whitespace folding: identity normalizer, remove_extra_whitespaces off.
 */
import { ProtoWriter, varintSize } from './protobuf-writer.ts';
import { TokenType, type GGUFVocab } from './vocab.ts';

// SentencePiece piece types (ModelProto.SentencePiece.Type)
const SP_NORMAL = 1;
const SP_UNKNOWN = 2;
const SP_CONTROL = 3;
const SP_BYTE = 6;
// SentencePiece rejects pieces this long (kMaxPieceSize)
const MAX_PIECE_BYTES = 8000;

export interface SpmModel {
  proto: Uint8Array;
  /** All 256 `<0xNN>` pieces exist, so unknown characters fall back to bytes. */
  byteFallback: boolean;
  /** Id SentencePiece returns for characters it cannot encode. */
  unkId: number;
  /** True when the vocab had no unknown token and one was appended (id = vocab size). */
  syntheticUnk: boolean;
}

const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;

export function buildSentencePieceModel(vocab: GGUFVocab, unkId: number | undefined, addDummyPrefix: boolean): SpmModel {
  const { tokenTypes, scores } = vocab;
  const tokens = vocab.tokens.toArray();
  const n = tokens.length;
  const enc = new TextEncoder();

  // Which byte pieces exist (exact "<0xNN>" spelling SentencePiece expects, one per byte).
  const byteOwner = new Int32Array(256).fill(-1);
  for (let i = 0; i < n; i++) {
    if (tokenTypes[i] !== TokenType.Byte) continue;
    const m = BYTE_PIECE.exec(tokens[i]!);
    if (m) {
      const b = parseInt(m[1]!, 16);
      if (byteOwner[b] === -1) byteOwner[b] = i;
    }
  }
  const byteFallback = byteOwner.every((o) => o >= 0);

  let unk = unkId;
  if (unk === undefined) {
    const i = tokenTypes.indexOf(TokenType.Unknown);
    if (i >= 0) unk = i;
  }

  // llama.cpp's text→id map keeps the last of duplicate texts; earlier copies become unreachable.
  const lastIdOf = new Map<string, number>();
  for (let i = 0; i < n; i++) lastIdOf.set(tokens[i]!, i);

  const w = new ProtoWriter(n * 24 + 256);
  const writePiece = (text: Uint8Array, score: number, type: number) => {
    // SentencePiece { piece = 1 (string); score = 2 (float); type = 3 (enum) }
    const bodyLen = 1 + varintSize(text.length) + text.length + 5 + (type === SP_NORMAL ? 0 : 2);
    w.tag(1, 2);
    w.varint(bodyLen);
    w.bytesField(1, text);
    w.floatField(2, score);
    if (type !== SP_NORMAL) w.uintField(3, type);
  };

  for (let i = 0; i < n; i++) {
    const text = tokens[i]!;
    let bytes = enc.encode(text);
    let type = SP_NORMAL;
    if (i === unk) type = SP_UNKNOWN;
    else if (tokenTypes[i] === TokenType.Byte && BYTE_PIECE.test(text)) {
      type = byteFallback && byteOwner[parseInt(text.slice(3, 5), 16)] === i ? SP_BYTE : SP_CONTROL;
    }
    const unusable = bytes.length >= MAX_PIECE_BYTES || bytes.includes(0) || (type === SP_NORMAL && lastIdOf.get(text) !== i);
    if (type === SP_CONTROL || unusable) {
      // a reserved placeholder keeps the id slot without being matchable or clashing
      type = SP_CONTROL;
      bytes = enc.encode(`<lowbit:reserved:${i}>`);
    }
    writePiece(bytes, scores ? scores[i]! : 0, type);
  }
  let syntheticUnk = false;
  if (unk === undefined) {
    // SentencePiece requires exactly one UNKNOWN piece; ours gets the id just past the vocab
    unk = n;
    syntheticUnk = true;
    writePiece(enc.encode('<lowbit:unk>'), 0, SP_UNKNOWN);
  }

  // TrainerSpec (field 2): model_type = 3 (BPE = 2), vocab_size = 4, byte_fallback = 35, unk_id = 40
  const trainer = new ProtoWriter(64);
  trainer.uintField(3, 2);
  trainer.uintField(4, syntheticUnk ? n + 1 : n);
  trainer.boolField(35, byteFallback);
  trainer.uintField(40, unk);
  w.bytesField(2, trainer.finish());

  // NormalizerSpec (field 3): name = 1, add_dummy_prefix = 3, remove_extra_whitespaces = 4,
  // escape_whitespaces = 5 (proto2 defaults are true, so every flag is written explicitly)
  const norm = new ProtoWriter(64);
  norm.bytesField(1, enc.encode('identity'));
  norm.boolField(3, addDummyPrefix);
  norm.boolField(4, false);
  norm.boolField(5, true);
  w.bytesField(3, norm.finish());

  return { proto: w.finish(), byteFallback, unkId: unk, syntheticUnk };
}
