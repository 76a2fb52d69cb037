// Importance-weighted quantization lowers KL (issue 12 item 4, the AWQ idea measured): the trained
// 3M model quantized with and without test/fixtures/imatrix-3M/imatrix-3M.gguf (a lowbit imatrix
// of heldout.txt's first 20,480 tokens) at Q4_K_M, Q3_K_M and Q2_K, each compared with the F32
// model by `lowbit kl` over text the imatrix never saw (heldout.txt from the first line break after
// character 45,000). Several minutes per row on SwiftShader, so it runs under `npm run test:quality`
// (LOWBIT_FULL_EVAL=imatrix for these rows only), not `npm test`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { haveShared, repoRoot, sharedPath } from '../helpers/fixtures.ts';
import { lowbit } from './lowbit-cli.ts';

const CHUNKS = 40;
const UNSEEN_FROM_CHAR = 45_000;
const wanted = process.env.LOWBIT_FULL_EVAL;
const dir = mkdtempSync(join(tmpdir(), 'lowbit-imatrix-kl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function kl(base: string, quant: string, text: string): Promise<{ kl: number; ppl: number }> {
  const r = await lowbit('kl', base, quant, '-f', text, '-c', '256', '--chunks', String(CHUNKS), '--json');
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { kld: { mean: number }; ppl: { quant: number } };
  return { kl: out.kld.mean, ppl: out.ppl.quant };
}

describe.runIf(haveShared() && (!wanted || wanted === '1' || 'imatrix'.includes(wanted)))('quantizing with an imatrix lowers KL', () => {
  const f32 = () => sharedPath('models/trained-here/tinystories-llama-3M-F32.gguf');
  const imatrix = join(repoRoot, 'test/fixtures/imatrix-3M/imatrix-3M.gguf');
  const unseenText = () => {
    const all = readFileSync(sharedPath('models/trained-here/heldout.txt'), 'utf8');
    const path = join(dir, 'unseen.txt');
    writeFileSync(path, all.slice(all.indexOf('\n', UNSEEN_FROM_CHAR) + 1));
    return path;
  };
  test.each(['Q4_K_M', 'Q3_K_M', 'Q2_K'])(
    '%s',
    async (type) => {
      const plain = join(dir, `plain-${type}.gguf`);
      const weighted = join(dir, `imat-${type}.gguf`);
      expect((await lowbit('quantize', f32(), plain, '--type', type, '-q')).code).toBe(0);
      expect((await lowbit('quantize', f32(), weighted, '--type', type, '--imatrix', imatrix, '-q')).code).toBe(0);
      const text = unseenText();
      const without = await kl(f32(), plain, text);
      const withImatrix = await kl(f32(), weighted, text);
      expect(withImatrix.kl, `KL with the imatrix ${withImatrix.kl} vs without ${without.kl}`).toBeLessThan(without.kl);
    },
    4 * 3600_000,
  );
});
