// The quantization lab in Chromium (issue 12 items 5–6): the F16 3M fixture quantized to Q8_0,
// Q4_K_M and TQ2_0 in Web Workers into IndexedDB, measured on WebGPU (SwiftShader) over the
// bundled held-out text, checked against `lowbit quantize` and `lowbit kl`'s code on the same text: table
// values within 1e-3 relative, one chart point per type, and downloads byte-identical to the CLI's
// files. Two chunks of 256 tokens keep it short.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { evaluationGpu, loadForEvaluation, readTextFile, tokenizeText } from '../src/cli/evaluation.ts';
import { quantizeFile } from '../src/cli/quantize.ts';
import { fileTypeByName } from '../src/quant/mixture.ts';
import { compareChunks } from '../src/runtime/compare.ts';
import { evaluateChunks, planChunks, type ScoredChunk } from '../src/runtime/evaluate.ts';
import type { KlReport } from '../src/runtime/quality.ts';
import { haveShared, repoRoot, sharedPath } from '../test/helpers/fixtures.ts';
import { useBrowserSuite } from './harness.ts';
import { pickTypes } from './lab-helpers.ts';

const ARTIFACTS = join(import.meta.dirname, 'artifacts');
const TYPES = ['Q8_0', 'Q4_K_M', 'TQ2_0'];
const CTX = 256;
const CHUNKS = 2;
const TEXT = join(repoRoot, 'public/lab/heldout-sample.txt');

/** `lowbit quantize` of each type into `dir`, and `lowbit kl`'s report of each against the base. */
async function cliReports(basePath: string, dir: string): Promise<Record<string, KlReport>> {
  for (const t of TYPES) await quantizeFile(basePath, join(dir, `${t}.gguf`), { fileType: fileTypeByName(t) });
  const reports: Record<string, KlReport> = {};
  const gpu = await evaluationGpu(undefined, undefined);
  const base = await loadForEvaluation(basePath, gpu, { ctx: CTX });
  try {
    const tokens = tokenizeText(base, await readTextFile(TEXT, 'kl'));
    const plan = planChunks(tokens.length, CTX, CHUNKS);
    const baseChunks: ScoredChunk[] = [];
    for await (const c of evaluateChunks(base.engine.evaluator(), tokens, plan, base.bos)) baseChunks.push(c);
    for (const t of TYPES) {
      const quant = await loadForEvaluation(join(dir, `${t}.gguf`), gpu, { ctx: CTX });
      try {
        reports[t] = await compareChunks(
          baseChunks,
          evaluateChunks(quant.engine.evaluator(), tokens, plan, base.bos),
          base.engine.config.vocabSize,
        );
      } finally {
        await quant.close();
      }
    }
  } finally {
    await base.close();
    gpu.device.destroy();
  }
  return reports;
}

/** |a - b| ≤ 1e-3 · |b| (and exact equality when b is 0). */
function expectClose(actual: number, expected: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: ${actual} vs the CLI's ${expected}`).toBeLessThanOrEqual(1e-3 * Math.abs(expected));
}

