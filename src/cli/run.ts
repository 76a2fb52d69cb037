/**
 * `lowbit run <model> -p "…"`: generate text on the GPU (Dawn in Node; SwiftShader when there is
 * no GPU). Streams text to stdout and ends with prefill/decode tokens per second on stderr; with
 * --json prints exactly one JSON object instead.
 */
import { loadEngine } from '../engine/engine.ts';
import { SAMPLING_DEFAULTS, type GenerateOptions, type GeneratedToken, type TokenStream } from '../engine/types.ts';
import { LIMITS_TIERS } from '../gpu/device.ts';
import { requestNodeGpu, type AdapterChoice } from '../gpu/device-node.ts';
import { ACTIVATIONS_OPTIONS } from '../kernels/matvec-q8.ts';
import { AUTOTUNE_OPTIONS } from '../engine/kernel-choice.ts';
import { describeTuning } from '../kernels/autotune.ts';
import { openStore } from './store-arg.ts';
import { UsageError } from './errors.ts';
import { resolveModelSource } from './model-arg.ts';
import { numberOption as num, parseCommand, choiceOption, maxGpuBytesOption } from './options.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';

const HELP = `Usage: lowbit run <model> -p "prompt" [options]

<model> is a .gguf path or the name of a model in the store (lowbit pull).

Options:
  -p, --prompt TEXT   the prompt (raw text; BOS added when the model asks for it, as llama.cpp)
  -n, --n-predict N   tokens to generate (default 64)
  --temp T            temperature; 0 = greedy (default ${SAMPLING_DEFAULTS.temperature}, also with --chat)
  --top-k K           keep the K most likely tokens (default ${SAMPLING_DEFAULTS.topK} = off)
  --top-p P           nucleus sampling mass (default ${SAMPLING_DEFAULTS.topP} = off)
  --min-p M           drop tokens below M × the top probability (default ${SAMPLING_DEFAULTS.minP} = off)
  --repeat-penalty R  penalise tokens from the last ${SAMPLING_DEFAULTS.penaltyWindow} (default ${SAMPLING_DEFAULTS.repetitionPenalty} = off)
  --seed S            random seed for sampling (same seed, same output)
  --chat              treat the prompt as a user message in the model's chat template
  --system TEXT       system message with --chat
  --ctx N             context size in tokens (default min(model, 2048))
  --context-shift K   when the context is full (or the prompt is longer), keep the first K tokens
                      (BOS, the system prompt), drop the oldest half of the rest and go on
                      generating (llama.cpp's --keep); default off: a ContextOverflowError, or
                      generation ends with the context
  --json              print one JSON object: promptTokens, tokens, text, steps (top-5), timings
  --adapter A         auto | hardware | swiftshader (default auto; also LOWBIT_ADAPTER)
  --limits L          adapter | default | mobile: GPU limits to run under (default adapter: all the
                      GPU offers; default: WebGPU's defaults, 128 MiB bindings, as any browser gives)
  --activations A     auto | f32 | int8 | ggml: what decode's mat-vecs read (default auto: int8
                      activations with int8 dot products where the GPU has them, else f32; ggml:
                      a parity mode that rounds every linear's input as llama.cpp's CPU backend
                      does, to match its numbers on quantized files, slower)
  --autotune M        auto | on | off | retune: time the kernel variants on this GPU and model and
                      keep the fastest, cached in the store per adapter and model shapes (default
                      auto: on a hardware GPU, off on a software adapter; retune: ignore the cache)
  --max-gpu-mb N      refuse, before allocating, a model that needs more than N MiB of GPU memory
  --store DIR         model store directory (see lowbit pull --help)
  -h, --help          show this help
`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'run',
    help: HELP,
    options: {
      prompt: { type: 'string', short: 'p' },
      'n-predict': { type: 'string', short: 'n' },
      temp: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      seed: { type: 'string' },
      chat: { type: 'boolean' },
      system: { type: 'string' },
      ctx: { type: 'string' },
      'context-shift': { type: 'string' },
      json: { type: 'boolean' },
      adapter: { type: 'string' },
      limits: { type: 'string' },
      activations: { type: 'string' },
      autotune: { type: 'string' },
      'max-gpu-mb': { type: 'string' },
      store: { type: 'string' },
    },
    positionals: { min: 1, max: 1, text: 'needs exactly one model' },
  });
  if (!parsed) return 0;
  const v = parsed.values;
  if (v.prompt === undefined) throw new UsageError('run needs a prompt: -p "…"');
  const nPredict = num(v['n-predict'], '--n-predict', 64);
  const contextSize = num(v.ctx, '--ctx');
  const gen: GenerateOptions = {
    maxTokens: nPredict,
    // Explicit, so --chat stays greedy too (chat() would otherwise pick CHAT_TEMPERATURE).
    temperature: num(v.temp, '--temp', SAMPLING_DEFAULTS.temperature),
    topK: num(v['top-k'], '--top-k', SAMPLING_DEFAULTS.topK),
    topP: num(v['top-p'], '--top-p', SAMPLING_DEFAULTS.topP),
    minP: num(v['min-p'], '--min-p', SAMPLING_DEFAULTS.minP),
    repetitionPenalty: num(v['repeat-penalty'], '--repeat-penalty', SAMPLING_DEFAULTS.repetitionPenalty),
    seed: num(v.seed, '--seed'),
    topLogprobs: Boolean(v.json),
  };
  const keep = num(v['context-shift'], '--context-shift');
  if (keep !== undefined) gen.contextShift = { keep };
  const limits = choiceOption(v.limits, '--limits', LIMITS_TIERS);
  const activations = choiceOption(v.activations, '--activations', ACTIVATIONS_OPTIONS);
  const autotune = choiceOption(v.autotune, '--autotune', AUTOTUNE_OPTIONS);
  const maxGpuBytes = maxGpuBytesOption(v['max-gpu-mb']);
  const model = await resolveModelSource(parsed.positionals[0]!, v.store);
  const gpu = await requestNodeGpu({ adapter: v.adapter as AdapterChoice | undefined, limits });
  try {
    const engine = await loadEngine(model.source, {
      gpu,
      contextSize,
      activations,
      autotune,
      autotuneCache: openStore(v.store),
      onAutotune: (r) => {
        if (r.source === 'measured') process.stderr.write(`lowbit: ${describeTuning(r)}\n`);
      },
      maxGpuBytes,
    });
    try {
      for (const w of engine.info.warnings ?? []) process.stderr.write(`lowbit: warning: ${w}\n`);
      if (keep !== undefined && keep > engine.info.contextSize - 2) {
        throw new UsageError(
          `--context-shift ${keep} keeps more tokens than a ${engine.info.contextSize}-token context leaves room for (at most ${engine.info.contextSize - 2})`,
        );
      }
      const messages = [
        ...(v.system ? [{ role: 'system' as const, content: v.system }] : []),
        { role: 'user' as const, content: v.prompt },
      ];
      const promptTokens = v.chat ? engine.chatFormat.format(messages).tokens : engine.encodePrompt(v.prompt);
      const stream: TokenStream = v.chat ? engine.chat(messages, gen) : engine.generate(promptTokens, gen);
      const steps: { token: number; top: [number, number][] }[] = [];
      const tokens: number[] = [];
      let text = '';
      const interrupt = new AbortController();
      const onSigint = () => interrupt.abort();
      process.once('SIGINT', onSigint);
      try {
        for await (const t of stream as AsyncIterable<GeneratedToken>) {
          if (interrupt.signal.aborted) break;
          if (t.id >= 0) {
            tokens.push(t.id);
            if (t.top) steps.push({ token: t.id, top: t.top });
          }
          text += t.text;
          // Model output is untrusted text (a prompt can make a model emit escape sequences).
          if (!v.json) process.stdout.write(escapeControl(t.text, true));
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
      const stats = await stream.stats;
      if (v.json) {
        process.stdout.write(
          terminalJson({
            promptTokens,
            tokens,
            text,
            steps,
            timings: { prefillTokensPerSec: stats.prefillTokensPerSec, decodeTokensPerSec: stats.decodeTokensPerSec },
          }) + '\n',
        );
      } else {
        process.stdout.write('\n');
        process.stderr.write(
          `[${stats.promptTokens} prompt tokens: ${stats.prefillTokensPerSec.toFixed(1)} tok/s prefill; ` +
            `${stats.generatedTokens} generated: ${stats.decodeTokensPerSec.toFixed(1)} tok/s decode; ${stats.finishReason}; ${engine.info.activations} activations; ${escapeControl(engine.info.adapter)}]\n`,
        );
      }
    } finally {
      await engine.dispose();
    }
  } finally {
    gpu.device.destroy();
    await model.close();
  }
  return 0;
}
