/**
 * A Server-Sent Events parser (the WHATWG "event stream" format) for replies of OpenAI-compatible
 * servers, which are hostile input: a line, and the data of one event, may not grow past
 * `maxLineChars`, and the stream may not carry more than `maxEvents` events. Text goes in as it
 * arrives (any chunk boundaries, CR / LF / CRLF line ends, even a CRLF split across two chunks);
 * complete events come out. Nothing it reads is evaluated: the data is handed on as a string.
 */
import { RemoteProtocolError } from '../errors.ts';

export interface SseEvent {
  /** The `event:` field, 'message' when the event has none. */
  event: string;
  /** The `data:` lines of the event, joined by '\n'. */
  data: string;
}

export interface SseLimits {
  /** Longest line, and longest data of one event, in characters. */
  maxLineChars: number;
  /** Most events in one stream (comments and blank lines do not count). */
  maxEvents: number;
}

export class SseParser {
  /** The unfinished line at the end of what arrived so far. */
  private partial = '';
  /** The last chunk ended in CR: a LF opening the next chunk belongs to the same line end. */
  private afterCR = false;
  private started = false;
  private dataLines: string[] = [];
  private dataChars = 0;
  private eventType = '';
  private events = 0;

  constructor(private readonly limits: SseLimits) {}

  /** Feeds decoded text; returns the events it completed. */
  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    // Nothing new (a decoder holding back half a character): a CR that ended the last piece still waits for its LF.
    if (!text) return out;
    let i = 0;
    if (!this.started && text.length) {
      this.started = true;
      // A byte-order mark at the very start is not part of the first line.
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    if (this.afterCR && text[i] === '\n') i++;
    this.afterCR = false;
    while (i < text.length) {
      const cr = text.indexOf('\r', i);
      const lf = text.indexOf('\n', i);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) {
        this.partial += text.slice(i);
        this.checkLine(this.partial.length);
        break;
      }
      this.checkLine(this.partial.length + end - i);
      const line = this.partial + text.slice(i, end);
      this.partial = '';
      i = end + 1;
      if (text[end] === '\r') {
        if (i === text.length) this.afterCR = true;
        else if (text[i] === '\n') i++;
      }
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  /**
   * The stream ended. An event not closed by a blank line is dropped, as the format says; the
   * caller decides whether an ending without its terminator is an error.
   */
  end(): void {
    this.partial = '';
    this.dataLines = [];
    this.dataChars = 0;
  }

  private checkLine(chars: number): void {
    if (chars > this.limits.maxLineChars) {
      throw new RemoteProtocolError(`the server sent a line longer than ${this.limits.maxLineChars} characters`);
    }
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length + 1;
      if (this.dataChars > this.limits.maxLineChars) {
        throw new RemoteProtocolError(`the server sent an event with more than ${this.limits.maxLineChars} characters of data`);
      }
      this.dataLines.push(value);
    } else if (field === 'event') {
      this.eventType = value;
    }
    // id and retry steer reconnection, which this client never does; other fields are ignored.
    return null;
  }

  private dispatch(): SseEvent | null {
    const type = this.eventType || 'message';
    this.eventType = '';
    if (!this.dataLines.length) return null;
    const data = this.dataLines.join('\n');
    this.dataLines = [];
    this.dataChars = 0;
    if (++this.events > this.limits.maxEvents) {
      throw new RemoteProtocolError(`the server sent more than ${this.limits.maxEvents} events in one reply`);
    }
    return { event: type, data };
  }
}
