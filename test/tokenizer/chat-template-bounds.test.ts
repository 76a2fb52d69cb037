/**
 * A chat template comes from the model file, so it is hostile input: rendering must end, quickly,
 * with a ChatTemplateError for templates that loop (almost) forever or build huge strings or
 * lists, and real templates must stay far inside the budget.
 */
import { describe, expect, test } from 'vitest';
import { ChatTemplateError } from '../../src/errors.ts';
import { CHATML_TEMPLATE, ChatTemplate, MAX_TEMPLATE_STEPS, TEMPLATE_STEPS_PER_MESSAGE } from '../../src/tokenizer/chat-template.ts';

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi' },
];

function renderError(source: string): { error: unknown; ms: number } {
  const t0 = performance.now();
  try {
    new ChatTemplate(source).render(messages);
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
  return { error: undefined, ms: performance.now() - t0 };
}

describe('hostile chat templates are bounded', () => {
  test.each([
    [
      'nested loops (10^10 iterations)',
      '{% for i in range(100000) %}{% for j in range(100000) %}{{ "" }}{% endfor %}{% endfor %}',
      /did not finish within \d+ steps/,
    ],
    [
      'loops that break at once over a long list',
      '{% set r = range(100000) %}{% for a in r %}{% for b in r %}{% break %}{% endfor %}{% endfor %}',
      /did not finish within \d+ steps/,
    ],
    [
      'a filtered loop over a long list',
      '{% set r = range(100000) %}{% for a in r %}{% for b in r if false %}{% endfor %}{% endfor %}',
      /did not finish within \d+ steps/,
    ],
    ['a huge range', '{% for i in range(10**9) %}{% endfor %}', /range\(\) is longer than the 100000 items/],
    [
      'a loop over a reused list (10^9 iterations)',
      '{% set r = range(1000) %}{% for a in r %}{% for b in r %}{% for c in r %}{% endfor %}{% endfor %}{% endfor %}',
      /did not finish within \d+ steps/,
    ],
    [
      'a string doubled 40 times',
      "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
      /built a value of \d+ characters, over the \d+ limit/,
    ],
    [
      'a list doubled 40 times',
      '{% set ns = namespace(l=[1, 2, 3, 4]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}',
      /built a value of \d+ items, over the 100000 limit/,
    ],
    ['endless recursion', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}', /chat template/],
  ])('%s: ChatTemplateError within seconds', (_, source, message) => {
    const { error, ms } = renderError(source);
    expect(error).toBeInstanceOf(ChatTemplateError);
    expect((error as Error).message).toMatch(message);
    expect(ms).toBeLessThan(10_000);
  });

  test('a real template with a long conversation renders well within the budget', () => {
    const long = Array.from({ length: 2000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `message ${i} `.repeat(50) }));
    const text = new ChatTemplate(CHATML_TEMPLATE).render(long);
    expect(text.split('<|im_start|>')).toHaveLength(2002);
    expect(MAX_TEMPLATE_STEPS + TEMPLATE_STEPS_PER_MESSAGE * long.length).toBeGreaterThan(100 * long.length);
  });
});
