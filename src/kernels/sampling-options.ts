/**
 * How the next token is chosen: the one options type, shared by the public engine API
 * (`GenerateOptions` extends it), the runtime's Session and the sampler kernels' uniform, and the
 * one place its defaults live. It sits at the kernel layer because the lowest user, the
 * SamplingParams encoder, is here; runtime/ and engine/ re-export it.
 */

export interface SamplingOptions {
  /** ≤ 0 picks the most likely token (greedy). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK?: number;
  /** Nucleus sampling mass; ≥ 1 = off. */
  topP?: number;
  /** Drop tokens below minP × the top probability; 0 = off. */
  minP?: number;
  /** Divides positive (multiplies negative) logits of tokens in the penalty window; 1 = off. */
  repetitionPenalty?: number;
  /** Subtracted once per occurrence in the penalty window; 0 = off. */
  frequencyPenalty?: number;
  /** Subtracted once if the token occurs in the penalty window; 0 = off. */
  presencePenalty?: number;
  /** Tokens of history the penalties look at. */
  penaltyWindow?: number;
  /** Same seed, same prompt, same options → same tokens (an integer in [0, 2^32)). */
  seed?: number;
}

/**
 * What each option means when it is left out: greedy, every filter and penalty off, the penalties
 * looking at the last 64 tokens. A generation without a seed draws a random one (Session); the 0
 * here is only what the uniform holds before the first generation.
 */
export const SAMPLING_DEFAULTS: Readonly<Required<SamplingOptions>> = {
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  penaltyWindow: 64,
  seed: 0,
};

/** The temperature of `chat()` and of `<llm-chat>` when none is given: conversation reads better sampled than greedy. */
export const CHAT_TEMPERATURE = 0.7;
