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
  const [report] = await compareChunksWithEach(baseChunks, [quantChunks], vocab, onChunk && ((index, accs) => onChunk(index, accs[0]!)));
  return report!;
}

/**
 * compareChunks for several models against one base: each base chunk is taken once and compared
 * with every model's chunk of the same index, so N models cost N + 1 evaluations, not 2N.
 * The reports are in `quantChunks`' order.
 */
export async function compareChunksWithEach(
  baseChunks: AsyncIterable<ScoredChunk> | Iterable<ScoredChunk>,
  quantChunks: readonly AsyncIterable<ScoredChunk>[],
  vocab: number,
  onChunk?: (index: number, accs: readonly KlAccumulator[]) => void,
): Promise<KlReport[]> {
  const accs = quantChunks.map(() => new KlAccumulator());
  const quants = quantChunks.map((c) => c[Symbol.asyncIterator]());
  try {
    for await (const b of baseChunks) {
      for (let i = 0; i < quants.length; i++) {
        const q = await quants[i]!.next();
        if (q.done) throw new RangeError(`the quantized model's evaluation ended before chunk ${b.index}`);
        accs[i]!.add(b.logits, q.value.logits, b.targets, vocab);
      }
      onChunk?.(b.index, accs);
    }
  } finally {
    for (const q of quants) await q.return?.(undefined);
  }
  return accs.map((a) => a.report());
}
