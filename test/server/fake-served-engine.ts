/**
 * A ServedEngine for the HTTP tests, without a GPU: each slot is a FakeEngine (scripted replies
 * with a delay, honouring maxTokens, stop strings and abort), and prompts are "tokenized" one
 * character per token so prefix routing has something to compare.
 */
import type { EngineSlot, PreparedPrompt } from '../../src/engine/engine.ts';
import type { ChatMessage, GenerateOptions, TokenStream } from '../../src/engine/types.ts';
import type { ServedEngine } from '../../src/server/server.ts';
import { FakeEngine, type FakeEngineOptions } from '../ui/fake-engine.ts';

export class FakeSlot implements EngineSlot {
  cachedTokens: readonly number[] = [];
  /** Signals of the generations this slot ran, in order. */
  readonly signals: (AbortSignal | undefined)[] = [];
  running = 0;
  constructor(
    readonly index: number,
    readonly engine: FakeEngine,
  ) {}
  run(prompt: PreparedPrompt, signal?: AbortSignal): TokenStream {
    this.signals.push(signal);
    this.cachedTokens = prompt.tokens;
    this.running++;
    const stream = this.engine.generate([...prompt.tokens], { ...prompt.options, stop: [...prompt.stops], signal });
    void stream.stats.finally(() => this.running--).catch(() => undefined);
    return stream;
  }
}

export class FakeServedEngine implements ServedEngine {
  readonly slots: FakeSlot[];
  readonly info;
  constructor(slotCount = 1, options: FakeEngineOptions = {}) {
    this.slots = Array.from({ length: slotCount }, (_, i) => new FakeSlot(i, new FakeEngine(options)));
    this.info = this.slots[0]!.engine.info;
  }
  /** A device loss acted out on the first slot's engine (FakeEngine.loseDevice). */
  get lost(): Promise<Error> {
    return this.slots[0]!.engine.lost;
  }
  prepareChat(messages: readonly ChatMessage[], options: GenerateOptions = {}): PreparedPrompt {
    return this.prepareGenerate(messages.map((m) => `${m.role}: ${m.content}\n`).join(''), options);
  }
  prepareGenerate(prompt: string | readonly number[], options: GenerateOptions = {}): PreparedPrompt {
    const tokens = typeof prompt === 'string' ? [...prompt].map((c) => c.codePointAt(0)! % 512) : prompt;
    return { tokens, options, stops: options.stop ?? [] };
  }
}
