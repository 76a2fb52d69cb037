/**
 * Chat templates: the model's `tokenizer.chat_template` (Jinja) rendered with @huggingface/jinja
 * the way transformers' apply_chat_template does (trim_blocks + lstrip_blocks, `messages`,
 * `add_generation_prompt`, `bos_token`/`eos_token`, `raise_exception`, `strftime_now`), plus a
 * fallback for models that ship none:
 *
 * - vocab has `<|im_start|>` and `<|im_end|>` → ChatML:
 *   `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
 * - otherwise → plain text: a system message as `{content}\n\n`, then `User: {content}\n` and
 *   `Assistant: {content}\n` (other roles `{role}: {content}\n`), then `Assistant:`; generation
 *   should stop at "\nUser:" (see `stopStrings`).
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { ChatTemplateError } from '../errors.ts';
import type { Tokenizer } from './tokenizer.ts';

export interface ChatMessage {
  role: string;
  content: string;
  /** Templates may read more fields (tool_calls, name, …); they are passed through. */
  [field: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the assistant's turn opener so the model answers. Default true. */
  addGenerationPrompt?: boolean;
  /** More template variables, e.g. `{ enable_thinking: false }` (Qwen3), `tools`, `date_string`. */
  variables?: Record<string, unknown>;
  /** The clock `strftime_now` reads (Llama 3.1+ put today's date in the system prompt). Default: now. */
  now?: Date;
}

export interface TemplateSpecialTokens {
  bos?: string;
  eos?: string;
  unk?: string;
  pad?: string;
}

export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export const PLAIN_TEMPLATE =
  '{%- for message in messages %}' +
  "{%- if message['role'] == 'system' %}{{- message['content'] + '\\n\\n' }}" +
  "{%- elif message['role'] == 'user' %}{{- 'User: ' + message['content'] + '\\n' }}" +
  "{%- elif message['role'] == 'assistant' %}{{- 'Assistant: ' + message['content'] + '\\n' }}" +
  "{%- else %}{{- message['role'] + ': ' + message['content'] + '\\n' }}{%- endif %}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- 'Assistant:' }}{%- endif %}";

/** A parsed chat template. Parsing errors surface here, rendering errors in `render`. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specialTokens: TemplateSpecialTokens = {},
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`tokenizer.chat_template does not parse: ${messageOf(err)}`, { cause: err });
    }
  }

  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const now = options.now ?? new Date();
    // Our own environment rather than Template.render's: its globals cannot be overridden, and
    // we want a typed raise_exception and a strftime_now on a caller-given clock.
    const items: Record<string, unknown> = {
      true: true,
      false: false,
      none: null,
      True: true,
      False: false,
      None: null,
      range: pythonRange,
      bos_token: this.specialTokens.bos ?? '',
      eos_token: this.specialTokens.eos ?? '',
      unk_token: this.specialTokens.unk ?? '',
      pad_token: this.specialTokens.pad ?? '',
      ...options.variables,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      // deterministic, locale-independent (English names, like Python's C locale)
      strftime_now: (format: unknown) => strftime(now, String(format)),
      raise_exception: (message: unknown) => {
        throw new ChatTemplateError(`chat template refused the conversation: ${String(message)}`);
      },
    };
    try {
      const env = new Environment();
      for (const [key, value] of Object.entries(items)) env.set(key, value);
      const result = new Interpreter(env).run(this.template.parsed);
      return String(result.value);
    } catch (err) {
      if (err instanceof ChatTemplateError) throw err;
      throw new ChatTemplateError(`chat template failed to render: ${messageOf(err)}`, { cause: err });
    }
  }
}

export interface ChatPrompt {
  /** The rendered template. */
  text: string;
  /** Token ids to feed the model: exactly one BOS when the vocab adds one, control tokens parsed. */
  tokens: number[];
}

export interface ChatFormatter {
  readonly template: ChatTemplate;
  /** Where the template came from. */
  readonly origin: 'model' | 'override' | 'chatml-fallback' | 'plain-fallback';
  /** Strings that end the assistant's turn beyond the vocab's end-of-generation tokens. */
  readonly stopStrings: readonly string[];
  format(messages: readonly ChatMessage[], options?: ChatTemplateOptions): ChatPrompt;
}

/** The chat format of a model: its own template, an override, or the documented fallback. */
export function chatFormatterFor(tokenizer: Tokenizer, options: { template?: string } = {}): ChatFormatter {
  const text = (id: number | null) => (id === null ? undefined : tokenizer.tokenText(id));
  const specials: TemplateSpecialTokens = {
    bos: text(tokenizer.bosId),
    eos: text(tokenizer.eosId),
    unk: text(tokenizer.unkId),
    pad: text(tokenizer.padId),
  };
  let origin: ChatFormatter['origin'];
  let source: string;
  if (options.template !== undefined) {
    origin = 'override';
    source = options.template;
  } else if (tokenizer.chatTemplate) {
    origin = 'model';
    source = tokenizer.chatTemplate;
  } else if (tokenizer.tokenId('<|im_start|>') !== undefined && tokenizer.tokenId('<|im_end|>') !== undefined) {
    origin = 'chatml-fallback';
    source = CHATML_TEMPLATE;
  } else {
    origin = 'plain-fallback';
    source = PLAIN_TEMPLATE;
  }
  const template = new ChatTemplate(source, specials);
  return {
    template,
    origin,
    stopStrings: origin === 'plain-fallback' ? ['\nUser:'] : [],
    format(messages, formatOptions) {
      const rendered = template.render(messages, formatOptions);
      // Templates usually write BOS themselves while the vocab also asks encode() to add it;
      // like llama.cpp's server, drop the template's copy so the prompt starts with one BOS.
      let body = rendered;
      if (tokenizer.addBos && specials.bos && body.startsWith(specials.bos)) body = body.slice(specials.bos.length);
      if (tokenizer.addEos && specials.eos && body.endsWith(specials.eos)) body = body.slice(0, -specials.eos.length);
      return { text: rendered, tokens: tokenizer.encode(body, { addSpecial: true, parseSpecial: true }) };
    },
  };
}

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  if (step === 0) throw new ChatTemplateError('range() step must not be zero');
  const out: number[] = [];
  // bounded: templates iterate over messages, not millions of numbers
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.push(i);
    if (out.length > 1_000_000) throw new ChatTemplateError('range() is too long for a chat template');
  }
  return out;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** The strftime subset chat templates use, in local time with English names. */
export function strftime(d: Date, format: string): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return format.replace(/%([YymdebBaAHIMSpj%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(d.getFullYear());
      case 'y':
        return pad(d.getFullYear() % 100);
      case 'm':
        return pad(d.getMonth() + 1);
      case 'd':
        return pad(d.getDate());
      case 'e':
        return String(d.getDate()).padStart(2, ' ');
      case 'b':
        return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'B':
        return MONTHS[d.getMonth()]!;
      case 'a':
        return DAYS[d.getDay()]!.slice(0, 3);
      case 'A':
        return DAYS[d.getDay()]!;
      case 'H':
        return pad(d.getHours());
      case 'I':
        return pad(((d.getHours() + 11) % 12) + 1);
      case 'M':
        return pad(d.getMinutes());
      case 'S':
        return pad(d.getSeconds());
      case 'p':
        return d.getHours() < 12 ? 'AM' : 'PM';
      case 'j': {
        const start = new Date(d.getFullYear(), 0, 1);
        return pad(Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      default:
        return '%';
    }
  });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
