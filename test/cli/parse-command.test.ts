/**
 * Every command parses its arguments through parseCommand: an unknown option, a wrong number of
 * positional arguments or a missing option value is a UsageError pointing at that command's help,
 * and -h prints the help and stops the command.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/errors.ts';
import { choiceOption, parseCommand } from '../../src/cli/options.ts';
import { expectCleanError, lowbit } from './lowbit-cli.ts';

const syntax = {
  name: 'demo',
  help: 'Usage: lowbit demo <a> [<b>]\n',
  options: { json: { type: 'boolean' }, ctx: { type: 'string', short: 'c' } },
  positionals: { min: 1, max: 2, text: 'takes one or two files' },
} as const;

describe('parseCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  it('returns the typed values and positionals', () => {
    const parsed = parseCommand(['a.gguf', '-c', '64', '--json'], syntax);
    expect(parsed?.values).toEqual({ ctx: '64', json: true });
    expect(parsed?.positionals).toEqual(['a.gguf']);
  });

  it('prints the help for -h and --help, whatever else is given, and returns null', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(parseCommand(['-h'], syntax)).toBeNull();
    expect(parseCommand(['x', 'y', 'z', '--help'], syntax)).toBeNull();
    expect(write).toHaveBeenCalledTimes(2);
    expect(write).toHaveBeenCalledWith(syntax.help);
  });

  it.each([
    [[], /^demo takes one or two files \(got 0; see lowbit demo --help\)$/],
    [['a', 'b', 'c'], /^demo takes one or two files \(got 3; see lowbit demo --help\)$/],
    [['a', '--bogus'], /Unknown option '--bogus'.* \(see lowbit demo --help\)$/],
    [['a', '--ctx'], /--ctx <value>' argument missing \(see lowbit demo --help\)$/],
    [['a', '--json=yes'], /'--json'.* \(see lowbit demo --help\)$/],
  ])('refuses %j with a usage error naming the command', (args, message) => {
    let thrown: unknown;
    try {
      parseCommand(args, syntax);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('choiceOption', () => {
  it('gives the choice, or undefined when the option is absent', () => {
    expect(choiceOption('int8', '--activations', ['auto', 'f32', 'int8'] as const)).toBe('int8');
    expect(choiceOption(undefined, '--activations', ['auto', 'f32', 'int8'] as const)).toBeUndefined();
  });

  it('refuses anything else (case, blanks, a prefix) naming the option and its choices', () => {
    for (const bad of ['INT8', ' int8', 'int', '']) {
      expect(() => choiceOption(bad, '--activations', ['auto', 'f32', 'int8'])).toThrow(
        new UsageError(`--activations must be one of auto, f32, int8, got '${bad}'`),
      );
    }
  });
});

describe('the commands use it', () => {
  it.each([
    ['ls', ['ls', 'extra'], /^error: ls takes no arguments \(got 1; see lowbit ls --help\)/],
    ['quantize', ['quantize', 'only-one.gguf'], /^error: quantize takes an input and an output file \(got 1; see lowbit quantize --help\)/],
    ['kl', ['kl', '--nope', 'a', 'b'], /^error: Unknown option '--nope'.*\(see lowbit kl --help\)/],
    // A terminal escape in a choice comes back escaped, before any model is opened.
    [
      'run',
      ['run', 'missing.gguf', '-p', 'hi', '--limits', '\x1b[31mred'],
      /^error: --limits must be one of adapter, default, mobile, got '\\x1b\[31mred'$/,
    ],
  ])('%s', async (_, args, message) => {
    expectCleanError(await lowbit(...args), message);
  });
});
