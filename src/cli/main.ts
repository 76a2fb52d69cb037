/**
 * `lowbit` command line. Each subcommand is a module exporting `run(args): Promise<number>`,
 * loaded lazily so `lowbit inspect` never pays for the GPU stack. To add a subcommand, add one
 * entry to `commands` below.
 */
import { readFileSync } from 'node:fs';
import { reportError, UsageError } from './errors.ts';

export interface CliCommandModule {
  run(args: string[]): Promise<number>;
}

export interface CliCommand {
  /** One line for `lowbit --help`. */
  summary: string;
  load(): Promise<CliCommandModule>;
}

export const commands: Record<string, CliCommand> = {
  inspect: { summary: "Show a GGUF model's architecture, hyper-parameters, tokenizer and tensors", load: () => import('./inspect.ts') },
  run: { summary: 'Generate text with a model on the GPU (WebGPU through Dawn)', load: () => import('./run.ts') },
  serve: { summary: 'Serve a model over HTTP with an OpenAI-compatible API (chat, completions, SSE)', load: () => import('./serve.ts') },
  pull: { summary: 'Download a model (or import a file) into the model store; resumes where it stopped', load: () => import('./pull.ts') },
  ls: { summary: 'List stored models with sizes and state', load: () => import('./ls.ts') },
  rm: { summary: 'Delete stored models', load: () => import('./rm.ts') },
  quantize: {
    summary: "Quantize a GGUF model (Q8_0 … Q2_K, TQ1_0/TQ2_0, I2_S) with llama.cpp's type rules, byte for byte",
    load: () => import('./quantize.ts'),
  },
  perplexity: { summary: "Perplexity over a text file, by llama-perplexity's method, on the GPU", load: () => import('./perplexity.ts') },
  kl: { summary: 'KL divergence of a quantized model from its base model over a text file', load: () => import('./kl.ts') },
  imatrix: { summary: 'Collect an importance matrix (llama-imatrix GGUF format) on the GPU', load: () => import('./imatrix.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: lowbit <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run `lowbit <command> --help` for a command's options. `lowbit --version` prints the version.",
    '',
  ].join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI; returns the process exit status (0 ok, 1 internal error, 2 usage or input error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  try {
    if (name === 'help') {
      if (rest[0] === undefined) {
        process.stdout.write(usage());
        return 0;
      }
      return await dispatch(rest[0], ['--help']);
    }
    return await dispatch(name, rest);
  } catch (e) {
    return reportError(e);
  }
}

async function dispatch(name: string, args: string[]): Promise<number> {
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(commands).join(', ')})`);
  const mod = await command.load();
  return mod.run(args);
}
