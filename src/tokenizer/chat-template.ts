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

/**
 * Render budget. A template comes from the model file, so it may loop forever
 * (`{% for i in range(10**6) %}{% for j in range(10**6) %}`) or double a string until memory runs
 * out; rendering is synchronous and cannot be interrupted, so the interpreter counts its steps and
 * the size of every value it makes. Real templates take under 100 steps per message (Qwen3: 287 for 4 messages).
 */
export const MAX_TEMPLATE_STEPS = 200_000;
export const TEMPLATE_STEPS_PER_MESSAGE = 1_000;
/** Longest string a render may build: this many characters plus 4 × the messages' text. */
export const MAX_TEMPLATE_STRING_LENGTH = 16 * 1024 * 1024;
/**
 * Longest list (range() included). A for loop sets up a scope per item before it runs the first
 * iteration, so a list costs ~200 bytes per item when looped over.
 */
export const MAX_TEMPLATE_LIST_ITEMS = 100_000;

/** The jinja interpreter with a step budget and a size limit on every value it evaluates. */
class BoundedInterpreter extends Interpreter {
  private steps = 0;

  constructor(
    env: Environment,
    private readonly maxSteps: number,
    private readonly maxStringLength: number,
  ) {
    super(env);
  }

  step(n = 1): void {
    this.steps += n;
    if (this.steps > this.maxSteps) {
      throw new ChatTemplateError(`chat template did not finish within ${this.maxSteps} steps (an endless or huge loop?)`);
    }
  }

  override evaluate(...args: Parameters<Interpreter['evaluate']>): ReturnType<Interpreter['evaluate']> {
    this.step();
    const result = super.evaluate(...args);
    const v: unknown = result.value;
    // A for loop prepares a scope for every item before its first iteration (and a `break` may
    // end it after one), so starting a loop costs as many steps as it has items.
    if (args[0] && loopIterables.has(args[0])) this.step(Array.isArray(v) ? v.length : v instanceof Map ? v.size : 0);
    if (typeof v === 'string' && v.length > this.maxStringLength) {
      throw new ChatTemplateError(`chat template built a value of ${v.length} characters, over the ${this.maxStringLength} limit`);
    }
    if (Array.isArray(v) && v.length > MAX_TEMPLATE_LIST_ITEMS) {
      throw new ChatTemplateError(`chat template built a value of ${v.length} items, over the ${MAX_TEMPLATE_LIST_ITEMS} limit`);
    }
    return result;
  }
}

/** The iterable expressions of the for loops run so far (AST nodes; see `evaluate`). */
const loopIterables = new WeakSet<object>();

// Two private methods of the interpreter are wrapped: evaluateBlock, because an iteration whose
// body is empty calls no `evaluate` (`{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}`
// would run unbudgeted), and evaluateFor, to mark its iterable. The bounds tests fail if either
// is renamed in a later @huggingface/jinja.
type InternalMethod = (...args: unknown[]) => unknown;
const jinjaInternals = Interpreter.prototype as unknown as { evaluateBlock?: InternalMethod; evaluateFor?: InternalMethod };
const { evaluateBlock, evaluateFor } = jinjaInternals;
if (!evaluateBlock || !evaluateFor) throw new Error('@huggingface/jinja: Interpreter internals changed; update BoundedInterpreter');
Object.defineProperties(BoundedInterpreter.prototype, {
  evaluateBlock: {
    value(this: BoundedInterpreter, ...args: unknown[]) {
      this.step();
      return evaluateBlock.apply(this, args);
    },
  },
  evaluateFor: {
    value(this: BoundedInterpreter, node: { iterable: { type: string; lhs?: object } }, ...rest: unknown[]) {
      loopIterables.add(node.iterable.type === 'SelectExpression' && node.iterable.lhs ? node.iterable.lhs : node.iterable);
      return evaluateFor.call(this, node, ...rest);
    },
  },
});

