// One SamplingOptions type from the public API down to the sampler's uniform: the API's names
// reach the right uniform slots, left-out options take SAMPLING_DEFAULTS, and bad values are
// refused by name.
import { describe, expect, it } from 'vitest';
import { CHAT_TEMPERATURE, SAMPLING_DEFAULTS, type GenerateOptions } from '../../src/engine/types.ts';
import { encodeSamplingParams } from '../../src/kernels/sample.ts';

function decode(buf: ArrayBuffer) {
  const f = new Float32Array(buf);
  const u = new Uint32Array(buf);
  return {
    temperature: f[0],
    topK: u[1],
    topP: f[2],
    minP: f[3],
    repetitionPenalty: f[4],
    frequencyPenalty: f[5],
    presencePenalty: f[6],
    penaltyWindow: u[7],
    seed: u[8],
  };
}

describe('sampling options', () => {
  it('the public names fill the uniform the kernels read', () => {
    // Values exact in f32, so the read-back compares equal.
    const sampling = {
      temperature: 0.5,
      topK: 12,
      topP: 0.75,
      minP: 0.125,
      repetitionPenalty: 1.25,
      frequencyPenalty: 0.5,
      presencePenalty: 0.25,
      penaltyWindow: 32,
      seed: 4242,
    };
    // Not sampling options: ignored by the encoder, not refused.
    const options: GenerateOptions = { ...sampling, maxTokens: 10, stop: ['\n'], topLogprobs: true };
    expect(decode(encodeSamplingParams(options))).toEqual(sampling);
  });

  it('left-out (or undefined) options take the one set of defaults: greedy, filters and penalties off', () => {
    expect(decode(encodeSamplingParams({}))).toEqual(SAMPLING_DEFAULTS);
    expect(decode(encodeSamplingParams({ topK: undefined, penaltyWindow: undefined }))).toEqual(SAMPLING_DEFAULTS);
    expect(SAMPLING_DEFAULTS).toMatchObject({ temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, penaltyWindow: 64 });
    expect(CHAT_TEMPERATURE).toBeGreaterThan(0);
  });

  it('refuses bad values by their public name', () => {
    expect(() => encodeSamplingParams({ repetitionPenalty: 0 })).toThrow(/repetitionPenalty/);
    expect(() => encodeSamplingParams({ penaltyWindow: -1 })).toThrow(/penaltyWindow/);
    expect(() => encodeSamplingParams({ penaltyWindow: 2.5 })).toThrow(/penaltyWindow/);
    expect(() => encodeSamplingParams({ topP: Number.POSITIVE_INFINITY })).toThrow(/topP/);
    expect(() => encodeSamplingParams({ seed: 2 ** 32 })).toThrow(/seed/);
    expect(() => encodeSamplingParams({ temperature: '1' as unknown as number })).toThrow(/temperature/);
  });
});
