/**
 * Live llama.cpp oracle through node-llama-cpp (dev dependency; its prebuilt CPU binary ships in
 * the package). Greedy generation with the top-5 probabilities of each step, for parity tests on
 * prompts of our own, so the checks are not tied to the stored oracle files.
 */
import { getLlama, type Llama } from 'node-llama-cpp';

export interface LiveStep {
  token: number;
  top: [number, number][];
}

let llama: Promise<Llama> | undefined;

function instance(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  return llama;
}

export interface LlamaGreedyOptions {
  /**
   * Attention in F32 like lowbit's: K and V cached in F32 (llama.cpp's default is F16) and no
   * flash attention (on by default on CPU; it rounds through F16). Over a long context either
   * alone moves the probabilities by more than the F32 parity bound (6e-3 at 2,000 tokens).
   */
  f32Attention?: boolean;
}

/** Greedy decode of `nSteps` tokens after `promptTokens` (given as ids, BOS included if wanted). */
export async function llamaGreedy(
  modelPath: string,
  promptTokens: number[],
  nSteps: number,
  options: LlamaGreedyOptions = {},
): Promise<LiveStep[]> {
  const l = await instance();
  const model = await l.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: Math.max(128, promptTokens.length + nSteps + 8),
    threads: 1,
    ...(options.f32Attention ? { flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  });
  try {
    const seq = context.getSequence();
    const out: LiveStep[] = [];
    const it = seq.evaluateWithMetadata(promptTokens as never, { probabilities: true }, { temperature: 0 });
    for await (const r of it) {
      const probs = [...(r.probabilities as Map<number, number>).entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
      out.push({ token: r.token as number, top: probs });
      if (out.length >= nSteps) break;
    }
    return out;
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/** llama.cpp's own tokenization of a prompt (special tokens parsed, BOS as the model asks). */
export async function llamaTokenize(modelPath: string, text: string): Promise<number[]> {
  const l = await instance();
  const model = await l.loadModel({ modelPath, gpuLayers: 0, vocabOnly: true } as never);
  try {
    const bos = model.tokens.bos;
    const toks = model.tokenize(text) as number[];
    const addBos =
      (model.fileInfo.metadata as { tokenizer?: { ggml?: { add_bos_token?: boolean } } }).tokenizer?.ggml?.add_bos_token ?? true;
    return addBos && bos != null ? [bos as number, ...toks] : toks;
  } finally {
    await model.dispose();
  }
}
