// lowbit perplexity and lowbit kl against llama-perplexity's own tables (issue 12 items 2–3):
// ../shared/fixtures/models/trained-here/PROVENANCE.md ("Quality vs bits", heldout.txt, -c 256,
// all 350 chunks) and importance-quantized/PROVENANCE.md (the same, --chunks 100). Targets: PPL
// within 0.5 %, mean KL within 10 % relative, same-top-1 within 0.5 points.
//
// Each row evaluates 89,600 tokens through two models: about half an hour per row on SwiftShader
// on a busy 2-core machine, so the table is not part of `npm test`: `npm run test:quality` runs
// every row, and LOWBIT_FULL_EVAL=<substring of a row's file> only those rows.
//
// Measured so far: the Q4_K_M 100-chunk row passes (PPL +0.008 %, KL −3.9 %, top-1 +0.05 points).
// Where the weights' error is tiny (F16, Q8_0, TQ1_0/TQ2_0, whose ternary weights are exact),
// llama.cpp's KL is mostly its CPU path's 8-bit activation quantization, which lowbit does not
// do: on 20 chunks lowbit's Q8_0 KL is 0.000033 against llama.cpp's 0.000089, so those rows
// are expected to miss the 10 % KL target (and only those).
import { describe, expect, test } from 'vitest';
import { haveShared, sharedFixtures } from '../helpers/fixtures.ts';
import { lowbit } from './lowbit-cli.ts';

interface Row {
  base: string;
  quant: string;
  chunks?: number;
  ppl: number;
  basePpl: number;
  kl: number;
  sameTop: number;
}

const LLAMA = 'tinystories-llama-3M-F32.gguf';
const BITNET = 'tinystories-bitnet-3M-F32.gguf';
const dir = 'models/trained-here';

// Copied from the PROVENANCE.md tables (llama.cpp c392e509, CPU).
const ROWS: Row[] = [
  { base: LLAMA, quant: 'tinystories-llama-3M-F16.gguf', ppl: 5.2035, basePpl: 5.2035, kl: 0.0000004, sameTop: 99.99 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q8_0.gguf', ppl: 5.2037, basePpl: 5.2035, kl: 0.000089, sameTop: 99.45 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q6_K-pure.gguf', ppl: 5.2071, basePpl: 5.2035, kl: 0.000531, sameTop: 98.45 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q5_K-pure.gguf', ppl: 5.2148, basePpl: 5.2035, kl: 0.00166, sameTop: 97.27 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q4_K_M.gguf', ppl: 5.2282, basePpl: 5.2035, kl: 0.004314, sameTop: 95.9 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q4_K-pure.gguf', ppl: 5.2395, basePpl: 5.2035, kl: 0.006135, sameTop: 94.99 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q4_0.gguf', ppl: 5.2329, basePpl: 5.2035, kl: 0.007151, sameTop: 94.8 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q2_K.gguf', ppl: 5.6379, basePpl: 5.2035, kl: 0.080125, sameTop: 83.8 },
  { base: BITNET, quant: 'tinystories-bitnet-3M-TQ2_0.gguf', ppl: 5.4094, basePpl: 5.4072, kl: 0.000374, sameTop: 98.71 },
  { base: BITNET, quant: 'tinystories-bitnet-3M-TQ1_0.gguf', ppl: 5.4094, basePpl: 5.4072, kl: 0.000374, sameTop: 98.71 },
  // importance-quantized/PROVENANCE.md, 100 chunks
  { base: LLAMA, quant: 'tinystories-llama-3M-Q4_K_M.gguf', chunks: 100, ppl: 5.3156, basePpl: 5.2891, kl: 0.004297, sameTop: 95.866 },
  { base: LLAMA, quant: 'tinystories-llama-3M-Q2_K.gguf', chunks: 100, ppl: 5.723, basePpl: 5.2891, kl: 0.079155, sameTop: 83.551 },
];

const wanted = process.env.LOWBIT_FULL_EVAL;
const selected = (r: Row) => !wanted || wanted === '1' || `${r.quant}@${r.chunks ?? 350}`.includes(wanted);
const ROW_TIMEOUT = 4 * 3600_000;

describe('the llama-perplexity tables, row by row', () => {
  test('the fixture tables are present (../shared/fixtures)', () => {
    expect(haveShared(), 'the fixture models and heldout.txt live in ../shared/fixtures, which is absent').toBe(true);
  });
  test.each(ROWS.filter(selected).map((r) => [`${r.quant} vs ${r.base}, ${r.chunks ?? 'all'} chunks`, r] as const))(
    '%s',
    async (_name, row) => {
      const at = (f: string) => `${sharedFixtures}/${dir}/${f}`;
      const args = ['kl', at(row.base), at(row.quant), '-f', at('heldout.txt'), '-c', '256', '--json'];
      if (row.chunks) args.push('--chunks', String(row.chunks));
      const r = await lowbit(...args);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as {
        chunks: number;
        ppl: { quant: number; base: number };
        kld: { mean: number };
        sameTop: { fraction: number };
      };
      expect(out.chunks).toBe(row.chunks ?? 350);
      expect(Math.abs(out.ppl.base / row.basePpl - 1), `PPL(base) ${out.ppl.base}`).toBeLessThan(0.005);
      expect(Math.abs(out.ppl.quant / row.ppl - 1), `PPL ${out.ppl.quant}`).toBeLessThan(0.005);
      // F16 vs F32 rounds to 0.000000 in the table: only an upper bound is meaningful there.
      if (row.kl < 1e-6) expect(out.kld.mean).toBeLessThan(1e-6);
      else expect(Math.abs(out.kld.mean / row.kl - 1), `KL ${out.kld.mean}`).toBeLessThan(0.1);
      expect(Math.abs(100 * out.sameTop.fraction - row.sameTop), `same top ${100 * out.sameTop.fraction}`).toBeLessThan(0.5);
    },
    ROW_TIMEOUT,
  );
});
