/**
 * The official `openai` npm client against lowbit serve's HTTP layer over a real engine (a tiny
 * fixture model on the GPU, two slots): what a user's program sees, streaming and not.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import { loadEngine } from '../../src/engine/engine.ts';
import { FileByteSource } from '../../src/io/file-byte-source.ts';
import { localModel } from '../helpers/fixtures.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { startServer, type Started } from './http-client.ts';

const CONTEXT = 96;
let engine: Engine;
let started: Started;
let client: OpenAI;

beforeAll(async () => {
  const source = await FileByteSource.open(localModel('stories260K-Q8_0.gguf'));
  try {
    engine = await loadEngine(source, { gpu: await testGpu(), contextSize: CONTEXT, slots: 2 });
  } finally {
    await source.close();
  }
  started = await startServer({ apiKey: 'sk-test-key' });
  started.server.setEngine(engine);
  client = new OpenAI({ baseURL: `${started.base}/v1`, apiKey: 'sk-test-key', maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await started?.server.shutdown();
  await engine?.dispose();
  await releaseTestGpu();
});

const messages = [{ role: 'user' as const, content: 'Once upon a time' }];

describe('the openai client against lowbit serve', () => {
  it('chat.completions.create, not streaming: OpenAI shapes, usage, finish_reason, the same text as streaming', async () => {
    const reply = await client.chat.completions.create({ model: 'whatever', messages, max_tokens: 12, temperature: 0 });
    expect(reply.object).toBe('chat.completion');
    expect(reply.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(reply.model).toBe(engine.info.name);
    expect(reply.choices).toHaveLength(1);
    expect(reply.choices[0]!.message.role).toBe('assistant');
    expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(reply.choices[0]!.finish_reason).toBe('length');
    expect(reply.usage!.completion_tokens).toBe(12);
    expect(reply.usage!.prompt_tokens).toBe(engine.prepareChat(messages).tokens.length);
    expect(reply.usage!.total_tokens).toBe(reply.usage!.prompt_tokens + 12);

    const stream = await client.chat.completions.create({
      model: 'whatever',
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(reply.choices[0]!.message.content);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    expect(finish[0]!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.choices).toEqual([]);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: reply.usage!.prompt_tokens, completion_tokens: 12 });
  });

  it('completions.create, streaming and not, gives what the engine gives for the prompt', async () => {
    const direct = engine.generate('Once upon a time', { maxTokens: 10, temperature: 0 });
    let expected = '';
    for await (const t of direct) expected += t.text;
    const reply = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
    expect(reply.object).toBe('text_completion');
    expect(reply.id).toMatch(/^cmpl-/);
    expect(reply.choices[0]!.text).toBe(expected);
    expect(reply.usage).toMatchObject({ completion_tokens: 10 });
    const stream = await client.completions.create({
      model: 'x',
      prompt: 'Once upon a time',
      max_tokens: 10,
      temperature: 0,
      stream: true,
    });
    let streamed = '';
    let finish: string | null = null;
    for await (const c of stream) {
      streamed += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(streamed).toBe(expected);
    expect(finish).toBe('length');
    // Token ids work as a prompt too.
    const ids = engine.encodePrompt('Once upon a time');
    const byIds = await client.completions.create({ model: 'x', prompt: ids, max_tokens: 10, temperature: 0 });
    expect(byIds.choices[0]!.text).toBe(expected);
  });

  it('stop strings and seeds reach the engine', async () => {
    const base = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
    const text = base.choices[0]!.text;
    const stop = text.slice(6, 10);
    const cut = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 20, temperature: 0, stop: [stop] });
    expect(cut.choices[0]!.text).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0]!.finish_reason).toBe('stop');
    const sampled = () => client.completions.create({ model: 'x', prompt: 'Once', max_tokens: 16, temperature: 1, seed: 1234 });
    expect((await sampled()).choices[0]!.text).toBe((await sampled()).choices[0]!.text);
  });

  it('max_tokens above the context is capped at it', async () => {
    const reply = await client.chat.completions.create({
      model: 'x',
      messages,
      max_tokens: 1_000_000,
      temperature: 0,
      frequency_penalty: 0.5,
    });
    expect(reply.choices[0]!.finish_reason).toMatch(/^(length|stop)$/);
    expect(reply.usage!.prompt_tokens + reply.usage!.completion_tokens).toBeLessThanOrEqual(CONTEXT + 1);
  });

  it('models.list names the served model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([engine.info.name]);
  });

  it('errors arrive as the client’s typed errors', async () => {
    const bad = client.chat.completions.create({ model: 'x', messages, temperature: 5 });
    await expect(bad).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad).rejects.toMatchObject({ status: 400, param: 'temperature' });
    const long = client.completions.create({ model: 'x', prompt: 'Once upon a time '.repeat(40) });
    await expect(long).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
    const wrongKey = new OpenAI({ baseURL: `${started.base}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(wrongKey.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('two conversations at once on two slots: each as if alone, and a returning one goes to the slot that holds it', async () => {
    const ask = (content: string) =>
      client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content }], max_tokens: 16, temperature: 0 });
    const aloneA = (await ask('The dog')).choices[0]!.message.content;
    const aloneB = (await ask('A girl named Lily')).choices[0]!.message.content;
    const [a, b] = await Promise.all([ask('The dog'), ask('A girl named Lily')]);
    expect(a.choices[0]!.message.content).toBe(aloneA);
    expect(b.choices[0]!.message.content).toBe(aloneB);
    // Continue conversation A: its prompt extends what one slot holds, and that slot serves it.
    const next = [
      { role: 'user' as const, content: 'The dog' },
      { role: 'assistant' as const, content: aloneA! },
      { role: 'user' as const, content: 'And then?' },
    ];
    const firstTurn = engine.prepareChat([{ role: 'user', content: 'The dog' }]).tokens;
    const holder = engine.slots.find((s) => firstTurn.every((t, i) => s.cachedTokens[i] === t))!;
    expect(holder).toBeDefined();
    await client.chat.completions.create({ model: 'x', messages: next, max_tokens: 4, temperature: 0 });
    const nextTokens = engine.prepareChat(next).tokens;
    expect(nextTokens.every((t, i) => holder.cachedTokens[i] === t)).toBe(true);
  });
});
