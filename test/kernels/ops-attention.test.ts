// KV-cache write, split-K decode attention and causal prefill attention against an f64 reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestNodeGpu } from '../../src/gpu/device-node.ts';
import type { GpuContext } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32 } from '../../src/gpu/buffers.ts';
import {
  createDecodeAttention,
  createKvWrite,
  createPrefillAttention,
  defaultAttentionLayout,
  kvCacheLayerBytes,
  ATTENTION_LAYOUTS,
  prefillTiling,
  type AttentionLayout,
} from '../../src/kernels/attention.ts';
import { createRope } from '../../src/kernels/rope.ts';
import { createStepParams, writeStepParams } from '../../src/kernels/step-params.ts';
import { build, expectClose, randn, run, runStep } from './ops-helpers.ts';

interface Shape {
  hd: number;
  nh: number;
  nkv: number;
  maxCtx: number;
}

/** Cache [nkv][maxCtx][hd]: random rows below `valid`, NaN above (must never be read). */
function makeCache(s: Shape, valid: number, seed: number): Float32Array {
  const c = randn(s.nkv * s.maxCtx * s.hd, seed, 1.5);
  for (let h = 0; h < s.nkv; h++) c.fill(Number.NaN, (h * s.maxCtx + valid) * s.hd, (h + 1) * s.maxCtx * s.hd);
  return c;
}

/** out[t][qh] = softmax(q·K[0..pos0+t] * scale) · V, kv head qh / (nh/nkv). */
function attnRef(
  s: Shape,
  q: Float32Array,
  kc: Float32Array,
  vc: Float32Array,
  pos0: number,
  tokens: number,
  scale = 1 / Math.sqrt(s.hd),
): Float32Array {
  const g = s.nh / s.nkv;
  const out = new Float32Array(tokens * s.nh * s.hd);
  for (let t = 0; t < tokens; t++) {
    for (let qh = 0; qh < s.nh; qh++) {
      const kvh = Math.floor(qh / g);
      const n = pos0 + t + 1;
      const sc = new Float64Array(n);
      let mx = -Infinity;
      for (let p = 0; p < n; p++) {
        let d = 0;
        for (let i = 0; i < s.hd; i++) d += q[(t * s.nh + qh) * s.hd + i]! * kc[(kvh * s.maxCtx + p) * s.hd + i]!;
        sc[p] = d * scale;
        mx = Math.max(mx, sc[p]!);
      }
      let sum = 0;
      for (let p = 0; p < n; p++) sum += sc[p] = Math.exp(sc[p]! - mx);
      for (let i = 0; i < s.hd; i++) {
        let o = 0;
        for (let p = 0; p < n; p++) o += sc[p]! * vc[(kvh * s.maxCtx + p) * s.hd + i]!;
        out[(t * s.nh + qh) * s.hd + i] = o / sum;
      }
    }
  }
  return out;
}

/** Prefill attention of `tokens` queries at pos0 against the f64 reference; outputs past them untouched. */
/** The values' bit patterns, to compare two kernels exactly. */
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

async function checkPrefill(
  ctx: GpuContext,
  s: Shape,
  pos0: number,
  tokens: number,
  maxTokens: number,
  layout: AttentionLayout,
): Promise<Float32Array> {
  const kvLen = pos0 + tokens;
  const kc = makeCache(s, kvLen, 11);
  const vc = makeCache(s, kvLen, 12);
  const q = randn(maxTokens * s.nh * s.hd, 13, 3);
  const params = createStepParams(ctx, { pos0, nTokens: tokens });
  const output = createStorageBuffer(ctx, new Float32Array(maxTokens * s.nh * s.hd).fill(-5));
  const kern = await build(ctx, () =>
    createPrefillAttention(ctx, { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx, maxTokens, layout }),
  );
  await runStep(
    ctx,
    pos0 > 0 ? { pos0, nTokens: tokens } : undefined,
    kern.bind({
      params,
      q: createStorageBuffer(ctx, q),
      kCache: createStorageBuffer(ctx, kc),
      vCache: createStorageBuffer(ctx, vc),
      output,
    }),
  );
  const got = await readF32(ctx, output);
  const used = tokens * s.nh * s.hd;
  expectClose(got.subarray(0, used), attnRef(s, q, kc, vc, pos0, tokens), 2e-5, 2e-4, 'prefill');
  expect([...got.subarray(used)].every((v) => v === -5)).toBe(true);
  return got;
}

