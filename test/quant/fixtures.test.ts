import { describe, expect, it } from 'vitest';
import { GGMLType, quantTypeInfo } from '../../src/quant/index.ts';
import { haveShared, localModel, sharedPath } from '../helpers/fixtures.ts';
import { boundRatio, firstDiff, loadModel, numericMismatches, type LoadedModel } from './helpers.ts';

// Every quantized fixture was made by llama-quantize (llama.cpp c392e509, no importance matrix)
// from an F32 (or Q8_0) original. For each tensor: (a) our dequantization stays within the type's
// error bound of the original; (b) our quantizer, run on the original, writes the same bytes.
// Ternary tensors must decode to the original weights exactly.

const TERNARY = new Set<number>([GGMLType.TQ1_0, GGMLType.TQ2_0, GGMLType.I2_S]);

interface TypeReport {
  tensors: number;
  sameBytes: number;
  worstBoundRatio: number;
}

async function compareWithSource(sourcePath: string, quantizedPath: string): Promise<Record<string, TypeReport>> {
  const source = await loadModel(sourcePath);
  const quant = await loadModel(quantizedPath);
  const report: Record<string, TypeReport> = {};
  for (const t of quant.file.tensors) {
    const s = source.file.tensor(t.name);
    expect(s, `${t.name} missing from the source`).toBeDefined();
    expect(t.dims).toEqual(s!.dims);
    const type = quantTypeInfo(t.typeId)!;
    const original = source.values(s!);
    const decoded = quant.values(t);
    const r = (report[type.name] ??= { tensors: 0, sameBytes: 0, worstBoundRatio: 0 });
    r.tensors++;
    if (TERNARY.has(t.typeId)) {
      // Numerically equal: the F32 original stores some zeros as −0, the ternary codes decode +0.
      expect(numericMismatches(decoded, original), `${t.name} (${type.name}) must decode to the original ternary weights`).toBe(0);
    }
    const ratio = boundRatio(original, decoded, type.errorBound!);
    r.worstBoundRatio = Math.max(r.worstBoundRatio, ratio);
    expect(ratio, `${t.name} (${type.name}) exceeds its error bound`).toBeLessThanOrEqual(1);
    const mine = type.quantize!(original);
    const diff = firstDiff(mine, quant.raw(t));
    expect(diff, `${t.name} (${type.name}): first differing byte`).toBe(-1);
    r.sameBytes++;
  }
  return report;
}

function expectAllBitExact(report: Record<string, TypeReport>, types: string[]): void {
  expect(Object.keys(report).sort()).toEqual([...types].sort());
  for (const [name, r] of Object.entries(report)) expect(r.sameBytes, name).toBe(r.tensors);
}

