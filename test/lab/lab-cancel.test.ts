// Cancelling the lab part-way (on the GPU engine in Node): the type being quantized and the ones
// after it end 'cancelled', and the store holds only finished results, never a partial model.
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { LabRun } from '../../src/lab/lab-run.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { inlineRunner } from '../../src/quant/quantize-stream.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { isPresent } from '../../src/storage/store.ts';
import { releaseTestGpu, testGpu } from '../helpers/gpu-engine.ts';
import { haveShared, repoRoot, sharedPath } from '../helpers/fixtures.ts';

afterAll(releaseTestGpu);

describe.skipIf(!haveShared())('lab cancel', () => {
  it('cancelling while the second type is quantized keeps the first result and leaves no partial model', async () => {
    const store = new MemoryModelStore();
    const ac = new AbortController();
    const lab = new LabRun({
      store,
      runner: () => inlineRunner,
      gpu: testGpu,
      onChange: () => {
        const q4 = lab.rows.find((r) => r.label === 'Q4_K_M');
        if (q4?.status === 'quantizing' && (q4.progress ?? 0) > 0.3) ac.abort();
      },
    });
    const path = sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf');
    const text = await readFile(`${repoRoot}/public/lab/heldout-sample.txt`, 'utf8');
    await expect(
      lab.run(
        { label: 'tinystories-llama-3M-F16.gguf', source: new BufferByteSource(new Uint8Array(await readFile(path)), path) },
        ['Q8_0', 'Q4_K_M', 'Q2_K'].map(fileTypeByName),
        { text, ctx: 64, chunks: 2 },
        ac.signal,
      ),
    ).rejects.toThrow();
    expect(lab.rows.map((r) => [r.label, r.status])).toEqual([
      ['tinystories-llama-3M-F16.gguf', 'done'],
      ['Q8_0', 'done'],
      ['Q4_K_M', 'cancelled'],
      ['Q2_K', 'cancelled'],
    ]);
    const stored = await store.listManifests();
    expect(stored.map((m) => m.id)).toEqual(['tinystories-llama-3M-lab-Q8_0.gguf']);
    expect(stored.every(isPresent)).toBe(true);
    await lab.dispose();
  });
});
