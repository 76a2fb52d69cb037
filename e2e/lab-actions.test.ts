// The quantization lab's Cancel and Chat buttons in Chromium (issue 12 item 5): Cancel pressed
// while a type is being quantized leaves no model and no chunk of it in IndexedDB, and the page
// quantizes again afterwards; that result's Chat button opens the demo on it, which answers a
// prompt. The smallest base (the 3M F16 fixture) and one chunk of 16 tokens keep it short.
import { describe, expect, test } from 'vitest';
import { haveShared, sharedPath } from '../test/helpers/fixtures.ts';
import { askDemo, waitForLoadedModel } from './demo-helpers.ts';
import { useBrowserSuite } from './harness.ts';
import { chunkRecords, manifestIds } from './idb-records.ts';
import { pickTypes, rowStatus } from './lab-helpers.ts';

/** The type cancelled: Q2_K's scale searches make it the slowest to quantize, so easiest to catch mid-way. */
const CANCELLED = 'Q2_K';
const KEPT = 'Q8_0';
const KEPT_ID = `tinystories-llama-3M-lab-${KEPT}.gguf`;

describe.skipIf(!haveShared())('quantization lab: Cancel and Chat', () => {
  const suite = useBrowserSuite();

  test('Cancel mid-quantization leaves nothing stored and the page works on; Chat opens the demo on a result', async () => {
    const { page, errors } = await suite.openPage('/lab.html');
    await page
      .locator('input[aria-label="Open a base model file"]')
      .setInputFiles(sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf'));
    await page.locator('input[name="ctx"]').fill('16');
    await page.locator('input[name="chunks"]').fill('1');
    await pickTypes(page, [CANCELLED]);
    const quantize = page.getByRole('button', { name: 'Quantize and measure' });
    await quantize.click();

    // Cancel is pressed once the bar is between 0 and 100 % and the result's manifest is in
    // IndexedDB (so there is a model being written to delete), the bar checked again just before
    // the click: the quantizer cannot finish in between, so the cancel always lands mid-way.
    const cancelAtMidWay = () =>
      page.evaluate(async (label) => {
        const root = document.querySelector('lowbit-lab')!.shadowRoot!;
        const bar = root.querySelector<HTMLProgressElement>(`progress[aria-label="${label} quantizing"]`);
        const midWay = () => !!bar?.isConnected && bar.value > 0 && bar.value < 1;
        if (!midWay()) return null;
        // The page listed the store on load, so the database exists with its object store.
        const manifests = await new Promise<number>((resolve) => {
          const open = indexedDB.open('lowbit-manifests');
          open.onerror = () => resolve(0);
          open.onsuccess = () => {
            const db = open.result;
            const count = db.transaction('manifests').objectStore('manifests').count();
            count.onsuccess = () => (db.close(), resolve(count.result));
            count.onerror = () => (db.close(), resolve(0));
          };
        });
        if (manifests === 0 || !midWay()) return null;
        [...root.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Cancel')!.click();
        return bar!.value;
      }, CANCELLED);
    let cancelledAt: number | null = null;
    for (const deadline = Date.now() + 300_000; cancelledAt === null && Date.now() < deadline;) cancelledAt = await cancelAtMidWay();
    if (cancelledAt === null) throw new Error(`${CANCELLED} was never seen mid-way with its manifest stored`);
    expect(cancelledAt).toBeLessThan(1);
    console.log(`lab actions e2e: ${CANCELLED} cancelled at ${(100 * cancelledAt).toPrecision(3)} %`);
    await expect.poll(() => quantize.isEnabled(), { timeout: 60_000, interval: 200 }).toBe(true);
    expect(await rowStatus(page, CANCELLED)).toBe('cancelled');
    expect(await page.locator('[role="alert"]').innerText()).toMatch(/^Cancelled/);
    expect(await manifestIds(page)).toEqual([]);
    expect(await chunkRecords(page)).toBe(0);
    expect(await page.locator('select[aria-label="Base model"] option').allInnerTexts()).toEqual([
      'Choose a stored model…',
      expect.stringMatching(/^From disk/),
    ]);

    // The page works on: another type quantizes, is measured and is the only model stored.
    await pickTypes(page, [KEPT]);
    await quantize.click();
    await expect.poll(() => rowStatus(page, KEPT), { timeout: 300_000, interval: 500 }).toBe('done');
    expect(await page.locator('[role="alert"]').innerText()).toBe('');
    expect(await manifestIds(page)).toEqual([KEPT_ID]);

    // Chat in one click: the demo opens on that stored result and answers, streaming.
    await page.getByRole('button', { name: `Chat with ${KEPT_ID}` }).click();
    // The details line names the model by its metadata (general.name), shared with the bundled
    // Q4_K_M: the picker's stored id and the tensor types say which file runs.
    await waitForLoadedModel(page, `Q8_0×`, 120_000);
    expect(await page.locator('select[aria-label="Model"]').inputValue()).toBe(`stored:${KEPT_ID}`);
    expect(await page.locator('[aria-label="Model details"]').innerText()).not.toMatch(/Q4_K×/);
    await page.waitForSelector('llm-chat[state="ready"]', { timeout: 120_000 });
    await page.evaluate(() => {
      const chat = document.querySelector('lowbit-demo')!.shadowRoot!.querySelector('llm-chat')!.shadowRoot!;
      const seen: number[] = [];
      (window as unknown as { replyLengths: number[] }).replyLengths = seen;
      new MutationObserver(() => {
        const replies = chat.querySelectorAll('.msg.assistant .md');
        const n = replies[replies.length - 1]?.textContent?.length ?? 0;
        if (n > 0 && n !== seen[seen.length - 1]) seen.push(n);
      }).observe(chat, { subtree: true, childList: true, characterData: true });
    });
    const reply = await askDemo(page, 'Once upon a time', 1, 120_000);
    expect(reply.trim()).not.toBe('');
    const lengths = await page.evaluate(() => (window as unknown as { replyLengths: number[] }).replyLengths);
    // Streamed: the reply was shown growing, not only at the end.
    expect(lengths.length, `reply lengths seen: ${lengths.join(',')}`).toBeGreaterThan(1);
    console.log(`lab actions e2e: ${KEPT} replied ${JSON.stringify(reply.slice(0, 80))} (${lengths.length} partial renders)`);
    expect(errors).toEqual([]);
  }, 600_000);
});
