import { statSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { BUNDLED_MODEL_PATH, CATALOGUE, entryUrl } from '../../src/app/catalogue.ts';
import { assessFit, estimateGpuBudget } from '../../src/app/fit.ts';
import { describeError } from '../../src/ui/error-text.ts';
import { formatBytes, formatRate } from '../../src/format.ts';
import { formatAgo, formatDuration, formatTokensPerSec } from '../../src/ui/format.ts';
import { DeviceLimitError, LowbitError, QuotaExceededError, WebGPUUnavailableError } from '../../src/errors.ts';
import { demoModel } from '../helpers/fixtures.ts';

describe('catalogue', () => {
  test('the bundled model entry matches the file shipped in public/', () => {
    const bundled = CATALOGUE.filter((e) => e.bundled);
    expect(bundled).toHaveLength(1);
    expect(CATALOGUE[0]).toBe(bundled[0]);
    expect(bundled[0].url).toBe(BUNDLED_MODEL_PATH);
    expect(bundled[0].bytes).toBe(statSync(demoModel).size);
    expect(entryUrl(bundled[0], 'http://127.0.0.1:5173/')).toBe('http://127.0.0.1:5173/models/tinystories-llama-3M-Q4_K_M.gguf');
  });

  test('remote entries are Hugging Face resolve URLs to .gguf files, with unique keys', () => {
    const keys = new Set(CATALOGUE.map((e) => e.key));
    expect(keys.size).toBe(CATALOGUE.length);
    for (const e of CATALOGUE.filter((x) => !x.bundled)) {
      expect(e.url).toMatch(/^https:\/\/huggingface\.co\/[\w.-]+\/[\w.-]+\/resolve\/main\/[\w.+-]+\.gguf$/);
      expect(e.bytes).toBeGreaterThan(50e6);
    }
    const names = CATALOGUE.map((e) => e.label).join(' | ');
    for (const want of ['SmolLM2 135M', 'Qwen2.5 0.5B', 'Qwen3 0.6B', 'Llama 3.2 1B', 'BitNet b1.58 2B4T']) expect(names).toContain(want);
    expect(CATALOGUE.find((e) => e.key === 'bitnet-2b4t-i2s')!.bytes).toBe(1_187_801_280);
  });
});

describe('assessFit', () => {
  const gpu = {
    webgpu: true,
    maxBufferSize: 2 ** 31,
    adapter: { vendor: 'acme', architecture: 'x', description: 'GPU', isFallbackAdapter: false },
  };

  test('nothing to warn about when storage and memory are ample', () => {
    expect(assessFit(500e6, 0, { probe: gpu, storage: { quota: 10e9, usage: 1e9 }, deviceMemoryGB: 8 })).toEqual([]);
  });

  test('storage: the missing bytes are compared with free quota, counting what is already stored', () => {
    const ctx = { probe: gpu, storage: { quota: 1e9, usage: 700e6 }, deviceMemoryGB: 8 };
    const w = assessFit(500e6, 0, ctx);
    expect(w.map((x) => x.kind)).toEqual(['storage']);
    expect(w[0].message).toContain('500 MB');
    expect(w[0].message).toContain('300 MB');
    // A half-finished download needs only the rest.
    expect(assessFit(500e6, 250e6, ctx)).toEqual([]);
  });

  test('GPU memory: file size plus margin against the estimate from deviceMemory', () => {
    expect(estimateGpuBudget({ deviceMemoryGB: 4 })).toBe(2e9);
    expect(estimateGpuBudget({ deviceMemoryGB: 8 })).toBe(8e9);
    const w = assessFit(1_187_801_280, 0, { probe: gpu, deviceMemoryGB: 2 });
    expect(w.map((x) => x.kind)).toEqual(['gpu-memory']);
    expect(assessFit(105e6, 0, { probe: gpu, deviceMemoryGB: 2 })).toEqual([]);
    // Without deviceMemory, maxBufferSize is the hint.
    expect(assessFit(2.21e9, 0, { probe: { ...gpu, maxBufferSize: 256 * 2 ** 20 } }).map((x) => x.kind)).toEqual(['gpu-memory']);
  });

  test('no WebGPU and software adapters are called out', () => {
    expect(assessFit(2e6, 0, { probe: { webgpu: false, reason: 'navigator.gpu is missing' } })[0]).toMatchObject({
      kind: 'no-webgpu',
      message: expect.stringContaining('navigator.gpu is missing'),
    });
    const swiftshader = {
      ...gpu,
      adapter: { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader', isFallbackAdapter: false },
    };
    expect(assessFit(105e6, 0, { probe: swiftshader, deviceMemoryGB: 8 }).map((x) => x.kind)).toEqual(['software-gpu']);
    // The bundled 2 MB model is fine even there.
    expect(assessFit(2_092_000, 0, { probe: swiftshader, deviceMemoryGB: 8 })).toEqual([]);
  });
});

describe('formatting', () => {
  test('bytes, rates, durations, speeds, ages', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(2_092_000)).toBe('2.09 MB');
    expect(formatBytes(42_181_773)).toBe('42.2 MB');
    expect(formatBytes(105_454_432)).toBe('105 MB');
    expect(formatBytes(1_187_801_280)).toBe('1.19 GB');
    expect(formatBytes(-1)).toBe('?');
    expect(formatRate(4_200_000)).toBe('4.20 MB/s');
    expect(formatRate(undefined)).toBe('');
    expect(formatRate(0)).toBe('');
    expect(formatDuration(14.6)).toBe('15 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('');
    expect(formatTokensPerSec(41.26)).toBe('41.3');
    expect(formatTokensPerSec(250.4)).toBe('250');
    expect(formatTokensPerSec(0)).toBe('–');
    const now = 1_000_000_000_000;
    expect(formatAgo(now - 30_000, now)).toBe('just now');
    expect(formatAgo(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatAgo(now - 30 * 3600_000, now)).toBe('yesterday');
    expect(formatAgo(undefined, now)).toBe('');
  });
});

describe('describeError', () => {
  test('known classes get a plain-language title, keep their message, and a hint where useful', () => {
    const w = describeError(new WebGPUUnavailableError('navigator.gpu is undefined'));
    expect(w).toMatchObject({ title: 'WebGPU is not available in this browser', detail: 'navigator.gpu is undefined' });
    expect(w.hint).toBeTruthy();
    expect(describeError(new DeviceLimitError('tensor x needs 2 GB')).title).toBe('This model is too big for this device');
    expect(describeError(new QuotaExceededError('need 1 GB')).title).toBe('Not enough storage for this model');
    expect(describeError(new LowbitError('odd')).title).toBe('Something went wrong');
    expect(describeError(Object.assign(new Error('x'), { name: 'NetworkError' })).title).toBe('NetworkError');
    expect(describeError('a string')).toMatchObject({ title: 'Something went wrong', detail: 'a string' });
  });
});
