import { describe, expect, it } from 'vitest';
import { commonPrefixLength, QueueFullError, SchedulerClosedError, SlotScheduler } from '../../src/server/slot-scheduler.ts';

class Slot {
  constructor(
    readonly index: number,
    public cachedTokens: number[] = [],
  ) {}
}

describe('SlotScheduler', () => {
  it('gives a prompt the free slot holding its longest prefix', async () => {
    const slots = [new Slot(0, [1, 2, 3]), new Slot(1, [1, 2, 3, 4, 5, 6]), new Slot(2, [9, 9])];
    const s = new SlotScheduler(slots, 0);
    expect((await s.acquire([1, 2, 3, 4, 5, 6, 7, 8])).slot.index).toBe(1);
    expect((await s.acquire([9, 9, 1])).slot.index).toBe(2);
    expect((await s.acquire([1, 2, 3, 4, 5, 6, 7, 8])).slot.index).toBe(0); // the best left
  });

  it('among equal prefixes, takes the slot released longest ago (keeps other conversations cached)', async () => {
    const slots = [new Slot(0), new Slot(1), new Slot(2)];
    const s = new SlotScheduler(slots, 0);
    const a = await s.acquire([1]);
    const b = await s.acquire([2]);
    const c = await s.acquire([3]);
    c.release();
    a.release();
    b.release();
    expect((await s.acquire([7])).slot.index).toBe(c.slot.index);
  });

  it('queues past the slots, first come first served, and refuses past the queue', async () => {
    const s = new SlotScheduler([new Slot(0)], 2);
    const first = await s.acquire([1]);
    const order: string[] = [];
    const second = s.acquire([2]).then((l) => (order.push('second'), l));
    const third = s.acquire([3]).then((l) => (order.push('third'), l));
    expect(s.queued).toBe(2);
    await expect(s.acquire([4])).rejects.toBeInstanceOf(QueueFullError);
    first.release();
    first.release(); // a second release does not hand the slot out twice
    const l2 = await second;
    expect(s.busy).toBe(1);
    expect(s.queued).toBe(1);
    l2.release();
    (await third).release();
    expect(order).toEqual(['second', 'third']);
    expect(s.busy).toBe(0);
  });

  it('a waiter that aborts leaves the queue with its reason; close() refuses the rest', async () => {
    const s = new SlotScheduler([new Slot(0)], 3);
    const held = await s.acquire([1]);
    const controller = new AbortController();
    const leaving = s.acquire([2], controller.signal);
    const staying = s.acquire([3]);
    controller.abort(new Error('client gone'));
    await expect(leaving).rejects.toThrow('client gone');
    expect(s.queued).toBe(1);
    s.close(new SchedulerClosedError('shutting down'));
    await expect(staying).rejects.toBeInstanceOf(SchedulerClosedError);
    await expect(s.acquire([4])).rejects.toBeInstanceOf(SchedulerClosedError);
    held.release();
    expect(s.busy).toBe(0);
  });

  it('commonPrefixLength', () => {
    expect(commonPrefixLength([], [1])).toBe(0);
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefixLength([1, 2], [1, 2, 3])).toBe(2);
  });
});
