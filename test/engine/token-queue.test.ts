import { describe, expect, it } from 'vitest';
import { TokenQueue } from '../../src/engine/token-queue.ts';
import type { GeneratedToken } from '../../src/engine/types.ts';

const tok = (id: number): GeneratedToken => ({ id, text: `t${id}` });

async function drain(it: AsyncIterator<GeneratedToken>): Promise<number[]> {
  const ids: number[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) ids.push(r.value.id);
  return ids;
}

describe('TokenQueue', () => {
  it('yields tokens pushed before and after the consumer waits, in order, then ends', async () => {
    const q = new TokenQueue();
    const it = q.iterator(() => undefined);
    q.push(tok(1), tok(2));
    const waiting = drain(it);
    await Promise.resolve();
    q.push(tok(3));
    setTimeout(() => {
      q.push(tok(4));
      q.end();
    }, 5);
    expect(await waiting).toEqual([1, 2, 3, 4]);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('delivers the buffered tokens before the error, throws it once, then is done', async () => {
    const q = new TokenQueue();
    const it = q.iterator(() => undefined);
    const boom = new Error('device lost');
    q.push(tok(7));
    q.end(boom);
    expect((await it.next()).value).toEqual(tok(7));
    await expect(it.next()).rejects.toBe(boom);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('wakes a consumer already waiting when it fails', async () => {
    const q = new TokenQueue();
    const it = q.iterator(() => undefined);
    const pending = it.next();
    q.end(new RangeError('bad'));
    await expect(pending).rejects.toThrow(RangeError);
  });

  it('leaving the loop early runs onReturn (and waits for it) only while the generation runs', async () => {
    let stops = 0;
    let finished = false;
    const onReturn = async () => {
      stops++;
      await new Promise((r) => setTimeout(r, 5));
      finished = true;
    };
    const q = new TokenQueue();
    q.push(tok(1), tok(2));
    for await (const t of { [Symbol.asyncIterator]: () => q.iterator(onReturn) }) {
      expect(t.id).toBe(1);
      break;
    }
    expect(stops).toBe(1);
    expect(finished).toBe(true);

    const ended = new TokenQueue();
    ended.push(tok(1));
    ended.end();
    for await (const _ of { [Symbol.asyncIterator]: () => ended.iterator(onReturn) }) break;
    expect(stops).toBe(1);
  });
});
