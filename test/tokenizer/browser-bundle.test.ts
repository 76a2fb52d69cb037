/**
 * The browser path of web-tokenizers.ts: a Vite production build of a page that builds a
 * tokenizer from a GGUF must contain no Node-only module, and must tokenize in Chromium.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { build } from 'vite';
import { afterAll, describe, expect, test } from 'vitest';
import { launchBrowser } from '../../e2e/browser.ts';
import { localModel, repoRoot } from '../helpers/fixtures.ts';
import { tokenizerFromFile } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'lowbit-tok-browser-'));
let server: Server | undefined;
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.gguf': 'application/octet-stream' };

function serve(root: string): Promise<number> {
  return new Promise((resolve) => {
    server = createServer((req, res) => {
      const path = join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      try {
        const body = readFileSync(path);
        res.writeHead(200, { 'content-type': MIME[extname(path)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    server.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port));
  });
}

describe('tokenizer in a browser bundle', () => {
  test('Vite bundles @mlc-ai/web-tokenizers without node: modules and it tokenizes in Chromium', async () => {
    const src = join(repoRoot, 'src');
    writeFileSync(join(dir, 'index.html'), '<!doctype html><pre id="out">loading</pre><script type="module" src="./main.ts"></script>');
    writeFileSync(
      join(dir, 'main.ts'),
      `import { tokenizerFromGGUF, chatFormatterFor } from '${src}/tokenizer/index.ts';
import { readGGUF } from '${src}/gguf/reader.ts';
import { BufferByteSource } from '${src}/io/byte-source.ts';
const out = document.getElementById('out')!;
try {
  const bytes = new Uint8Array(await (await fetch('./stories260K.gguf')).arrayBuffer());
  const tok = await tokenizerFromGGUF(await readGGUF(new BufferByteSource(bytes, 'stories260K.gguf')));
  const ids = tok.encode('Once upon a time 🚀');
  out.textContent = JSON.stringify({ ids, text: tok.decode(ids), chat: chatFormatterFor(tok).format([{ role: 'user', content: 'Hi' }]).text });
} catch (e) { out.textContent = 'ERROR ' + String((e as Error).stack ?? e); }
`,
    );
    const outDir = join(dir, 'dist');
    await build({
      root: dir,
      configFile: false,
      logLevel: 'error',
      build: { outDir, target: 'es2022', emptyOutDir: true, chunkSizeWarningLimit: 8000 },
    });
    copyFileSync(localModel('stories260K.gguf'), join(outDir, 'stories260K.gguf'));
    const chunks = readdirSync(join(outDir, 'assets')).filter((f) => f.endsWith('.js'));
    for (const c of chunks) {
      const code = readFileSync(join(outDir, 'assets', c), 'utf8');
      // booleans, not toMatch: a failure must not print megabytes of minified code
      expect(/from\s*["']node:|import\(\s*["']node:/.test(code), `${c} imports a node: module`).toBe(false);
      // the Node loader (web-tokenizers-node.ts) stays out of the bundle; only its name is there
      expect(code.includes('_nodeModulePaths'), `${c} contains the Node loader`).toBe(false);
    }

    const port = await serve(outDir);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/index.html`);
      await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'loading', null, { timeout: 60_000 });
      const text = (await page.textContent('#out'))!;
      if (text.startsWith('ERROR')) throw new Error(`in the browser: ${text}`);
      const result = JSON.parse(text) as { ids: number[]; text: string; chat: string };
      // the same ids as in Node
      const nodeTok = await tokenizerFromFile(localModel('stories260K.gguf'));
      expect(result.ids).toEqual(nodeTok.encode('Once upon a time 🚀'));
      nodeTok.dispose();
      expect(result).toEqual({
        ids: [1, 403, 407, 261, 378, 410, 243, 162, 157, 131], // the emoji as 4 byte-fallback tokens
        text: 'Once upon a time 🚀',
        chat: 'User: Hi\nAssistant:',
      });
    } finally {
      await browser.close();
    }
  });
});
