// How <llm-chat> shows network trouble: "retrying (2/6)…" while a download retries, a plain
// sentence for a failed download with the URL and the technical cause folded under "Details", and
// the offline message. Screenshots go to e2e/artifacts/.
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { join } from 'node:path';
import { useBrowserSuite } from './harness.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const suite = useBrowserSuite();

/** Mounts an <llm-chat> whose loader reports one retry, then fails with `errorName` when told to. */
async function mountFailingLoad(errorName: 'DownloadError' | 'OfflineError', message: string): Promise<Page> {
  const { page } = await suite.openPage('/e2e/pages/chat.html', { viewport: { width: 720, height: 560 } });
  await page.evaluate(
    ({ errorName, message }) => {
      const { errors } = window.lowbitTest;
      const w = window as unknown as { fail: () => void };
      const el = document.createElement('llm-chat');
      el.loader = async (_source, options) => {
        options.onProgress?.({ phase: 'download', bytesDone: 0, bytesTotal: 0, retry: { attempt: 2, of: 6 } });
        await new Promise<void>((r) => (w.fail = r));
        throw new errors[errorName](message);
      };
      el.model = 'https://models.example/m.gguf';
      document.body.append(el);
    },
    { errorName, message },
  );
  return page;
}

test('a retrying download says so; the failure is one plain sentence with the URL and cause under Details', async () => {
  const p = await mountFailingLoad('DownloadError', 'https://models.example/m.gguf: bytes 0- failed after 6 attempts: Failed to fetch');
  const phase = p.locator('llm-chat [part~="progress"] .phase');
  await phase.waitFor();
  expect(await phase.innerText()).toBe('Connecting… retrying (2/6)…');
  await p.evaluate(() => (window as unknown as { fail: () => void }).fail());
  await p.waitForSelector('llm-chat[state="error"]');
  const box = p.locator('llm-chat [part~="error"]');
  expect(await box.locator('strong').innerText()).toBe('The model could not be downloaded');
  expect(await box.locator('.detail').innerText()).toBe('The server could not be reached, even after several tries.');
  // The URL and the cause are folded away until asked for.
  const details = box.locator('details.technical');
  expect(await details.getAttribute('open')).toBeNull();
  expect(await box.innerText()).not.toContain('Failed to fetch');
  await details.locator('summary').click();
  expect(await details.innerText()).toContain('https://models.example/m.gguf: bytes 0- failed after 6 attempts: Failed to fetch');
  await p.locator('llm-chat').screenshot({ path: join(ARTIFACTS, 'chat-download-failed.png') });
});

test('offline: "You\'re offline — this model isn\'t downloaded yet"', async () => {
  const p = await mountFailingLoad('OfflineError', "You're offline — this model isn't downloaded yet (https://models.example/m.gguf)");
  await p.evaluate(() => (window as unknown as { fail: () => void }).fail());
  await p.waitForSelector('llm-chat[state="error"]');
  const box = p.locator('llm-chat [part~="error"]');
  expect(await box.locator('strong').innerText()).toBe("You're offline — this model isn't downloaded yet");
  expect(await box.locator('.hint').innerText()).toContain('cached');
});

test('the missing Content-Range of a cross-origin server is named, with the headers to expose', async () => {
  const p = await mountFailingLoad(
    'DownloadError',
    'https://models.example/m.gguf: 206 answer with no Content-Range header the page can read: the server must expose Content-Range, Content-Length, ETag (CORS Access-Control-Expose-Headers); see README',
  );
  await p.evaluate(() => (window as unknown as { fail: () => void }).fail());
  await p.waitForSelector('llm-chat[state="error"]');
  expect(await p.locator('llm-chat [part~="error"] .detail').innerText()).toContain(
    'must expose the Content-Range, Content-Length and ETag headers',
  );
});
