// The lab's checks of what the user hands in, before any quantizing or GPU work.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GGUFFormatError, QuotaExceededError } from '../../src/errors.ts';
import { writeGGUFToBytes } from '../../src/gguf/writer.ts';
import { BufferByteSource } from '../../src/io/byte-source.ts';
import { GGMLType } from '../../src/quant/types.ts';
import { LabRun, modelStem, resultName } from '../../src/lab/lab-run.ts';
import { fileTypeByName } from '../../src/quant/mixture.ts';
import { inlineRunner } from '../../src/quant/quantize-stream.ts';
import { MemoryModelStore } from '../../src/storage/memory-store.ts';
import { demoModel, haveShared, sharedPath } from '../helpers/fixtures.ts';

const SETTINGS = { text: 'Once upon a time', ctx: 256, chunks: 2 };
class NoGpu extends Error {}

function lab(store = new MemoryModelStore()) {
  let changes = 0;
  const run = new LabRun({
    store,
    runner: () => inlineRunner,
    gpu: () => Promise.reject(new NoGpu('the GPU was asked for')),
    onChange: () => changes++,
  });
  return { run, store, changes: () => changes };
}

async function fileModel(path: string) {
  return { label: path.split('/').pop()!, source: new BufferByteSource(new Uint8Array(await readFile(path)), path) };
}

describe('lab input checks', () => {
  it('a file that is not GGUF is a GGUFFormatError naming it, before any GPU work', async () => {
    const { run } = lab();
    const bytes = new TextEncoder().encode('<html>not a model</html>'.repeat(20));
    await expect(
      run.run({ label: 'page.gguf', source: new BufferByteSource(bytes, 'page.gguf') }, [fileTypeByName('Q8_0')], SETTINGS),
    ).rejects.toThrow(GGUFFormatError);
    expect(run.rows).toEqual([]);
  });

  it('a base already quantized below a target gets that type refused with the reason', async () => {
    const { run } = lab();
    const base = await fileModel(demoModel); // Q4_K_M
    await expect(run.run(base, [fileTypeByName('Q8_0')], SETTINGS)).rejects.toThrow(NoGpu);
    const [baseRow, q8] = run.rows;
    expect(baseRow).toMatchObject({ kind: 'base', status: 'error', bytes: 2_092_000 });
    expect(q8).toMatchObject({ label: 'Q8_0', status: 'error' });
    expect(q8!.message).toMatch(/is already quantized below the target: Q\d_K has fewer bits than Q8_0/);
  });

  it.skipIf(!haveShared())('results that would not fit the store are refused up front, with the sizes', async () => {
    const { run, store } = lab(new MemoryModelStore(3_000_000));
    const base = await fileModel(sharedPath('models/trained-here/tinystories-llama-3M-F16.gguf'));
    await expect(run.run(base, [fileTypeByName('Q8_0'), fileTypeByName('Q4_K_M')], SETTINGS)).rejects.toThrow(QuotaExceededError);
    const q8 = run.rows.find((r) => r.label === 'Q8_0')!;
    // The planned size is the exact size of llama-quantize's Q8_0 of this model.
    expect(q8.bytes).toBe(3_643_872);
    expect(await store.listManifests()).toEqual([]);
  });

  it('a compared file with a type lowbit cannot run is listed with its size and bits per weight, "not supported yet"', async () => {
    const { run } = lab();
    const bytes = await writeGGUFToBytes({
      metadata: { 'general.architecture': 'llama' },
      tensors: [
        { name: 'a.weight', dims: [64, 2], type: GGMLType.I32 },
        { name: 'b.weight', dims: [64], type: GGMLType.F32 },
      ],
    });
    await run.addFile({ label: 'odd-I32.gguf', source: new BufferByteSource(bytes, 'odd-I32.gguf') });
    expect(run.rows).toEqual([
      expect.objectContaining({ label: 'odd-I32.gguf', kind: 'opened', status: 'unsupported', bytes: bytes.length, bitsPerWeight: 32 }),
    ]);
    expect(run.rows[0]!.message).toMatch(/^not supported yet: .*a\.weight \(I32\)/);
    expect(run.rows[0]!.ppl).toBeUndefined();
  });

  it('names results after the base', () => {
    expect(modelStem('tinystories-llama-3M-F16.gguf')).toBe('tinystories-llama-3M');
    expect(resultName('tinystories-llama-3M-F16.gguf', fileTypeByName('Q4_K_M'))).toBe('tinystories-llama-3M-lab-Q4_K_M.gguf');
    expect(resultName('../../evil name.GGUF', fileTypeByName('Q8_0'))).toBe('evil_name-lab-Q8_0.gguf');
  });
});