describe('committed fixtures (always run)', () => {
  it('stories260K-Q8_0: Q8_0 and F16 tensors re-quantize byte for byte from the F32 model', async () => {
    const report = await compareWithSource(localModel('stories260K.gguf'), localModel('stories260K-Q8_0.gguf'));
    expectAllBitExact(report, ['Q8_0', 'F16', 'F32']);
    expect(report.Q8_0.tensors).toBe(32);
  });

  it('stories260K-Q4_0: Q4_0, Q5_0, Q8_0 and F16 tensors re-quantize byte for byte', async () => {
    const report = await compareWithSource(localModel('stories260K.gguf'), localModel('stories260K-Q4_0.gguf'));
    expectAllBitExact(report, ['Q4_0', 'Q5_0', 'Q8_0', 'F16', 'F32']);
    expect(report.Q4_0.tensors).toBe(30);
  });

  it('bitnet TQ1_0, TQ2_0 and I2_S files hold the same ternary weights, and each re-quantizes to its own bytes', async () => {
    const files: LoadedModel[] = [];
    for (const name of ['tinystories-bitnet-3M-TQ1_0.gguf', 'tinystories-bitnet-3M-TQ2_0.gguf', 'tinystories-bitnet-3M-I2_S.gguf']) {
      files.push(await loadModel(localModel(name)));
    }
    const [tq1, tq2, i2s] = files;
    let ternaryTensors = 0;
    for (const t of tq1.file.tensors) {
      if (t.typeId !== GGMLType.TQ1_0) continue;
      ternaryTensors++;
      const a = tq1.values(t);
      const t2 = tq2.file.tensor(t.name)!;
      const t3 = i2s.file.tensor(t.name)!;
      expect([t2.typeId, t3.typeId]).toEqual([GGMLType.TQ2_0, GGMLType.I2_S]);
      const b = tq2.values(t2);
      const c = i2s.values(t3);
      expect(numericMismatches(b, a), t.name).toBe(0);
      expect(numericMismatches(c, a), t.name).toBe(0);
      expect(new Set(a).size, `${t.name} has at most 3 distinct values`).toBeLessThanOrEqual(3);
      // Ternary values with an f16 scale: quantizing them again reproduces every file's bytes.
      for (const [file, info] of [
        [tq1, t],
        [tq2, t2],
        [i2s, t3],
      ] as const) {
        const q = quantTypeInfo(info.typeId)!.quantize!(a);
        expect(firstDiff(q, file.raw(info)), `${info.name} ${info.typeName}`).toBe(-1);
      }
    }
    expect(ternaryTensors).toBe(28);
  });

  it('the demo model (Q4_K_M) decodes every tensor to finite, non-constant values of plausible size', async () => {
    const m = await loadModel(localModel('tinystories-llama-3M-Q4_K_M.gguf'));
    const seen = new Set<string>();
    for (const t of m.file.tensors) {
      const v = m.values(t);
      seen.add(t.typeName);
      expect(v.length).toBe(t.nElements);
      expect(v.every(Number.isFinite), t.name).toBe(true);
      // Trained weights: a broken decoder shows up as absurd magnitudes or a constant tensor.
      const max = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      expect(max, t.name).toBeLessThan(100);
      expect(new Set(v.subarray(0, 256)).size, t.name).toBeGreaterThan(1);
    }
    expect([...seen].sort()).toEqual(['F32', 'Q4_K', 'Q6_K']);
  });
});

describe.skipIf(!haveShared())('shared fixture set (full)', () => {
  const trained = (name: string) => sharedPath('models', 'trained-here', name);
  // Built only when the shared set is present: a skipped describe still runs its body.
  const cases: Array<[string, string, string[]]> = !haveShared()
    ? []
    : [
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q8_0.gguf'), ['Q8_0', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q4_0.gguf'), ['Q4_0', 'Q6_K', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-F16.gguf'), ['F16', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q4_K-pure.gguf'), ['Q4_K', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q5_K-pure.gguf'), ['Q5_K', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q6_K-pure.gguf'), ['Q6_K', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q4_K_M.gguf'), ['Q4_K', 'Q6_K', 'F32']],
        [trained('tinystories-llama-3M-F32.gguf'), trained('tinystories-llama-3M-Q2_K.gguf'), ['Q2_K', 'Q3_K', 'Q6_K', 'F32']],
        [trained('tinystories-bitnet-3M-F32.gguf'), trained('tinystories-bitnet-3M-TQ1_0.gguf'), ['TQ1_0', 'Q6_K', 'F32']],
        [trained('tinystories-bitnet-3M-F32.gguf'), trained('tinystories-bitnet-3M-TQ2_0.gguf'), ['TQ2_0', 'Q6_K', 'F32']],
        [trained('tinystories-bitnet-3M-F32.gguf'), trained('tinystories-bitnet-3M-I2_S.gguf'), ['I2_S', 'F32']],
        [
          sharedPath('models', 'TinyStories-656K', 'TinyStories-656K-Q8_0.gguf'),
          sharedPath('models', 'derived-quantized', 'TinyStories-656K-Q4_0.gguf'),
          ['Q4_0', 'F32'],
        ],
      ];
  for (const [source, quantized, types] of cases) {
    const label = quantized.split('/').pop()!;
    it(`${label}: every ${types.join('/')} tensor within bounds and byte-identical to llama-quantize`, async () => {
      const report = await compareWithSource(source, quantized);
      expectAllBitExact(report, types);
      console.log(
        `${label}: ${Object.entries(report)
          .map(([k, r]) => `${k} ${r.sameBytes}/${r.tensors} same bytes, worst ${r.worstBoundRatio.toFixed(3)} of bound`)
          .join('; ')}`,
      );
    });
  }
});
