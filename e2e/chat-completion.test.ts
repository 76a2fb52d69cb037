// <llm-chat> with a completion (story) model: the placeholder follows the state, the echoed prompt
// is muted (span.prompt-echo, the muted colour), and the mode is labelled. Screenshot in e2e/artifacts/.
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

test('story model: placeholder by state, muted prompt echo, "Story continuation — each turn starts fresh"', async () => {
  const { page: p, errors } = await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 720, height: 560 } });
  await p.evaluate(() => {
    const { FakeEngine, fakeLoader, toTokens, errors } = window.lowbitTest;
    const w = window as unknown as { release: () => void; failNext: boolean };
    w.failNext = false;
    const el = document.createElement('llm-chat');
    el.loader = async (source, options) => {
      await new Promise<void>((r) => (w.release = r));
      if (w.failNext) throw new errors.GGUFFormatError('bad magic', 0, 'magic');
      const engine = new FakeEngine({
        delayMs: 2,
        info: { name: 'story.gguf', hasChatTemplate: false },
        reply: () => ({ tokens: toTokens(' there was a **little** dog.') }),
      });
      return fakeLoader({ engine, steps: 1, stepMs: 1 })(source, options);
    };
    el.model = '/models/story.gguf';
    document.body.append(el);
  });
  const textarea = p.locator('llm-chat textarea');
  await p.waitForSelector('llm-chat[state="loading"]');
  expect(await textarea.getAttribute('placeholder')).toBe('Loading the model…');
  await p.evaluate(() => (window as unknown as { release: () => void }).release());
  await p.waitForSelector('llm-chat[state="ready"]');
  expect(await textarea.getAttribute('placeholder')).toBe('Write the beginning of a story…');
  expect(await p.locator('llm-chat .mode-note').innerText()).toBe('Story continuation — each turn starts fresh');
  await textarea.fill('Once upon a time');
  await textarea.press('Enter');
  await p.waitForSelector('llm-chat[state="ready"] .stats');
  const md = p.locator('llm-chat .msg.assistant .md');
  expect(await md.innerText()).toBe('Once upon a time there was a little dog.');
  const echo = md.locator('.prompt-echo');
  expect((await echo.allInnerTexts()).join('').replace(/\s+/g, ' ').trim()).toBe('Once upon a time');
  const colours = await p.locator('llm-chat').evaluate((el: HTMLElement) => {
    const root = el.shadowRoot!;
    const echoColour = getComputedStyle(root.querySelector('.prompt-echo')!).color;
    const bodyColour = getComputedStyle(root.querySelector('.md strong')!).color;
    return { echoColour, bodyColour };
  });
  expect(colours.echoColour).not.toBe(colours.bodyColour);
  await p.locator('llm-chat').screenshot({ path: join(ARTIFACTS, 'chat-story-echo.png') });
  // A failed load: the box does not invite typing.
  await p.evaluate(() => {
    const w = window as unknown as { failNext: boolean };
    w.failNext = true;
    void document.querySelector('llm-chat')!.load();
  });
  await p.waitForSelector('llm-chat[state="loading"]');
  await p.evaluate(() => (window as unknown as { release: () => void }).release());
  await p.waitForSelector('llm-chat[state="error"]');
  expect(await textarea.getAttribute('placeholder')).toBe('No model is ready');
  expect(errors).toEqual([]);
});
