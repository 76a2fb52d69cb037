/**
 * Chat templates of the model families the demo offers, rendered with @huggingface/jinja and
 * compared with the prompts those models are documented to expect; plus the fallbacks, the
 * BOS handling of the tokenized prompt, raise_exception and strftime_now.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChatTemplateError } from '../../src/errors.ts';
import { CHATML_TEMPLATE, ChatTemplate, chatFormatterFor, strftime } from '../../src/tokenizer/chat-template.ts';
import { tokenizerFromGGUF } from '../../src/tokenizer/from-gguf.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { tokenizerFromFile } from './helpers.ts';
import { BITNET_2B4T_TEMPLATE, QWEN25_INSTRUCT_TEMPLATE, SMOLLM2_INSTRUCT_TEMPLATE } from '../../scripts/scale-models/chat-templates.ts';
import { tokenizerMetadata } from '../../scripts/scale-models/tokenizers.ts';

// Templates as published in the models' tokenizer_config.json (public facts, written out here;
// the scale models' own ones live with their tokenizer metadata in scripts/scale-models/).
const LLAMA3_INSTRUCT =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const TINYLLAMA_CHAT = `{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}`;

const sys = (content: string) => ({ role: 'system', content });
const user = (content: string) => ({ role: 'user', content });
const assistant = (content: string) => ({ role: 'assistant', content });

describe('published templates render the documented prompts', () => {
  test('Llama 3 Instruct: header tokens, trimmed content, BOS from bos_token', () => {
    const t = new ChatTemplate(LLAMA3_INSTRUCT, { bos: '<|begin_of_text|>', eos: '<|eot_id|>' });
    expect(t.render([sys('You are a bot.'), user('  Hi  ')])).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a bot.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(t.render([user('Hi')], { addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
    );
  });

  test('BitNet b1.58 2B4T: "Role: content<|eot_id|>" turns, then "Assistant: "', () => {
    const t = new ChatTemplate(BITNET_2B4T_TEMPLATE, { bos: '<|begin_of_text|>' });
    expect(t.render([sys('You are a helpful AI assistant.'), user('How are you?'), assistant('Fine.'), user('Good.')])).toBe(
      'System: You are a helpful AI assistant.<|eot_id|>User: How are you?<|eot_id|>Assistant: Fine.<|eot_id|>User: Good.<|eot_id|>Assistant: ',
    );
  });

  test('Qwen2.5 Instruct (ChatML): default system prompt, or the given one; tools block', () => {
    const t = new ChatTemplate(QWEN25_INSTRUCT_TEMPLATE, { eos: '<|im_end|>' });
    expect(t.render([user('Hi')])).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(t.render([sys('Be brief.'), user('Hi'), assistant('Hello!'), user('Bye')])).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    );
    const tools = [{ type: 'function', function: { name: 'now', description: 'time', parameters: {} } }];
    const withTools = t.render([user('Time?')], { variables: { tools } });
    expect(
      withTools.startsWith('<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n'),
    ).toBe(true);
    expect(withTools).toContain('<tools>\n{"type": "function", "function": {"name": "now"');
  });

  test('SmolLM2 Instruct: ChatML with its own default system prompt', () => {
    const t = new ChatTemplate(SMOLLM2_INSTRUCT_TEMPLATE);
    expect(t.render([user('Hi')])).toBe(
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(t.render([sys('S'), user('Hi')], { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n',
    );
  });

  test('TinyLlama Chat (Zephyr): block tags swallow their newlines (trim_blocks + lstrip_blocks)', () => {
    const t = new ChatTemplate(TINYLLAMA_CHAT, { bos: '<s>', eos: '</s>' });
    expect(t.render([sys('You are a friendly chatbot.'), user('Hi')])).toBe(
      '<|system|>\nYou are a friendly chatbot.</s>\n<|user|>\nHi</s>\n<|assistant|>\n',
    );
  });

  test('Qwen3 (its real template): enable_thinking=false adds an empty think block; old reasoning is dropped', async () => {
    const qwen3Template = (await tokenizerMetadata('qwen3', 151936)).get('tokenizer.chat_template') as string;
    const t = new ChatTemplate(qwen3Template, { eos: '<|im_end|>' });
    expect(t.render([user('Hi')])).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(t.render([user('Hi')], { variables: { enable_thinking: false } })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    const history = [sys('Be brief.'), user('2+2?'), assistant('<think>\nadd them\n</think>\n\n4'), user('3+3?')];
    expect(t.render(history)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n' +
        '<|im_start|>user\n3+3?<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test("strip/lstrip/rstrip take Python's characters argument (Qwen3's content.lstrip('\\n') keeps a reply's leading spaces)", async () => {
    const t = new ChatTemplate(
      "[{{ messages[0].content.lstrip('\\n') }}|{{ messages[0].content.rstrip('\\n ') }}|{{ messages[0].content.strip('\\n x') }}|{{ messages[0].content.strip() }}|{{ 'ab😀ba'.strip('a😀') }}]",
    );
    expect(t.render([user('\n\n  hi x \n')])).toBe('[  hi x \n|\n\n  hi x|hi|hi x|b😀b]');
    expect(() => new ChatTemplate('{{ "x".strip(3) }}').render([])).toThrow(ChatTemplateError);
    // the llama.cpp-formatted prompt for the same history (test/tokenizer/template-llama-cpp.test.ts)
    const qwen3Template = (await tokenizerMetadata('qwen3', 151936)).get('tokenizer.chat_template') as string;
    const qwen3 = new ChatTemplate(qwen3Template, { eos: '<|im_end|>' });
    expect(qwen3.render([user('Hi'), assistant('  an answer  ')], { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n  an answer  <|im_end|>\n',
    );
  });

  test('capitalize (filter and method) lower-cases the rest, as Python and llama.cpp do', () => {
    const t = new ChatTemplate(
      "{{ messages[0].role | capitalize }}: {{ messages[0].content.capitalize() }}|{{ '' | capitalize }}|{{ 'é' | capitalize }}",
    );
    expect(t.render([{ role: 'uSER', content: 'hELLO wORLD' }])).toBe('User: Hello world||É');
  });

  test("raise_exception becomes a ChatTemplateError carrying the template's message", () => {
    const t = new ChatTemplate(
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with a user message') }}{% endif %}ok",
    );
    expect(t.render([user('x')])).toBe('ok');
    expect(() => t.render([assistant('x')])).toThrow(ChatTemplateError);
    expect(() => t.render([assistant('x')])).toThrow(/Conversation must start with a user message/);
  });

  test('strftime_now reads the given clock, English names whatever the locale', () => {
    const t = new ChatTemplate("Today Date: {{ strftime_now('%d %b %Y') }}");
    expect(t.render([], { now: new Date(2025, 0, 5, 9, 7) })).toBe('Today Date: 05 Jan 2025');
    expect(strftime(new Date(2024, 11, 31, 13, 4, 9), '%A %B %e %H:%M:%S %I%p %j %y %%')).toBe(
      'Tuesday December 31 13:04:09 01PM 366 24 %',
    );
  });

  test('a template that does not parse, or fails while rendering, is a ChatTemplateError', () => {
    expect(() => new ChatTemplate('{% for m in messages %}')).toThrow(ChatTemplateError);
    expect(() => new ChatTemplate('{{ messages[0].content.nope() }}').render([user('x')])).toThrow(ChatTemplateError);
  });
});

describe('formatting and tokenizing a conversation for a model', () => {
  let llama3: Tokenizer;
  let qwen3: Tokenizer;
  beforeAll(async () => {
    llama3 = await tokenizerFromGGUF(await tokenizerMetadata('bitnet', 128256));
    const qwen3Meta = await tokenizerMetadata('qwen3', 151936);
    qwen3Meta.delete('tokenizer.chat_template');
    qwen3 = await tokenizerFromGGUF(qwen3Meta);
  });
  afterAll(() => {
    llama3.dispose();
    qwen3.dispose();
  });

  test('a template that writes BOS itself still gives exactly one BOS token (Llama 3 Instruct)', () => {
    const f = chatFormatterFor(llama3, { template: LLAMA3_INSTRUCT });
    expect(f.origin).toBe('override');
    const { text, tokens } = f.format([user('Hi')]);
    expect(text.startsWith('<|begin_of_text|><|start_header_id|>user')).toBe(true);
    expect(tokens.filter((id) => id === 128000)).toHaveLength(1);
    expect(tokens.slice(0, 2)).toEqual([128000, 128006]);
    expect(tokens).toEqual(llama3.encode(text, { addSpecial: false, parseSpecial: true }));
  });

  test('BitNet 2B4T: BOS comes from add_bos, the turn markers are control tokens', () => {
    const { tokens } = chatFormatterFor(llama3, { template: BITNET_2B4T_TEMPLATE }).format([user('Hey, are you conscious?')]);
    expect(tokens[0]).toBe(128000);
    expect(tokens.filter((id) => id === 128009)).toHaveLength(1);
    expect(llama3.decode(tokens, { special: true })).toBe('<|begin_of_text|>User: Hey, are you conscious?<|eot_id|>Assistant: ');
  });

  test('no template, ChatML tokens in the vocab → the ChatML fallback, markers as single tokens', () => {
    const f = chatFormatterFor(qwen3);
    expect(f.origin).toBe('chatml-fallback');
    expect(f.template.source).toBe(CHATML_TEMPLATE);
    const { text, tokens } = f.format([sys('S'), user('Hi')]);
    expect(text).toBe('<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(tokens[0]).toBe(151644);
    expect(tokens.filter((id) => id === 151644)).toHaveLength(3);
  });

  test('no template, no ChatML → plain "User:/Assistant:" text with a stop string (stories260K)', async () => {
    const tok = await tokenizerFromFile(localModel('stories260K.gguf'));
    const f = chatFormatterFor(tok);
    expect(f.origin).toBe('plain-fallback');
    expect(f.stopStrings).toEqual(['\nUser:']);
    const { text, tokens } = f.format([sys('Tell stories.'), user('A cat?'), assistant('Yes.'), user('More!')]);
    expect(text).toBe('Tell stories.\n\nUser: A cat?\nAssistant: Yes.\nUser: More!\nAssistant:');
    expect(tokens[0]).toBe(1);
    expect(tok.decode(tokens)).toBe(text);
    tok.dispose();
  });

  test.skipIf(!haveShared())('the template embedded in a GGUF (Phi-3): its BOS deduplicated, role tokens right-stripped', async () => {
    const tok = await tokenizerFromFile(sharedPath('tokenizer', 'ggml-vocab-phi-3.gguf'));
    const f = chatFormatterFor(tok);
    expect(f.origin).toBe('model');
    const { text, tokens } = f.format([user('Hi'), assistant('Hello'), user('Bye')]);
    expect(text).toBe('<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n');
    const word = (w: string) => tok.encode(w, { addSpecial: false });
    expect(tokens).toEqual([1, 32010, ...word('Hi'), 32007, 32001, ...word('Hello'), 32007, 32010, ...word('Bye'), 32007, 32001]);
    tok.dispose();
  });
});
