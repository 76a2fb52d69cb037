import { describe, expect, it } from 'vitest';
import { csvText, fileBitsPerWeight, resultsToCsv, resultsToJson, type LabRow } from '../../src/lab/results.ts';

const ROWS: LabRow[] = [
  {
    label: 'model-F16.gguf',
    kind: 'base',
    status: 'done',
    bytes: 6838752,
    bitsPerWeight: 16.01,
    ppl: 5.2,
    pplError: 0.05,
    kl: 0,
    sameTop1: 1,
    tokens: 254,
  },
  {
    label: 'Q4_K_M',
    kind: 'quantized',
    status: 'done',
    bytes: 2092000,
    bitsPerWeight: 4.9,
    ppl: 5.23,
    kl: 0.0123,
    sameTop1: 0.95,
    tokens: 254,
    progress: 1,
  },
  { label: '=HYPERLINK("http://x","y")', kind: 'opened', status: 'unsupported', bytes: 10, message: 'not supported yet: "IQ9"' },
];

describe('lab results export', () => {
  it('writes CSV with a header, full-precision numbers, empty unknowns and same-top-1 in percent', () => {
    const csv = resultsToCsv(ROWS);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('model,kind,status,bytes,bits_per_weight,ppl,ppl_error,kl_vs_base,kl_error,same_top1_pct,tokens,message');
    expect(lines[2]).toBe('"Q4_K_M","quantized","done",2092000,4.9,5.23,,0.0123,,95,254,""');
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(5);
  });

  it('quotes hostile names and defuses spreadsheet formulas', () => {
    const line = resultsToCsv(ROWS).split('\r\n')[3]!;
    expect(line.startsWith(`"'=HYPERLINK(""http://x"",""y"")"`)).toBe(true);
    expect(line.endsWith('"not supported yet: ""IQ9"""')).toBe(true);
    expect(csvText('-1+2')).toBe(`"'-1+2"`);
    expect(csvText('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvText('a,b\nc')).toBe('"a,b\nc"');
  });

  it('writes JSON with the run settings and without transient progress', () => {
    const json = JSON.parse(resultsToJson({ base: 'model-F16.gguf', text: 'heldout', ctx: 256, chunks: 2 }, ROWS));
    expect(json).toMatchObject({ tool: 'lowbit lab', base: 'model-F16.gguf', ctx: 256, chunks: 2 });
    expect(json.rows).toHaveLength(3);
    expect(json.rows[1]).not.toHaveProperty('progress');
    expect(json.rows[1].kl).toBe(0.0123);
  });

  it('bits per weight is tensor bits over parameters', () => {
    const file = {
      tensors: [
        { byteSize: 34, nElements: 32 },
        { byteSize: 128, nElements: 32 },
      ],
    } as unknown as Parameters<typeof fileBitsPerWeight>[0];
    expect(fileBitsPerWeight(file)).toBeCloseTo((8 * 162) / 64, 12);
    expect(fileBitsPerWeight({ tensors: [] } as unknown as Parameters<typeof fileBitsPerWeight>[0])).toBeNaN();
  });
});