describe('attention', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await requestNodeGpu({ warn: null });
  });
  afterAll(() => ctx?.device.destroy());

  it('kv write puts rows at [head][pos0+t] and leaves the rest alone', async () => {
    const s = { hd: 8, nkv: 3, maxCtx: 10 };
    const tokens = 2;
    const k = randn(tokens * s.nkv * s.hd, 1);
    const v = randn(tokens * s.nkv * s.hd, 2);
    const init = randn(kvCacheLayerBytes({ headDim: s.hd, nKvHeads: s.nkv, maxCtx: s.maxCtx }) / 4, 3, 50);
    const params = createStepParams(ctx, { pos0: 7, nTokens: tokens });
    const kCache = createStorageBuffer(ctx, init);
    const vCache = createStorageBuffer(ctx, init);
    const kern = await build(ctx, () => createKvWrite(ctx, { headDim: s.hd, nKvHeads: s.nkv, maxCtx: s.maxCtx, maxTokens: 4 }));
    await run(ctx, kern.bind({ params, k: createStorageBuffer(ctx, k), v: createStorageBuffer(ctx, v), kCache, vCache }));
    const wantK = Float32Array.from(init);
    const wantV = Float32Array.from(init);
    for (let t = 0; t < tokens; t++) {
      for (let h = 0; h < s.nkv; h++) {
        wantK.set(k.subarray((t * s.nkv + h) * s.hd, (t * s.nkv + h + 1) * s.hd), (h * s.maxCtx + 7 + t) * s.hd);
        wantV.set(v.subarray((t * s.nkv + h) * s.hd, (t * s.nkv + h + 1) * s.hd), (h * s.maxCtx + 7 + t) * s.hd);
      }
    }
    expect(await readF32(ctx, kCache)).toEqual(wantK);
    expect(await readF32(ctx, vCache)).toEqual(wantV);
  });

  const decodeCases: [Shape, number[], { maxSplits?: number; minChunk?: number }][] = [
    [{ hd: 16, nh: 2, nkv: 2, maxCtx: 300 }, [1, 5, 64, 65, 300], {}],
    [{ hd: 32, nh: 8, nkv: 4, maxCtx: 260 }, [3, 130, 259], { minChunk: 16 }],
    [{ hd: 64, nh: 8, nkv: 2, maxCtx: 520 }, [1, 77, 520], { maxSplits: 3, minChunk: 8 }], // chunks capped: several tiles each
    [{ hd: 128, nh: 4, nkv: 1, maxCtx: 40 }, [40], { minChunk: 4 }],
  ];
  for (const [s, lens, opts] of decodeCases) {
    for (const layout of ATTENTION_LAYOUTS)
      it(`decode (${layout}) hd=${s.hd} heads=${s.nh}/${s.nkv} kvLen=${lens.join(',')} ${JSON.stringify(opts)}`, async () => {
        const maxLen = Math.max(...lens);
        const kc = makeCache(s, maxLen, s.hd);
        const vc = makeCache(s, maxLen, s.hd + 1);
        const q = randn(s.nh * s.hd, 5, 3);
        const params = createStepParams(ctx);
        const output = createStorageBuffer(ctx, s.nh * s.hd * 4);
        const kern = await build(ctx, () =>
          createDecodeAttention(ctx, { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx, ...opts, layout }),
        );
        // One bind for every position: only the step params change.
        const call = kern.bind({
          params,
          q: createStorageBuffer(ctx, q),
          kCache: createStorageBuffer(ctx, kc),
          vCache: createStorageBuffer(ctx, vc),
          output,
        });
        for (const kvLen of lens) {
          const step = { pos0: kvLen - 1, nTokens: 1 };
          writeStepParams(ctx, params, step);
          // Dispatch sized for the maximum, then only the chunks this kvLen uses.
          for (const sized of [undefined, step]) {
            ctx.device.queue.writeBuffer(output, 0, new Float32Array(s.nh * s.hd).fill(Number.NaN));
            await runStep(ctx, sized, call);
            expectClose(
              await readF32(ctx, output),
              attnRef(s, q, kc, vc, kvLen - 1, 1),
              2e-5,
              2e-4,
              `kvLen=${kvLen} sized=${Boolean(sized)}`,
            );
          }
        }
      });
  }

  it("decode (rows layout): the tiled layout's bits at every kvLen, splits and tiles, for the query at step.row", async () => {
    for (const [s, lens, opts] of decodeCases) {
      const maxLen = Math.max(...lens);
      const kc = createStorageBuffer(ctx, makeCache(s, maxLen, s.hd));
      const vc = createStorageBuffer(ctx, makeCache(s, maxLen, s.hd + 1));
      // Two query rows: the step's row 1 is the one attended.
      const q = createStorageBuffer(ctx, randn(2 * s.nh * s.hd, 6, 3));
      const shape = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx, ...opts };
      const out: Record<string, Float32Array[]> = {};
      for (const layout of ATTENTION_LAYOUTS) {
        const params = createStepParams(ctx);
        const output = createStorageBuffer(ctx, 2 * s.nh * s.hd * 4);
        const call = (await build(ctx, () => createDecodeAttention(ctx, { ...shape, layout }))).bind({
          params,
          q,
          kCache: kc,
          vCache: vc,
          output,
        });
        out[layout] = [];
        for (const kvLen of lens) {
          const step = { pos0: kvLen - 1, nTokens: 1, row: 1 };
          writeStepParams(ctx, params, step);
          ctx.device.queue.writeBuffer(output, 0, new Float32Array(2 * s.nh * s.hd).fill(-3));
          await runStep(ctx, step, call);
          out[layout].push(await readF32(ctx, output));
        }
      }
      lens.forEach((kvLen, i) => {
        const [tiled, rows] = [out.tiled![i]!, out.rows![i]!];
        expect(bits(rows), `hd=${s.hd} kvLen=${kvLen}`).toEqual(bits(tiled));
        // Row 0 is left as it was.
        expect([...rows.subarray(0, s.nh * s.hd)].every((x) => x === -3)).toBe(true);
      });
    }
  });

  const prefillCases: [Shape, number, number, number][] = [
    // shape, pos0, tokens, maxTokens
    [{ hd: 16, nh: 2, nkv: 2, maxCtx: 64 }, 0, 1, 1],
    [{ hd: 16, nh: 4, nkv: 2, maxCtx: 100 }, 0, 37, 40],
    [{ hd: 32, nh: 8, nkv: 2, maxCtx: 100 }, 21, 19, 19],
    [{ hd: 64, nh: 4, nkv: 1, maxCtx: 90 }, 50, 33, 40],
    [{ hd: 128, nh: 14, nkv: 2, maxCtx: 40 }, 3, 9, 9], // GQA 7: rows per workgroup not a multiple of G
    [{ hd: 80, nh: 2, nkv: 2, maxCtx: 40 }, 0, 12, 12], // 5 threads per row
  ];
  for (const layout of ATTENTION_LAYOUTS) {
    for (const [s, pos0, tokens, maxTokens] of prefillCases) {
      it(`prefill (${layout}) hd=${s.hd} heads=${s.nh}/${s.nkv} pos0=${pos0} tokens=${tokens}/${maxTokens}`, async () => {
        await checkPrefill(ctx, s, pos0, tokens, maxTokens, layout);
      });
    }
  }
  it('prefill (rows): keys in ragged blocks, rows of a 7-wide query group across workgroups', async () => {
    await checkPrefill(ctx, { hd: 16, nh: 7, nkv: 1, maxCtx: 70 }, 2, 65, 67, 'rows');
  });
  it("prefill (rows): a subgroup sharing its key and value loads gives each row the unshared kernel's bits", async () => {
    // Subgroups off: every lane loads its own rows (the kernel without SHARE_KV).
    const unshared = { ...ctx, hasSubgroups: false };
    for (const [s, pos0, tokens, maxTokens] of prefillCases) {
      const shared = await checkPrefill(ctx, s, pos0, tokens, maxTokens, 'rows');
      const plain = await checkPrefill(unshared, s, pos0, tokens, maxTokens, 'rows');
      expect(bits(shared), `hd=${s.hd} heads=${s.nh}/${s.nkv}`).toEqual(bits(plain));
    }
  });

  it('the default layout: rows on a software adapter, tiled on a GPU; rows refuses heads it cannot hold', () => {
    expect(defaultAttentionLayout({ isSoftware: true }, 64)).toBe('rows');
    expect(defaultAttentionLayout({ isSoftware: false }, 64)).toBe('tiled');
    // A head rows cannot hold keeps tiled by default, so prefill builds with no layout asked for.
    expect(defaultAttentionLayout({ isSoftware: true }, 512)).toBe('tiled');
    expect(() => createPrefillAttention(ctx, { headDim: 512, nHeads: 2, nKvHeads: 2, maxCtx: 8, maxTokens: 1 })).not.toThrow();
    expect(() => createPrefillAttention(ctx, { headDim: 512, nHeads: 2, nKvHeads: 2, maxCtx: 8, maxTokens: 1, layout: 'rows' })).toThrow(
      /headDim 512 is over 256/,
    );
    expect(() =>
      createPrefillAttention(ctx, {
        headDim: 16,
        nHeads: 2,
        nKvHeads: 2,
        maxCtx: 8,
        maxTokens: 1,
        layout: 'wide' as AttentionLayout,
      }),
    ).toThrow(/unknown layout 'wide'/);
  });

  it('custom scale, and prefill of one token equals decode', async () => {
    const s = { hd: 32, nh: 4, nkv: 2, maxCtx: 80 };
    const kc = makeCache(s, 70, 21);
    const vc = makeCache(s, 70, 22);
    const q = randn(s.nh * s.hd, 23, 2);
    const params = createStepParams(ctx, { pos0: 69, nTokens: 1 });
    const bufs = { params, q: createStorageBuffer(ctx, q), kCache: createStorageBuffer(ctx, kc), vCache: createStorageBuffer(ctx, vc) };
    const a = createStorageBuffer(ctx, s.nh * s.hd * 4);
    const b = createStorageBuffer(ctx, s.nh * s.hd * 4);
    const shape = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx, scale: 0.3 };
    const dec = await build(ctx, () => createDecodeAttention(ctx, { ...shape, minChunk: 16 }));
    const want = attnRef(s, q, kc, vc, 69, 1, 0.3);
    for (const layout of ATTENTION_LAYOUTS) {
      const pre = await build(ctx, () => createPrefillAttention(ctx, { ...shape, maxTokens: 1, layout }));
      await run(ctx, dec.bind({ ...bufs, output: a }), pre.bind({ ...bufs, output: b }));
      expectClose(await readF32(ctx, a), want, 2e-5, 2e-4, 'decode');
      expectClose(await readF32(ctx, b), want, 2e-5, 2e-4, `prefill (${layout})`);
    }
  });

  it('prefill of 5 then 3 decode steps (RoPE fused with the cache write) equals one prefill of 8', async () => {
    const s = { hd: 32, nh: 4, nkv: 2, maxCtx: 16 };
    const total = 8;
    const q = randn(total * s.nh * s.hd, 31, 2);
    const k = randn(total * s.nkv * s.hd, 32, 2);
    const v = randn(total * s.nkv * s.hd, 33, 2);
    const shape = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, maxCtx: s.maxCtx };
    const ropeCfg = { headDim: s.hd, nHeads: s.nh, nKvHeads: s.nkv, neox: false, freqBase: 10000, kvCache: { maxCtx: s.maxCtx } };
    const rows = (a: Float32Array, heads: number, from: number, to: number) => a.slice(from * heads * s.hd, to * heads * s.hd);

    // Reference run: all 8 tokens in one prefill.
    const refParams = createStepParams(ctx, { pos0: 0, nTokens: total });
    const ref = {
      q: createStorageBuffer(ctx, q),
      kCache: createStorageBuffer(ctx, kvCacheLayerBytes(shape)),
      vCache: createStorageBuffer(ctx, kvCacheLayerBytes(shape)),
      out: createStorageBuffer(ctx, total * s.nh * s.hd * 4),
    };
    const rope8 = await build(ctx, () => createRope(ctx, { ...ropeCfg, maxTokens: total }));
    const pre8 = await build(ctx, () => createPrefillAttention(ctx, { ...shape, maxTokens: total }));
    await run(
      ctx,
      rope8.bind({
        params: refParams,
        q: ref.q,
        k: createStorageBuffer(ctx, k),
        v: createStorageBuffer(ctx, v),
        kCache: ref.kCache,
        vCache: ref.vCache,
      }),
      pre8.bind({ params: refParams, q: ref.q, kCache: ref.kCache, vCache: ref.vCache, output: ref.out }),
    );
    const want = await readF32(ctx, ref.out);

    // Incremental run: bind groups built once per kernel, only the params change.
    const params = createStepParams(ctx, { pos0: 0, nTokens: 5 });
    const kCache = createStorageBuffer(ctx, kvCacheLayerBytes(shape));
    const vCache = createStorageBuffer(ctx, kvCacheLayerBytes(shape));
    const qP = createStorageBuffer(ctx, 5 * s.nh * s.hd * 4);
    const kP = createStorageBuffer(ctx, 5 * s.nkv * s.hd * 4);
    const vP = createStorageBuffer(ctx, 5 * s.nkv * s.hd * 4);
    const outP = createStorageBuffer(ctx, 5 * s.nh * s.hd * 4);
    const qD = createStorageBuffer(ctx, s.nh * s.hd * 4);
    const kD = createStorageBuffer(ctx, s.nkv * s.hd * 4);
    const vD = createStorageBuffer(ctx, s.nkv * s.hd * 4);
    const outD = createStorageBuffer(ctx, s.nh * s.hd * 4);
    const ropeP = (await build(ctx, () => createRope(ctx, { ...ropeCfg, maxTokens: 5 }))).bind({
      params,
      q: qP,
      k: kP,
      v: vP,
      kCache,
      vCache,
    });
    const attP = (await build(ctx, () => createPrefillAttention(ctx, { ...shape, maxTokens: 5 }))).bind({
      params,
      q: qP,
      kCache,
      vCache,
      output: outP,
    });
    const ropeD = (await build(ctx, () => createRope(ctx, { ...ropeCfg, maxTokens: 1 }))).bind({
      params,
      q: qD,
      k: kD,
      v: vD,
      kCache,
      vCache,
    });
    const attD = (await build(ctx, () => createDecodeAttention(ctx, { ...shape, minChunk: 2 }))).bind({
      params,
      q: qD,
      kCache,
      vCache,
      output: outD,
    });
    ctx.device.queue.writeBuffer(qP, 0, rows(q, s.nh, 0, 5));
    ctx.device.queue.writeBuffer(kP, 0, rows(k, s.nkv, 0, 5));
    ctx.device.queue.writeBuffer(vP, 0, rows(v, s.nkv, 0, 5));
    await runStep(ctx, { pos0: 0, nTokens: 5 }, ropeP, attP);
    expectClose(await readF32(ctx, outP), want.subarray(0, 5 * s.nh * s.hd), 1e-5, 1e-4, 'prefill part');
    for (let pos = 5; pos < total; pos++) {
      writeStepParams(ctx, params, { pos0: pos, nTokens: 1 });
      ctx.device.queue.writeBuffer(qD, 0, rows(q, s.nh, pos, pos + 1));
      ctx.device.queue.writeBuffer(kD, 0, rows(k, s.nkv, pos, pos + 1));
      ctx.device.queue.writeBuffer(vD, 0, rows(v, s.nkv, pos, pos + 1));
      await runStep(ctx, { pos0: pos, nTokens: 1 }, ropeD, attD);
      expectClose(await readF32(ctx, outD), want.subarray(pos * s.nh * s.hd, (pos + 1) * s.nh * s.hd), 1e-5, 1e-4, `decode at ${pos}`);
    }
    expectClose(await readF32(ctx, kCache), await readF32(ctx, ref.kCache), 1e-6, 1e-6, 'kCache');
  });

  it('rejects head counts that do not group', () => {
    expect(() => createDecodeAttention(ctx, { headDim: 16, nHeads: 6, nKvHeads: 4, maxCtx: 8 })).toThrow(/multiple of nKvHeads/);
    expect(() => createPrefillAttention(ctx, { headDim: 18, nHeads: 2, nKvHeads: 2, maxCtx: 8, maxTokens: 1 })).toThrow(/headDim/);
  });
});

describe('prefill attention under mobile limits (16 KiB workgroup storage)', () => {
  let mobile: GpuContext;
  beforeAll(async () => {
    mobile = await requestNodeGpu({ warn: null, limits: 'mobile' });
  });
  afterAll(() => mobile?.device.destroy());

  it('stages fewer keys per tile where K, V and the partial dots would not fit, and stays exact', async () => {
    // hd=128: 16 keys of K and V (16 KiB) plus the partial dots need more than 16 KiB.
    const { keysPerTile } = prefillTiling(128, 16 * 1024);
    expect(keysPerTile).toBe(8);
    expect(prefillTiling(128, 32 * 1024).keysPerTile).toBe(16);
    // Keys span several tiles, the last one ragged (pos0 + tokens = 45).
    await checkPrefill(mobile, { hd: 128, nh: 4, nkv: 2, maxCtx: 48 }, 5, 40, 40, 'tiled');
  });
});
