/**
 * Numeric command-line options: parsed strictly (decimal only: no '', ' 1', '0x10', 'Infinity')
 * and checked against the option's domain before anything expensive starts, so a bad value is a
 * one-line usage error naming the option, never a GPU started for nothing or a NaN inside a kernel.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** A command's syntax: what parseCommand checks before the command does anything. */
export interface CommandSyntax<O extends ParseArgsOptionsConfig> {
  /** The command's name, as typed after `lowbit`. */
  name: string;
  /** Printed for -h/--help. */
  help: string;
  /** The command's own options (-h/--help is added). */
  options: O;
  /** How many positional arguments it takes, and a phrase naming them for the error ("needs exactly one model"). */
  positionals: { min: number; max: number; text: string };
}

type ParsedCommand<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: O & typeof HELP_OPTION }>
>;

/**
 * Every command's argument prologue in one place: node's strict parser, -h/--help, and the count
 * of positional arguments, each failure a UsageError that points at the command's help. Returns
 * null when the help was printed (the command then exits 0).
 */
export function parseCommand<O extends ParseArgsOptionsConfig>(args: string[], syntax: CommandSyntax<O>): ParsedCommand<O> | null {
  const see = `see lowbit ${syntax.name} --help`;
  let parsed: ParsedCommand<O>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { ...syntax.options, ...HELP_OPTION } });
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (${see})`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(syntax.help);
    return null;
  }
  const n = parsed.positionals.length;
  const { min, max, text } = syntax.positionals;
  if (n < min || n > max) throw new UsageError(`${syntax.name} ${text} (got ${n}; ${see})`);
  return parsed;
}

export interface NumberDomain {
  integer?: boolean;
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** The domain in words, for the error message. */
  text: string;
}

/** Every numeric CLI option and the values it accepts. */
export const NUMBER_OPTIONS: Readonly<Record<string, NumberDomain>> = {
  '--n-predict': { integer: true, min: 1, text: 'a positive integer' },
  '--ctx': { integer: true, min: 2, text: 'an integer of at least 2 (tokens)' },
  '--context-shift': { integer: true, min: 0, text: 'a number of tokens to keep, 0 or more' },
  '--chunks': { integer: true, min: 1, text: 'a positive integer (chunks of text)' },
  '--temp': { min: 0, text: 'a number ≥ 0 (0 = greedy)' },
  '--top-k': { integer: true, min: 0, text: 'an integer ≥ 0 (0 = off)' },
  '--top-p': { min: 0, max: 1, text: 'a number from 0 to 1' },
  '--min-p': { min: 0, max: 1, text: 'a number from 0 to 1' },
  '--repeat-penalty': { above: 0, text: 'a number > 0 (1 = off)' },
  '--max-gpu-mb': { above: 0, text: 'a number of MiB above 0' },
  '--seed': { integer: true, min: 0, max: 2 ** 32 - 1, text: 'an integer from 0 to 4294967295' },
  '--chunk-mib': { above: 0, text: 'a positive multiple of 1/256 (4 KiB)' },
  '--concurrency': { integer: true, min: 1, max: 16, text: 'an integer from 1 to 16' },
  '--max-bytes': { integer: true, min: 1, text: 'a positive whole number of bytes' },
  '--port': { integer: true, min: 0, max: 65_535, text: 'a port number from 0 to 65535 (0 = any free port)' },
  '--parallel': { integer: true, min: 1, max: 64, text: 'an integer from 1 to 64' },
  '--queue': { integer: true, min: 0, max: 4096, text: 'an integer from 0 to 4096' },
  '--timeout': { above: 0, max: 86_400, text: 'a number of seconds above 0 (at most one day)' },
  '--threads': { integer: true, min: 1, max: 256, text: 'an integer from 1 to 256' },
};

/**
 * The value of an option that takes one of `choices` (--limits, --activations, --autotune), or
 * undefined when it was not given; anything else is a UsageError listing the choices.
 */
export function choiceOption<T extends string>(value: string | undefined, option: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value))
    throw new UsageError(`${option} must be one of ${choices.join(', ')}, got '${value}'`);
  return value as T;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The value of numeric option `option` (a key of NUMBER_OPTIONS), or `fallback` when it was not
 * given. Throws a UsageError naming the option and its domain for anything outside it.
 */
/** --max-gpu-mb in bytes (undefined when absent: no total cap, only the device's per-buffer limits). */
export function maxGpuBytesOption(value: string | undefined): number | undefined {
  const mb = numberOption(value, '--max-gpu-mb');
  return mb === undefined ? undefined : Math.floor(mb * 1024 * 1024);
}

export function numberOption(value: string | undefined, option: string, fallback: number): number;
export function numberOption(value: string | undefined, option: string, fallback?: undefined): number | undefined;
export function numberOption(value: string | undefined, option: string, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const domain = NUMBER_OPTIONS[option];
  if (!domain) throw new Error(`no domain declared for numeric option ${option}`);
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  const ok =
    Number.isFinite(n) &&
    (!domain.integer || Number.isSafeInteger(n)) &&
    (domain.min === undefined || n >= domain.min) &&
    (domain.max === undefined || n <= domain.max) &&
    (domain.above === undefined || n > domain.above);
  if (!ok) throw new UsageError(`${option} must be ${domain.text}, got '${value}'`);
  return n;
}
