import { describe, expect, test } from 'vitest';
import { StopMatcher } from '../../src/runtime/stop.ts';

function run(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) {
    const r = m.push(p);
    out += r.emit;
    if (r.stopped) return { out, stopped: true };
  }
  return { out: out + m.flush(), stopped: false };
}

describe('StopMatcher', () => {
  test('no stops passes text straight through', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
  test('stop string inside one piece cuts there', () => {
    expect(run(['END'], ['hello END world'])).toEqual({ out: 'hello ', stopped: true });
  });
  test('stop string split across pieces is never partly emitted', () => {
    const m = new StopMatcher(['\nUser:']);
    expect(m.push('Hi there\nUs')).toEqual({ emit: 'Hi there', stopped: false });
    expect(m.push('er:')).toEqual({ emit: '', stopped: true });
  });
  test('a held-back prefix that does not complete is released', () => {
    const m = new StopMatcher(['\nUser:']);
    expect(m.push('a\nU').emit).toBe('a');
    expect(m.push('nder the sea').emit).toBe('\nUnder the sea');
  });
  test('earliest of several stop strings wins', () => {
    expect(run(['bb', 'a'], ['xxbba'])).toEqual({ out: 'xx', stopped: true });
  });
  test('flush returns held text at the end', () => {
    expect(run(['STOP'], ['the ST'])).toEqual({ out: 'the ST', stopped: false });
  });
});
