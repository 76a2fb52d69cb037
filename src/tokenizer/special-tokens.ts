/**
 * Token attributes and special-token bookkeeping, following llama.cpp's vocab loader: which tokens
 * are control / user-defined / unknown, which end generation, the BOS/EOS defaults per tokenizer
 * kind, and the text-based detection of EOT/FIM tokens that older GGUFs do not declare.
 */
import type { TokenIndex } from './token-index.ts';
import { TokenType, type GGUFVocab, type SpecialIdName } from './vocab.ts';

/** llama.cpp's llama_token_attr bits. */
export const Attr = {
  Unknown: 1 << 0,
  Unused: 1 << 1,
  Normal: 1 << 2,
  Control: 1 << 3,
  UserDefined: 1 << 4,
  Byte: 1 << 5,
  Normalized: 1 << 6,
  LStrip: 1 << 7,
  RStrip: 1 << 8,
  SingleWord: 1 << 9,
} as const;

export type TokenizerKind = 'spm' | 'bpe' | 'wpm';

export interface SpecialTokens {
  attrs: Uint16Array;
  ids: Partial<Record<SpecialIdName, number>>;
  /** End-of-generation ids: EOS, EOT, EOM, FIM pad/rep/sep and the usual end-of-turn texts. */
  eog: Set<number>;
  /**
   * Tokens matched in raw text before the tokenizer proper runs (control, user-defined and
   * unknown; control and unknown only when parse_special is on), longest UTF-8 text first.
   */
  partitionOrder: number[];
}

const typeToAttr: Record<number, number> = {
  [TokenType.Undefined]: 0,
  [TokenType.Normal]: Attr.Normal,
  [TokenType.Unknown]: Attr.Unknown,
  [TokenType.Control]: Attr.Control,
  [TokenType.UserDefined]: Attr.UserDefined,
  [TokenType.Unused]: Attr.Unused,
  [TokenType.Byte]: Attr.Byte,
};

/** Default special ids when the metadata names none (llama.cpp's per-kind defaults). */
const DEFAULT_IDS: Record<TokenizerKind, Partial<Record<SpecialIdName, number>>> = {
  spm: { bos: 1, eos: 2, unk: 0 },
  // 11 is Falcon's <|endoftext|>: llama.cpp keeps this historical default for BPE vocabularies
  bpe: { bos: 11, eos: 11 },
  wpm: { bos: 101, unk: 100, sep: 102, pad: 0 },
};

// Texts llama.cpp recognises when the metadata does not name the id (first match wins here;
// llama.cpp's own pick among several present texts depends on hash-map order).
const EOT_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '<｜end▁of▁sentence｜>',
  '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_TEXTS: [SpecialIdName, string[]][] = [
  ['fimPre', ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>']],
  ['fimSuf', ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>']],
  ['fimMid', ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>']],
  ['fimPad', ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']],
  ['fimRep', ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']],
  ['fimSep', ['<|file_sep|>']],
];
/** Texts that end generation whatever the metadata says. */
const EOG_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
];

export function buildSpecialTokens(vocab: GGUFVocab, kind: TokenizerKind, tokenToId: TokenIndex): SpecialTokens {
  const n = vocab.tokens.length;
  const attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) attrs[i] = typeToAttr[vocab.tokenTypes[i]!] ?? 0;

  const ids: Partial<Record<SpecialIdName, number>> = {};
  for (const [name, id] of Object.entries(DEFAULT_IDS[kind]) as [SpecialIdName, number][]) {
    if (id < n) ids[name] = id;
  }
  Object.assign(ids, vocab.ids);

  const markControl = (id: number) => {
    attrs[id] = attrs[id]! | Attr.Control;
  };
  const detect = (name: SpecialIdName, texts: string[]) => {
    if (ids[name] !== undefined) return;
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id !== undefined) {
        ids[name] = id;
        markControl(id);
        return;
      }
    }
  };
  detect('eot', EOT_TEXTS);
  detect('eom', EOM_TEXTS);
  for (const [name, texts] of FIM_TEXTS) detect(name, texts);

  const eog = new Set<number>();
  for (const name of ['fimPad', 'fimRep', 'fimSep'] as const) if (ids[name] !== undefined) eog.add(ids[name]);
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id === undefined) continue;
    eog.add(id);
    markControl(id);
  }
  for (const name of ['eos', 'eot', 'eom'] as const) if (ids[name] !== undefined) eog.add(ids[name]);

  // o200k_harmony / solar-open: "<|end|>" ends a message there, not the generation
  const has = (t: string) => {
    const id = tokenToId.get(t);
    return id !== undefined && eog.has(id);
  };
  const endId = tokenToId.get('<|end|>');
  if (endId !== undefined && eog.has(endId) && ((has('<|return|>') && has('<|call|>')) || (has('<|calls|>') && has('<|flush|>')))) {
    eog.delete(endId);
    attrs[endId] = Attr.UserDefined;
  }
  // gemma4 / paddleocr: "</s>" is an ordinary token when "<|tool_response>" exists
  const sId = tokenToId.get('</s>');
  if (sId !== undefined && eog.has(sId) && has('<|tool_response>')) {
    eog.delete(sId);
    attrs[sId] = Attr.Normal;
  }

  const partitionOrder: number[] = [];
  for (let i = 0; i < n; i++) {
    if (attrs[i]! & (Attr.Control | Attr.UserDefined | Attr.Unknown)) partitionOrder.push(i);
  }

  // Per-model attributes llama.cpp sets by name (GGUF has no field for them yet).
  const name = (vocab.modelName ?? '').toLowerCase();
  if (name.includes('phi-3') || name.includes('phi3')) {
    // Phi-3's template puts "\n" after its role tokens; HF strips whitespace to their right
    for (const id of partitionOrder) attrs[id] = attrs[id]! | Attr.RStrip;
    const setR = (t: string, on: boolean) => {
      const id = tokenToId.get(t);
      if (id !== undefined) attrs[id] = on ? attrs[id]! | Attr.RStrip : attrs[id]! & ~Attr.RStrip;
    };
    setR('</s>', true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) setR(t, false);
  } else if ((vocab.pre ?? '').match(/jina-v2-(de|es|code)/)) {
    const id = tokenToId.get('<mask>');
    if (id !== undefined) attrs[id] = attrs[id]! | Attr.LStrip;
  }

  const byteLen = (id: number) => vocab.tokens.byteLength(id);
  partitionOrder.sort((a, b) => byteLen(b) - byteLen(a) || a - b);

  return { attrs, ids, eog, partitionOrder };
}
