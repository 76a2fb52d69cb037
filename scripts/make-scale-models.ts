/**
 * `npm run make:scale-models [-- --only NAME[,NAME…]] [--force] [--threads N]`: writes the
 * random-weight scale models (recipes in scale-models/recipes.ts) to the cache directory
 * (LOWBIT_SCALE_DIR, default .cache/scale-models), skipping files that are already current.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatBytes } from '../src/format.ts';
import { NodeQuantizePool } from '../src/quant/node-quantize-pool.ts';
import { generateScaleModel, scaleModelDir } from './scale-models/generate.ts';
import { SCALE_RECIPES } from './scale-models/recipes.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { only: { type: 'string' }, force: { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log(
    `Usage: npm run make:scale-models -- [--only NAME[,NAME...]] [--force] [--threads N]\nModels: ${SCALE_RECIPES.map((r) => r.name).join(', ')}`,
  );
  process.exit(0);
}
const only = values.only?.split(',').map((s) => s.trim());
const unknown = only?.filter((n) => !SCALE_RECIPES.some((r) => r.name === n)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown scale model(s): ${unknown.join(', ')}; known: ${SCALE_RECIPES.map((r) => r.name).join(', ')}`);
  process.exit(2);
}
const threads = values.threads === undefined ? undefined : Number(values.threads);
if (threads !== undefined && !(Number.isSafeInteger(threads) && threads >= 1 && threads <= 256)) {
  console.error('--threads must be an integer from 1 to 256');
  process.exit(2);
}
const dir = scaleModelDir(repoRoot);
mkdirSync(dir, { recursive: true });
const pool = new NodeQuantizePool(threads);
try {
  for (const r of SCALE_RECIPES.filter((x) => !only || only.includes(x.name))) {
    const res = await generateScaleModel(r, dir, pool, { force: values.force });
    console.log(
      `${r.name}: ${res.generated ? `written in ${res.seconds.toFixed(1)} s` : 'current, kept'} (${formatBytes(res.bytes)}) ${res.path}`,
    );
  }
} finally {
  await pool.close();
}
