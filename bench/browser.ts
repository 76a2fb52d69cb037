/**
 * `npm run bench:browser` (not a test): the end-to-end benchmark of `npm run bench` run in headless
 * Chromium's WebGPU instead of Dawn in Node, on the committed fixture models
 * (public/models/tinystories-llama-3M-Q4_K_M.gguf and test/fixtures/models/*.gguf). Prints a
 * markdown table, or with --json one object `{ device, e2e: [rows] }`.
 * Options: --json, --prompt N (128), --decode N (64), --only TEXT (models whose file name contains
 * it; the first model runs on a fresh device, so `--only tinystories` times a page reload's start),
 * --sync-pipelines (create pipelines one by one as the kernels ask, instead of the async warm-up).
 * LOWBIT_CHROMIUM / LOWBIT_BROWSER_GPU choose the browser and adapter (e2e/browser.ts).
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBrowser } from './lib/browser-e2e.ts';
import { browserE2eTable, deviceLine } from './lib/browser-table.ts';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    prompt: { type: 'string', default: '128' },
    decode: { type: 'string', default: '64' },
    only: { type: 'string', default: '' },
    'sync-pipelines': { type: 'boolean', default: false },
  },
});
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (s: string) => process.stderr.write(s + '\n');

const models = [
  join(root, 'public/models/tinystories-llama-3M-Q4_K_M.gguf'),
  ...readdirSync(join(root, 'test/fixtures/models'))
    .filter((f) => f.endsWith('.gguf'))
    .sort()
    .map((f) => join(root, 'test/fixtures/models', f)),
].filter((m) => m.includes(args.only));
const opts = { promptTokens: Number(args.prompt), decodeTokens: Number(args.decode), asyncPipelines: !args['sync-pipelines'] };
const result = await benchBrowser(models, opts, log);

if (args.json) {
  process.stdout.write(JSON.stringify({ ...result, date: new Date().toISOString() }, null, 1) + '\n');
} else {
  const lines = [
    deviceLine(result.device),
    '',
    `End to end in Chromium (${opts.promptTokens}-token prompt, ${opts.decodeTokens} decoded):`,
    '',
    browserE2eTable(result.e2e),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
process.exit(result.e2e.length ? 0 : 1);
