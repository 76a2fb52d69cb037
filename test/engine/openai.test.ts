import { describe, expect, test } from 'vitest';
import { openaiClient, type ChatCompletionChunk } from '../../src/engine/openai.ts';
import { FakeEngine, toTokens } from '../ui/fake-engine.ts';

const messages = [
  { role: 'system' as const, content: 'You tell stories.' },
  { role: 'user' as const, content: 'Once upon a time' },
];

describe('chat.completions.create (non-streaming)', () => {
  test('returns a chat.completion with the whole reply, finish reason and usage', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: toTokens('there was a cat.'), promptTokens: 7 }) });
    const res = await openaiClient(engine).chat.completions.create({ messages, temperature: 0.5, top_p: 0.9, max_tokens: 50, seed: 42 });
    expect(res.object).toBe('chat.completion');
    expect(res.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(res.model).toBe(engine.info.name);
    expect(Number.isInteger(res.created)).toBe(true);
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]).toMatchObject({ index: 0, message: { role: 'assistant', content: 'there was a cat.' }, finish_reason: 'stop' });
    expect(res.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 });
    expect(res.usage.extra.decode_tokens_per_s).toBeGreaterThan(0);
    // Parameters reach the engine under its own names.
    expect(engine.calls[0].input).toEqual({ kind: 'chat', messages });
    expect(engine.calls[0].options).toEqual({ temperature: 0.5, topP: 0.9, maxTokens: 50, seed: 42 });
  });

  test('max_tokens cut-off reports finish_reason length', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: toTokens('one two three four five') }) });
    const res = await openaiClient(engine).chat.completions.create({ messages, max_tokens: 2 });
    expect(res.choices[0].message.content).toBe('one two');
    expect(res.choices[0].finish_reason).toBe('length');
    expect(res.usage.completion_tokens).toBe(2);
  });

  test('stop strings are passed on and end the reply before the stop text', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: toTokens('The end. THE END more') }) });
    const res = await openaiClient(engine).chat.completions.create({ messages, stop: 'THE END' });
    expect(engine.calls[0].options.stop).toEqual(['THE END']);
    expect(res.choices[0].message.content).toBe('The end. ');
    expect(res.choices[0].finish_reason).toBe('stop');
  });

  test('text content parts are joined; max_completion_tokens wins over max_tokens', async () => {
    const engine = new FakeEngine({ delayMs: 0 });
    await openaiClient(engine).chat.completions.create({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hel' },
            { type: 'text', text: 'lo' },
          ],
        },
      ],
      max_tokens: 5,
      max_completion_tokens: 9,
    });
    expect(engine.calls[0].input).toEqual({ kind: 'chat', messages: [{ role: 'user', content: 'Hello' }] });
    expect(engine.calls[0].options.maxTokens).toBe(9);
  });

  test('an abort signal ends the reply with finish_reason abort', async () => {
    const engine = new FakeEngine({ delayMs: 20, reply: () => ({ tokens: toTokens('a b c d e f g h i j k l') }) });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 70);
    const res = await openaiClient(engine).chat.completions.create({ messages, signal: controller.signal });
    expect(res.choices[0].finish_reason).toBe('abort');
    expect(res.usage.completion_tokens).toBeLessThan(12);
  });

  test('bad requests throw typed errors naming the field', async () => {
    const client = openaiClient(new FakeEngine());
    const bad: [object, RegExp, ErrorConstructor][] = [
      [{ messages: [] }, /messages must be a non-empty array/, TypeError],
      [{ messages: [{ role: 'tool', content: 'x' }] }, /messages\[0\]\.role/, TypeError],
      [{ messages: [{ role: 'user', content: 5 }] }, /messages\[0\]\.content/, TypeError],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, /messages\[0\]\.content\[0\]/, TypeError],
      [{ messages, temperature: 3 }, /temperature/, RangeError],
      [{ messages, temperature: Number.NaN }, /temperature/, RangeError],
      [{ messages, top_p: 0 }, /top_p/, RangeError],
      [{ messages, max_tokens: 0 }, /max_tokens/, RangeError],
      [{ messages, max_tokens: 1.5 }, /max_tokens/, RangeError],
      [{ messages, seed: 0.5 }, /seed/, RangeError],
      [{ messages, n: 2 }, /n must be 1/, RangeError],
      [{ messages, stop: [''] }, /stop/, TypeError],
      [{ messages, tools: [{}] }, /tools is not supported/, TypeError],
    ];
    for (const [req, message, cls] of bad) {
      const p = client.chat.completions.create(req as never);
      await expect(p, JSON.stringify(req)).rejects.toThrow(message);
      await expect(p).rejects.toBeInstanceOf(cls);
    }
  });

  test('engine errors propagate', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: ['a', 'b'], failAfter: 1, error: new RangeError('boom') }) });
    await expect(openaiClient(engine).chat.completions.create({ messages })).rejects.toThrow('boom');
  });
});

describe('chat.completions.create (streaming)', () => {
  async function collect(iter: AsyncIterable<ChatCompletionChunk>) {
    const out: ChatCompletionChunk[] = [];
    for await (const c of iter) out.push(c);
    return out;
  }

  test('yields a role chunk, one chunk per token, a finish chunk and (when asked) a usage chunk', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: ['Once', ' there', ' was'], promptTokens: 3 }) });
    const stream = await openaiClient(engine).chat.completions.create({ messages, stream: true, stream_options: { include_usage: true } });
    const chunks = await collect(stream);
    expect(chunks.map((c) => c.object)).toEqual(Array(6).fill('chat.completion.chunk'));
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.slice(1, 4).map((c) => c.choices[0].delta.content)).toEqual(['Once', ' there', ' was']);
    expect(chunks.slice(0, 4).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks[4].choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    expect(chunks[5].choices).toEqual([]);
    expect(chunks[5].usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 });
    expect(chunks.slice(0, 5).every((c) => c.usage === undefined)).toBe(true);
  });

  test('without include_usage there is no usage chunk', async () => {
    const engine = new FakeEngine({ delayMs: 0, reply: () => ({ tokens: ['x'] }) });
    const chunks = await collect(await openaiClient(engine).chat.completions.create({ messages, stream: true }));
    expect(chunks).toHaveLength(3);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  test('breaking out of the loop aborts the generation in the engine', async () => {
    let seenSignal: AbortSignal | undefined;
    const engine = new FakeEngine({
      delayMs: 5,
      reply: (_input, options) => {
        seenSignal = options.signal;
        return { tokens: toTokens('a b c d e f g h i j k l m n o p') };
      },
    });
    const stream = await openaiClient(engine).chat.completions.create({ messages, stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 3) break;
    expect(seenSignal?.aborted).toBe(true);
  });

  test('invalid streaming requests reject create() itself', async () => {
    await expect(openaiClient(new FakeEngine()).chat.completions.create({ messages: [], stream: true })).rejects.toThrow(TypeError);
  });
});
