/**
 * Comparing a model with its base over the same text: the vocabulary check that makes their token
 * ids comparable, and the KL statistics over both models' chunks taken in step. `lowbit kl` and
 * the browser's quantization lab both measure through here.
 */
import { ModelFormatError } from '../errors.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { ScoredChunk } from './evaluate.ts';
import { KlAccumulator, type KlReport } from './quality.ts';

export interface ComparedModel {
  label: string;
  /** Rows of the model's logits (its output tensor's width). */
  vocabSize: number;
  tokenizer: Pick<Tokenizer, 'vocabSize' | 'tokenText'>;
}

/** Token ids index the same vocabulary only when both files have the same token list. */
export function checkSameVocabulary(base: ComparedModel, quant: ComparedModel): void {
  const a = base.tokenizer;
  const b = quant.tokenizer;
  if (base.vocabSize !== quant.vocabSize || a.vocabSize !== b.vocabSize) {
    throw new ModelFormatError(
      `${quant.label} has ${quant.vocabSize} tokens but ${base.label} has ${base.vocabSize}: KL needs one vocabulary`,
    );
  }
  for (let id = 0; id < a.vocabSize; id++) {
    if (a.tokenText(id) !== b.tokenText(id)) {
      throw new ModelFormatError(`token ${id} differs between ${base.label} and ${quant.label}: KL needs one vocabulary`);
    }
  }
}

/**
 * KL(base ‖ quant) and the related statistics over chunks of the same plan, taken in step: the
 * base's chunks may be evaluated alongside or replayed from memory. `onChunk` sees the running
 * statistics after each chunk.
 */
export async function compareChunks(
  baseChunks: AsyncIterable<ScoredChunk> | Iterable<ScoredChunk>,
  quantChunks: AsyncIterable<ScoredChunk>,
  vocab: number,
  onChunk?: (index: number, acc: KlAccumulator) => void,
): Promise<KlReport> {
  const acc = new KlAccumulator();
  const quant = quantChunks[Symbol.asyncIterator]();
  try {
    for await (const b of baseChunks) {
      const q = await quant.next();
      if (q.done) throw new RangeError(`the quantized model's evaluation ended before chunk ${b.index}`);
      acc.add(b.logits, q.value.logits, b.targets, vocab);
      onChunk?.(b.index, acc);
    }
  } finally {
    await quant.return?.(undefined);
  }
  return acc.report();
}
