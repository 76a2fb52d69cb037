/**
 * Chat prompts of the scale-model families, formatted by lowbit and by llama.cpp, must be the same
 * text and the same tokens, and the turn must end at the same end-of-generation tokens.
 *
 * lowbit's side is the path the demo and `lowbit run --chat` take: the GGUF read from disk,
 * tokenizerFromGGUF, chatFormatterFor (Engine.chatFormat) and format().
 *
 * llama.cpp's side runs through node-llama-cpp, but not through its JinjaTemplateChatWrapper:
 * that wrapper renders with @huggingface/jinja first, the engine lowbit itself uses, and would
 * prove nothing. It uses node-llama-cpp's binding of llama.cpp's own Jinja engine
 * (`AddonJinjaRenderer`, llama.cpp's common/jinja lexer, parser and runtime) and feeds it what
 * llama.cpp's chat layer (common_chat_templates_apply) passes: the template read from the GGUF,
 * `messages`, `add_generation_prompt`, and `bos_token`/`eos_token` as the text of the vocabulary's
 * BOS/EOS. Then, as llama.cpp does, a leading BOS text is dropped when the vocabulary adds BOS, and
 * the rest is tokenized by llama.cpp with special tokens parsed, after its BOS.
 *
 * The GGUFs are vocab-only (tokenizer keys on a llama header): a template and a tokenizer need no
 * weights, and llama.cpp loads them with `vocabOnly`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { FAMILY_VOCAB_SIZE, SCALE_FAMILIES, tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';
import { chatFormatterFor, type ChatMessage } from '../../src/tokenizer/chat-template.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import { readGGUFFile, writeVocabGGUF } from './helpers.ts';

const sys = (content: string): ChatMessage => ({ role: 'system', content });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

const CONVERSATIONS: { name: string; messages: ChatMessage[]; addGenerationPrompt: boolean }[] = [
  {
    name: 'system + multi-turn + generation prompt',
    messages: [sys('You are a terse assistant.'), user('What is 2+2?'), assistant('4.'), user('And 3 + 3 ?  ')],
    addGenerationPrompt: true,
  },
  { name: 'no system message (default system prompts)', messages: [user('Hello! ¿Qué tal? 你好 👋')], addGenerationPrompt: true },
  { name: 'empty system message', messages: [sys(''), user('Hi')], addGenerationPrompt: true },
  {
    name: 'history without generation prompt, padded and multi-line content',
    messages: [sys('  Be kind.\n'), user('line one\n\nline two'), assistant('  an answer  ')],
    addGenerationPrompt: false,
  },
  {
    name: 'assistant turn with reasoning, then a new question',
    messages: [user('2+2?'), assistant('<think>\nadd them\n</think>\n\n4'), user('3+3?')],
    addGenerationPrompt: true,
  },
];

interface NativeJinjaRenderer {
  render(variables: Record<string, unknown>): string;
}
type NativeJinjaRendererClass = new (template: string) => NativeJinjaRenderer;

let llama: Llama;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lowbit-template-'));
  llama = await getLlama({
    gpu: false,
    build: 'never',
    logger: (level, message) => {
      if (String(level) === 'fatal') console.error(message);
    },
  });
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The prompt llama.cpp's chat layer builds: its Jinja engine, its BOS rule, its tokenizer. */
function llamaCppPrompt(model: LlamaModel, messages: ChatMessage[], addGenerationPrompt: boolean): { text: string; tokens: number[] } {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  if (typeof template !== 'string') throw new Error('llama.cpp sees no tokenizer.chat_template');
  const Renderer = (llama as unknown as { _bindings: { AddonJinjaRenderer: NativeJinjaRendererClass } })._bindings.AddonJinjaRenderer;
  const special = (id: number | null) => (id === null ? '' : model.detokenize([id as never], true));
  const bosText = special(model.tokens.bos);
  const text = new Renderer(template).render({
    messages,
    bos_token: bosText,
    eos_token: special(model.tokens.eos),
    add_generation_prompt: addGenerationPrompt,
  });
  let body = text;
  if (model.tokens.shouldPrependBosToken && bosText && body.startsWith(bosText)) body = body.slice(bosText.length);
  const tokens = [
    ...(model.tokens.shouldPrependBosToken ? [Number(model.tokens.bos)] : []),
    ...[...model.tokenize(body, true)].map(Number),
  ];
  return { text, tokens };
}

describe('chat prompts of the scale-model families: lowbit vs llama.cpp (its Jinja engine and tokenizer)', () => {
  for (const family of SCALE_FAMILIES) {
    test(family, async () => {
      const meta = await tokenizerMetadata(family, FAMILY_VOCAB_SIZE[family]);
      const ourPath = await writeVocabGGUF(join(dir, `${family}.gguf`), meta);
      // BitNet 2B4T's file has no tokenizer.ggml.pre; lowbit then uses Llama 3's split (as
      // bitnet.cpp does) but upstream llama.cpp falls back to its default one, so llama.cpp reads
      // a copy that names the Llama 3 split. Only the tokenizer's split rule differs.
      const theirPath = family === 'bitnet' ? await writeVocabGGUF(join(dir, 'bitnet-llama-bpe.gguf'), withLlama3Split(meta)) : ourPath;
      const tokenizer = await tokenizerFromGGUF(await readGGUFFile(ourPath));
      const model = await llama.loadModel({ modelPath: theirPath, vocabOnly: true });
      try {
        // neither side appends EOS for these vocabularies, so no EOS rule is needed
        expect([tokenizer.addEos, model.tokens.shouldAppendEosToken]).toEqual([false, false]);
        // the turn ends where llama.cpp ends it: the same end-of-generation tokens
        const types = meta.get('tokenizer.ggml.token_type') as Int32Array;
        const special = [...types.keys()].filter((id) => types[id] !== 1);
        expect(special.filter((id) => tokenizer.isEog(id))).toEqual(special.filter((id) => model.isEogToken(id as never)));
        const format = chatFormatterFor(tokenizer);
        expect(format.origin).toBe('model');
        for (const c of CONVERSATIONS) {
          const ours = format.format(c.messages, { addGenerationPrompt: c.addGenerationPrompt });
          const theirs = llamaCppPrompt(model, c.messages, c.addGenerationPrompt);
          expect({ conversation: c.name, text: ours.text }).toEqual({ conversation: c.name, text: theirs.text });
          expect({ conversation: c.name, tokens: ours.tokens }).toEqual({ conversation: c.name, tokens: theirs.tokens });
        }
      } finally {
        tokenizer.dispose();
        await model.dispose();
      }
    });
  }
});

function withLlama3Split(meta: Map<string, unknown>): Map<string, unknown> {
  const copy = new Map(meta);
  copy.set('tokenizer.ggml.pre', 'llama-bpe');
  return copy;
}
