/**
 * Pre-tokenizer split rules of byte-level BPE vocabularies, keyed by GGUF `tokenizer.ggml.pre`.
 * Each rule is the regex list llama.cpp applies in order (every regex splits each current piece
 * into matches and the text between them); the patterns are the ones the models' own
 * tokenizer.json files use, with `(?i:'s|…)` spelled out as case classes like llama.cpp does.
 */

export interface PreTokenizerRule {
  /** Split regexes applied in sequence, each isolating its matches. */
  regexes: string[];
  /** A pre-token that is itself a vocab entry becomes that token without BPE (Llama 3, Tekken). */
  ignoreMerges?: boolean;
  /** Overrides the BPE default of not adding BOS (llama.cpp sets it for these families). */
  addBos?: boolean;
}

const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`;
const LLAMA3 = CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2 = CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN35 = CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const SEED_CODER = CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`;
const MINICPM5 = CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const BAILINGMOE = String.raw`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`;
const BLOOM = String.raw` ?[^(\s|.,!?…。，、।۔،)]+`;
// Tekken / GPT-4o: "uppercase run then lowercase run" words, written with lookaheads
const UPPER_LOWER = String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+`;
const UPPER_ONLY = String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*`;
const TEKKEN = UPPER_LOWER + '|' + UPPER_ONLY + String.raw`|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const GPT4O =
  UPPER_LOWER +
  CONTRACTIONS +
  '?|' +
  UPPER_ONLY +
  CONTRACTIONS +
  String.raw`?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const DEEPSEEK3 = [
  String.raw`\p{N}{1,3}`,
  '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
  String.raw`[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` +
    '`' +
    String.raw`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
];
// DeepSeek LLM's cased-letter class (from its tokenizer.json), code points written as escapes
const DEEPSEEK_LETTERS =
  'A-Za-z\u{b5}\u{c0}-\u{d6}\u{d8}-\u{f6}\u{f8}-\u{1ba}\u{1bc}-\u{1bf}\u{1c4}-\u{293}\u{295}-\u{2af}\u{370}-\u{373}' +
  '\u{376}\u{377}\u{37b}-\u{37d}\u{37f}\u{386}\u{388}-\u{38a}\u{38c}\u{38e}-\u{3a1}\u{3a3}-\u{3f5}\u{3f7}-\u{481}' +
  '\u{48a}-\u{52f}\u{531}-\u{556}\u{10a0}-\u{10c5}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}' +
  '\u{1d00}-\u{1d2b}\u{1d6b}-\u{1d77}\u{1d79}-\u{1d9a}\u{1e00}-\u{1f15}\u{1f18}-\u{1f1d}\u{1f20}-\u{1f45}\u{1f48}-\u{1f4d}' +
  '\u{1f50}-\u{1f57}\u{1f59}\u{1f5b}\u{1f5d}\u{1f5f}-\u{1f7d}\u{1f80}-\u{1fb4}\u{1fb6}-\u{1fbc}\u{1fbe}\u{1fc2}-\u{1fc4}' +
  '\u{1fc6}-\u{1fcc}\u{1fd0}-\u{1fd3}\u{1fd6}-\u{1fdb}\u{1fe0}-\u{1fec}\u{1ff2}-\u{1ff4}\u{1ff6}-\u{1ffc}\u{2102}\u{2107}' +
  '\u{210a}-\u{2113}\u{2115}\u{2119}-\u{211d}\u{2124}\u{2126}\u{2128}\u{212a}-\u{212d}\u{212f}-\u{2134}\u{2139}' +
  '\u{213c}-\u{213f}\u{2145}-\u{2149}\u{214e}\u{2183}\u{2184}\u{2c00}-\u{2c7b}\u{2c7e}-\u{2ce4}\u{2ceb}-\u{2cee}\u{2cf2}' +
  '\u{2cf3}\u{a640}-\u{a66d}\u{a680}-\u{a69b}\u{a722}-\u{a76f}\u{a771}-\u{a787}\u{a78b}-\u{a78e}\u{ab70}-\u{abbf}' +
  '\u{fb00}-\u{fb06}\u{fb13}-\u{fb17}\u{ff21}-\u{ff3a}\u{ff41}-\u{ff5a}\u{10400}-\u{1044f}\u{104b0}-\u{104d3}' +
  '\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}';
// CJK ideographs, a block of other scripts, and Hangul, as one run
const DEEPSEEK_CJK = '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+';

const rules = {
  default: { regexes: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, '[0-9][0-9][0-9]'] },
  gpt2: { regexes: [GPT2] },
  llama3: { regexes: [LLAMA3], ignoreMerges: true, addBos: true },
  dbrx: { regexes: [LLAMA3] },
  chatglm4: { regexes: [LLAMA3] },
  qwen2: { regexes: [QWEN2] },
  qwen35: { regexes: [QWEN35] },
  deepseekLlm: {
    regexes: [
      '[\r\n]',
      String.raw`\s?[` + DEEPSEEK_LETTERS + ']+',
      '\\s?[!-/:-~\u{ff01}-\u{ff0f}\u{ff1a}-\u{ff5e}\u{2018}-\u{201f}\u{3000}-\u{3002}]+',
      String.raw`\s+$`,
      DEEPSEEK_CJK,
      String.raw`\p{N}+`,
    ],
  },
  deepseekCoder: { regexes: ['[\r\n]', String.raw`\s?\p{L}+`, String.raw`\s?\p{P}+`, DEEPSEEK_CJK, String.raw`\p{N}`] },
  deepseek3: { regexes: DEEPSEEK3 },
  falcon: { regexes: [String.raw`[\p{P}\$\+<=>\^~\|` + '`' + ']+', GPT2, '[0-9][0-9][0-9]'] },
  starcoder: { regexes: [String.raw`\p{N}`, GPT2] },
  bloom: { regexes: [BLOOM] },
  viking: { regexes: [BLOOM, String.raw`\p{N}`] },
  tekken: { regexes: [TEKKEN], ignoreMerges: true, addBos: true },
  gpt4o: { regexes: [GPT4O] },
  seedCoder: { regexes: [SEED_CODER] },
  bailingmoe: { regexes: [BAILINGMOE] },
  minicpm5: { regexes: [String.raw`\p{N}{1,3}`, MINICPM5], ignoreMerges: true },
  chameleon: {
    regexes: [
      '<sentinel:[0-9]+>',
      '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z',
      '([\\t\\n]|    |  )',
      String.raw`\p{N}`,
      String.raw`[\p{P}!-/:-@\[-` + '`' + '{-~]',
      GPT2,
    ],
    addBos: true,
  },
} satisfies Record<string, PreTokenizerRule>;

/** `tokenizer.ggml.pre` value → rule, for every name llama.cpp maps to one of the rules above. */
const BY_NAME: Record<string, PreTokenizerRule> = {};
const alias = (rule: PreTokenizerRule, ...names: string[]) => {
  for (const n of names) BY_NAME[n] = rule;
};
alias(rules.default, 'default');
alias(rules.llama3, 'llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano');
alias(rules.dbrx, 'dbrx', 'smaug-bpe');
alias(rules.chatglm4, 'chatglm-bpe', 'glm4');
alias(rules.deepseekLlm, 'deepseek-llm');
alias(rules.deepseekCoder, 'deepseek-coder');
alias(rules.deepseek3, 'deepseek-v3', 'hunyuan-dense', 'joyai-llm', 'hy_v4');
alias(rules.falcon, 'falcon');
alias(
  rules.gpt2,
  'gpt-2',
  'mpt',
  'olmo',
  'jais',
  'trillion',
  'granite-docling',
  'phi-2',
  'jina-es',
  'jina-de',
  'gigachat',
  'jina-v2-es',
  'jina-v2-de',
  'a.x-4.0',
  'mellum',
  'modern-bert',
  'exaone4',
  'jina-v1-en',
  'jina-v2-code',
  'roberta-bpe',
);
alias(rules.starcoder, 'starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2');
alias(rules.qwen2, 'qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'stablelm2', 'hunyuan', 'solar-open', 'megrez', 'grok-2');
alias(rules.qwen35, 'qwen35');
alias(rules.bloom, 'bloom', 'poro-chat', 'gpt3-finnish');
alias(rules.viking, 'viking');
alias(rules.tekken, 'tekken');
alias(rules.gpt4o, 'gpt-4o', 'llama4', 'kanana2', 'talkie');
alias(rules.seedCoder, 'seed-coder');
alias(rules.bailingmoe, 'bailingmoe', 'bailingmoe2', 'llada-moe');
alias(rules.minicpm5, 'minicpm5');
alias(rules.chameleon, 'chameleon');

/** The rule for a `tokenizer.ggml.pre` value, or undefined when lowbit does not know the name. */
export function preTokenizerRule(pre: string): PreTokenizerRule | undefined {
  return Object.hasOwn(BY_NAME, pre) ? BY_NAME[pre] : undefined;
}

/** Every supported `tokenizer.ggml.pre` name (for error messages and tests). */
export function supportedPreTokenizers(): string[] {
  return Object.keys(BY_NAME).sort();
}
