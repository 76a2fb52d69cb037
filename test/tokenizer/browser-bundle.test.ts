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
  test('Vite bundles @mlc-ai/web-tokenizers without node: modules; it tokenizes in Chromium, on the page and in a module Worker', async () => {
    const src = join(repoRoot, 'src');
    writeFileSync(join(dir, 'index.html'), '<!doctype html><pre id="out">loading</pre><script type="module" src="./main.ts"></script>');
    // The same work on the page and in a module Worker (where the engine runs it).
    const work = `import { tokenizerFromGGUF, chatFormatterFor } from '${src}/tokenizer/index.ts';
import { readGGUF } from '${src}/gguf/reader.ts';
import { BufferByteSource } from '${src}/io/byte-source.ts';
export async function run(): Promise<string> {
  try {
    const bytes = new Uint8Array(await (await fetch(new URL('/stories260K.gguf', location.href))).arrayBuffer());
    const tok = await tokenizerFromGGUF(await readGGUF(new BufferByteSource(bytes, 'stories260K.gguf')));
    const ids = tok.encode('Once upon a time 🚀');
    return JSON.stringify({ ids, text: tok.decode(ids), chat: chatFormatterFor(tok).format([{ role: 'user', content: 'Hi' }]).text });
  } catch (e) {
    return 'ERROR ' + String((e as Error).stack ?? e);
  }
}
`;
    writeFileSync(join(dir, 'work.ts'), work);
    writeFileSync(join(dir, 'worker.ts'), `import { run } from './work.ts';\nrun().then((r) => postMessage(r));\n`);
    writeFileSync(
      join(dir, 'main.ts'),
      `import { run } from './work.ts';
const inWorker = new Promise<string>((resolve) => {
  const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  w.onmessage = (e) => resolve(String(e.data));
  w.onerror = (e) => resolve('ERROR worker: ' + e.message);
});
const [page, worker] = await Promise.all([run(), inWorker]);
document.getElementById('out')!.textContent = JSON.stringify({ page, worker });
`,
    );
    const outDir = join(dir, 'dist');
    await build({
      root: dir,
      configFile: false,
      logLevel: 'error',
      build: { outDir, target: 'es2022', emptyOutDir: true, chunkSizeWarningLimit: 8000 },
      worker: { format: 'es' },
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
      const both = JSON.parse((await page.textContent('#out'))!) as { page: string; worker: string };
      const nodeTok = await tokenizerFromFile(localModel('stories260K.gguf'));
      const nodeIds = nodeTok.encode('Once upon a time 🚀');
      nodeTok.dispose();
      for (const [where, text] of Object.entries(both)) {
        if (text.startsWith('ERROR')) throw new Error(`in the browser (${where}): ${text}`);
        const result = JSON.parse(text) as { ids: number[]; text: string; chat: string };
        expect(result.ids).toEqual(nodeIds); // the same ids as in Node
        expect(result).toEqual({
          ids: [1, 403, 407, 261, 378, 410, 243, 162, 157, 131], // the emoji as 4 byte-fallback tokens
          text: 'Once upon a time 🚀',
          chat: 'User: Hi\nAssistant:',
        });
      }
    } finally {
      await browser.close();
    }
  });
});