// Python's str.strip/lstrip/rstrip take the characters to remove, and templates rely on it: Qwen3
// writes `content.lstrip('\n')` to drop a reply's leading newlines but keep its spaces. The
// @huggingface/jinja string methods ignore the argument and strip all whitespace, unlike Python's
// Jinja and llama.cpp's; the three are replaced by ones that honour it (whitespace when none is
// given). Its capitalize (method and filter) also leaves the rest of the string as it was, where
// Python lowercases it (BitNet 2B4T writes `message['role'] | capitalize`).
type JinjaValue = { value: unknown };
type JinjaValueClass = new (value: unknown) => JinjaValue;
const emptyString = new Interpreter(new Environment()).run(new Template("{{ '' }}").parsed) as unknown as JinjaValue & {
  builtins: Map<string, JinjaValue>;
};
const StringValueClass = emptyString.constructor as JinjaValueClass;
const FunctionValueClass = emptyString.builtins?.get('strip')?.constructor as JinjaValueClass | undefined;
const stringBuiltins = Object.getOwnPropertyDescriptor(StringValueClass.prototype, 'builtins')?.get;
if (!FunctionValueClass || !stringBuiltins) throw new Error('@huggingface/jinja: StringValue internals changed; update the strip methods');
const pythonStripMaps = new WeakSet<Map<string, JinjaValue>>();
Object.defineProperty(StringValueClass.prototype, 'builtins', {
  get(this: JinjaValue) {
    const builtins = stringBuiltins.call(this) as Map<string, JinjaValue>;
    if (!pythonStripMaps.has(builtins)) {
      const text = String(this.value);
      const method = (start: boolean, end: boolean) =>
        new FunctionValueClass((args: JinjaValue[]) => new StringValueClass(pythonStrip(text, stripChars(args), start, end)));
      builtins.set('strip', method(true, true));
      builtins.set('lstrip', method(true, false));
      builtins.set('rstrip', method(false, true));
      builtins.set('capitalize', new FunctionValueClass(() => new StringValueClass(pythonCapitalize(text))));
      pythonStripMaps.add(builtins);
    }
    return builtins;
  },
});

/** The `chars` argument of a strip method: undefined for none (or None), else the string. */
function stripChars(args: JinjaValue[] | undefined): string | undefined {
  const chars = args?.[0]?.value;
  if (chars === undefined || chars === null) return undefined;
  if (typeof chars !== 'string') throw new ChatTemplateError('strip(), lstrip() and rstrip() take a string of characters or none');
  return chars;
}

/** Python's str.capitalize: the first character upper-case, the rest lower-case. */
function pythonCapitalize(text: string): string {
  const [first = '', ...rest] = text;
  return first.toUpperCase() + rest.join('').toLowerCase();
}

/** Python's str.strip / lstrip / rstrip: `chars` are the characters to remove, whitespace when undefined. */
export function pythonStrip(text: string, chars: string | undefined, start: boolean, end: boolean): string {
  if (chars === undefined) {
    const head = start ? text.trimStart() : text;
    return end ? head.trimEnd() : head;
  }
  const remove = new Set(chars); // code points, as Python counts characters
  const points = [...text];
  let from = 0;
  let to = points.length;
  if (start) while (from < to && remove.has(points[from]!)) from++;
  if (end) while (to > from && remove.has(points[to - 1]!)) to--;
  return points.slice(from, to).join('');
}

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
      const textLength = messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
      const interpreter = new BoundedInterpreter(
        env,
        MAX_TEMPLATE_STEPS + TEMPLATE_STEPS_PER_MESSAGE * messages.length,
        MAX_TEMPLATE_STRING_LENGTH + 4 * textLength,
      );
      const result = interpreter.run(this.template.parsed);
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
  format(messages: readonly ChatMessage[], options?: ChatFormatOptions): ChatPrompt;
}

export interface ChatFormatOptions extends ChatTemplateOptions {
  /** Refuse a conversation that surely fills this context before encoding it (EncodeOptions.contextSize). */
  contextSize?: number;
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
      return {
        text: rendered,
        tokens: tokenizer.encode(body, { addSpecial: true, parseSpecial: true, contextSize: formatOptions?.contextSize }),
      };
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
    if (out.length > MAX_TEMPLATE_LIST_ITEMS)
      throw new ChatTemplateError(`range() is longer than the ${MAX_TEMPLATE_LIST_ITEMS} items a chat template may build`);
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