describe.skipIf(!haveShared())('quantization lab', () => {
  const suite = useBrowserSuite();
  const f16 = haveShared() ? sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf') : '';

  test('quantizes the F16 fixture in the browser; table, chart and downloads match the CLI', async () => {
    // The CLI's side, in this process through the code `lowbit quantize` and `lowbit kl` run
    // (one GPU device and one base evaluation for the three types, to keep the test short).
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-lab-'));
    const t0 = performance.now();
    const cli = await cliReports(f16, dir);
    console.log(`lab e2e: CLI quantize + kl for ${TYPES.length} types in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const t1 = performance.now();
    const { page, errors } = await suite.openPage('/lab.html', { viewport: { width: 1100, height: 1200 }, acceptDownloads: true });
    await page.locator('input[aria-label="Open a base model file"]').setInputFiles(f16);
    await pickTypes(page, TYPES);
    await page.locator('input[name="ctx"]').fill(String(CTX));
    await page.locator('input[name="chunks"]').fill(String(CHUNKS));
    await page.getByRole('button', { name: 'Quantize and measure' }).click();
    // Progress bars show while it works.
    await page.locator('table[aria-label="Results"] progress').first().waitFor({ timeout: 60_000 });
    const rows = page.locator('table[aria-label="Results"] tbody tr');
    await expect
      .poll(async () => (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status')))).join(','), {
        timeout: 600_000,
        interval: 1000,
      })
      .toMatch(/^(done|error|cancelled)(,(done|error|cancelled)){3}$/);
    console.log(`lab e2e: the lab page quantized and measured in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
    expect(await page.locator('[role="alert"]').innerText()).toBe('');
    const cell = async (label: string, col: string) =>
      Number(await page.locator(`tr[data-label="${label}"] td[data-col="${col}"]`).getAttribute('data-value'));

    const base = 'tinystories-llama-3M-F16.gguf';
    expect(await page.locator(`tr[data-label="${base}"]`).getAttribute('data-status')).toBe('done');
    expectClose(await cell(base, 'ppl'), cli.Q8_0!.ppl.base, 'base PPL');
    for (const t of TYPES) {
      expect(await page.locator(`tr[data-label="${t}"]`).getAttribute('data-status'), t).toBe('done');
      expectClose(await cell(t, 'ppl'), cli[t]!.ppl.quant, `${t} PPL`);
      expectClose(await cell(t, 'kl'), cli[t]!.kld.mean, `${t} KL`);
      expectClose(await cell(t, 'same-top1'), cli[t]!.sameTop.fraction, `${t} same top-1`);
      expect(await cell(t, 'bytes')).toBe(readFileSync(join(dir, `${t}.gguf`)).length);
    }

    // The measured table, for the README: the page's numbers next to the CLI's.
    const table = [
      '| model | size | bits/weight | PPL (lab / CLI) | KL vs F16 (lab / CLI) | same top-1 (lab / CLI) |',
      '|---|---|---|---|---|---|',
    ];
    for (const t of TYPES) {
      const c = cli[t]!;
      table.push(
        `| ${t} | ${await cell(t, 'bytes')} | ${(await cell(t, 'bpw')).toFixed(3)} | ${(await cell(t, 'ppl')).toFixed(4)} / ${c.ppl.quant.toFixed(4)} | ` +
          `${(await cell(t, 'kl')).toFixed(6)} / ${c.kld.mean.toFixed(6)} | ${(100 * (await cell(t, 'same-top1'))).toFixed(2)} % / ${(100 * c.sameTop.fraction).toFixed(2)} % |`,
      );
    }
    console.log(`lab e2e: base PPL ${(await cell(base, 'ppl')).toFixed(4)} / CLI ${cli.Q8_0!.ppl.base.toFixed(4)}\n${table.join('\n')}`);

    // The chart: one labelled point per type at its bits per weight, the base as a reference line.
    const chart = page.locator('lowbit-lab-chart');
    const points = async () =>
      chart.locator('circle').evaluateAll((cs) =>
        cs.map((c) => ({
          label: c.getAttribute('data-label'),
          bpw: Number(c.getAttribute('data-bpw')),
          value: Number(c.getAttribute('data-value')),
        })),
      );
    const ppl = await points();
    expect(ppl.map((p) => p.label).sort()).toEqual([...TYPES].sort());
    expect(await chart.locator('circle[data-kind="quantized"]').count()).toBe(TYPES.length);
    for (const p of ppl) {
      expect(p.bpw).toBeCloseTo(await cell(p.label!, 'bpw'), 9);
      expect(p.value).toBeCloseTo(await cell(p.label!, 'ppl'), 9);
    }
    expect(await chart.locator('text', { hasText: 'TQ2_0' }).count()).toBe(1);
    expect(await chart.locator('line.reference').count()).toBe(1);
    // An IQ file quantized elsewhere (llama-quantize with an importance matrix) joins the chart
    // next to the K-quants: lowbit runs IQ types, so it is measured against the same base.
    await page
      .locator('input[aria-label="Compare a quantized file"]')
      .setInputFiles(sharedPath('models/importance-quantized/tinystories-llama-3M-IQ2_S.gguf'));
    const iq = page.locator('tr[data-label="tinystories-llama-3M-IQ2_S.gguf"]');
    await expect.poll(() => iq.getAttribute('data-status'), { timeout: 300_000, interval: 1000 }).toBe('done');
    expect(await cell('tinystories-llama-3M-IQ2_S.gguf', 'bytes')).toBe(1_134_240);
    const iqKl = await cell('tinystories-llama-3M-IQ2_S.gguf', 'kl');
    expect(iqKl).toBeGreaterThan(await cell('Q4_K_M', 'kl'));
    expect(iqKl).toBeLessThan(await cell('TQ2_0', 'kl'));
    expect(await chart.locator('circle[data-kind="opened"]').getAttribute('data-label')).toBe('tinystories-llama-3M-IQ2_S.gguf');
    console.log(
      `lab e2e: IQ2_S opened: bpw ${(await cell('tinystories-llama-3M-IQ2_S.gguf', 'bpw')).toFixed(3)}, PPL ${(await cell('tinystories-llama-3M-IQ2_S.gguf', 'ppl')).toFixed(4)}, KL ${iqKl.toFixed(6)}, same top-1 ${(100 * (await cell('tinystories-llama-3M-IQ2_S.gguf', 'same-top1'))).toFixed(2)} %`,
    );
    mkdirSync(join(repoRoot, 'docs'), { recursive: true });
    await chart.screenshot({ path: join(repoRoot, 'docs/lab-chart.png') });
    await page.screenshot({ path: join(ARTIFACTS, 'lab.png'), fullPage: true });
    await page.locator('input[name="axis"][value="kl"]').check();
    await expect.poll(async () => (await points()).find((p) => p.label === 'Q4_K_M')?.value).toBeCloseTo(await cell('Q4_K_M', 'kl'), 9);
    await chart.screenshot({ path: join(repoRoot, 'docs/lab-chart-kl.png') });

    // Each result downloads as the CLI's file, byte for byte.
    for (const t of TYPES) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: `Download tinystories-llama-3M-lab-${t}.gguf` }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`tinystories-llama-3M-lab-${t}.gguf`);
      const saved = join(dir, `browser-${t}.gguf`);
      await download.saveAs(saved);
      expect(Buffer.compare(readFileSync(saved), readFileSync(join(dir, `${t}.gguf`))), `${t} download`).toBe(0);
    }

    // CSV export has a row per model.
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csvPath = join(dir, 'lab.csv');
    await csv.saveAs(csvPath);
    const lines = readFileSync(csvPath, 'utf8').trim().split('\r\n');
    expect(lines).toHaveLength(1 + 1 + TYPES.length + 1);
    expect(lines[2]).toMatch(/^"Q8_0","quantized","done",/);
    expect(errors).toEqual([]);
  }, 900_000);

  test('a file that is not GGUF, or a base already below the target, gets a clear message', async () => {
    const { page } = await suite.openPage('/lab.html');
    await page
      .locator('input[aria-label="Open a base model file"]')
      .setInputFiles({ name: 'notes.gguf', mimeType: 'text/plain', buffer: Buffer.from('these are notes, not a model '.repeat(10)) });
    await page.getByRole('button', { name: 'Quantize and measure' }).click();
    await expect.poll(() => page.locator('[role="alert"]').innerText()).toMatch(/notes\.gguf.*(GGUF|magic)/i);
    await page
      .locator('input[aria-label="Open a base model file"]')
      .setInputFiles(join(repoRoot, 'public/models/tinystories-llama-3M-Q4_K_M.gguf'));
    await pickTypes(page, ['Q8_0']);
    await page.locator('input[name="chunks"]').fill('2');
    await page.getByRole('button', { name: 'Quantize and measure' }).click();
    const q8 = page.locator('tr[data-label="Q8_0"]');
    await expect.poll(() => q8.getAttribute('data-status')).toBe('error');
    expect(await q8.innerText()).toMatch(/already quantized below the target/);
  });
});
