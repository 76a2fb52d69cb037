import { describe, expect, test } from 'vitest';
import { RemoteProtocolError } from '../../src/errors.ts';
import { SseParser, type SseEvent } from '../../src/engine/sse.ts';

const LIMITS = { maxLineChars: 1024, maxEvents: 100 };

/** Feeds `pieces` one after the other and returns every event. */
function parse(pieces: string[], limits = LIMITS): SseEvent[] {
  const parser = new SseParser(limits);
  const out = pieces.flatMap((p) => parser.push(p));
  parser.end();
  return out;
}

const STREAM = 'data: {"a":1}\n\n: keep-alive\n\nevent: note\ndata: first\ndata:second\n\ndata: [DONE]\n\n';
const EXPECTED: SseEvent[] = [
  { event: 'message', data: '{"a":1}' },
  { event: 'note', data: 'first\nsecond' },
  { event: 'message', data: '[DONE]' },
];

describe('SseParser', () => {
  test('events, comments, event types and multi-line data', () => {
    expect(parse([STREAM])).toEqual(EXPECTED);
  });

  test('the same events whatever the chunk boundaries (every split point, and one character at a time)', () => {
    for (let i = 0; i <= STREAM.length; i++) expect(parse([STREAM.slice(0, i), STREAM.slice(i)])).toEqual(EXPECTED);
    expect(parse([...STREAM])).toEqual(EXPECTED);
  });

  test('CRLF and CR line ends, a CRLF split across chunks, and a BOM at the start', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    expect(parse(['\ufeff' + crlf])).toEqual(EXPECTED);
    for (let i = 0; i <= crlf.length; i++) expect(parse([crlf.slice(0, i), crlf.slice(i)])).toEqual(EXPECTED);
    expect(parse([STREAM.replace(/\n/g, '\r')])).toEqual(EXPECTED);
    // A CR at a chunk's end followed by a LF is one line end, not a line end and an empty line.
    expect(parse(['data: a\r', '\ndata: b\r\n\r\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
    // An empty piece between them (a decoder holding back half a character) changes nothing.
    expect(parse(['data: a\r', '', '\ndata: b\r\n\r\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  test('field rules: no space after the colon, a field without a colon, id/retry and unknown fields ignored', () => {
    expect(parse(['data:x\nid: 7\nretry: 10\nfoo: bar\ndata\n\n'])).toEqual([{ event: 'message', data: 'x\n' }]);
    // An event type without data dispatches nothing and does not leak into the next event.
    expect(parse(['event: ping\n\ndata: y\n\n'])).toEqual([{ event: 'message', data: 'y' }]);
  });

  test('an event not closed by a blank line before the end is dropped', () => {
    expect(parse(['data: complete\n\ndata: cut'])).toEqual([{ event: 'message', data: 'complete' }]);
  });

  test('a line over the limit is refused, also when it arrives in small pieces and never ends', () => {
    expect(() => parse(['data: ' + 'x'.repeat(2000) + '\n\n'])).toThrow(RemoteProtocolError);
    const parser = new SseParser(LIMITS);
    expect(() => {
      for (let i = 0; i < 10_000; i++) parser.push('xxxxxxxx');
    }).toThrow(/longer than 1024 characters/);
    // At the limit exactly is fine.
    expect(parse(['data:' + 'x'.repeat(1019) + '\n\n'])[0]!.data).toHaveLength(1019);
  });

  test("an event's data is bounded too, however short its lines", () => {
    expect(() => parse(['data: xxxxxxxxxx\n'.repeat(200) + '\n'])).toThrow(/more than 1024 characters of data/);
  });

  test('the number of events is bounded (items, not only bytes)', () => {
    expect(parse(['data: 1\n\n'.repeat(100)])).toHaveLength(100);
    expect(() => parse(['data: 1\n\n'.repeat(101)])).toThrow(/more than 100 events/);
    // Comments and empty lines are not events.
    expect(parse([':\n\n'.repeat(1000) + 'data: 1\n\n'])).toHaveLength(1);
  });
});
