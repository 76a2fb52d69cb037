/**
 * Numeric options of `lowbit run` are checked before the model is opened or the GPU started:
 * `--ctx 1.5`, `--ctx 0`, `--ctx abc` (and bad values of every other numeric option) are a usage
 * error, exit 2, one line naming the option.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.ts';
import { NUMBER_OPTIONS, numberOption } from '../../src/cli/options.ts';
import { expectCleanError, lowbit } from './lowbit-cli.ts';

const BAD: Record<string, string[]> = {
  '--ctx': ['1.5', '0', '1', 'abc', '-4', '', ' 8', '0x10', 'Infinity', 'NaN', '1e400', '9007199254740993'],
  '--n-predict': ['0', '2.5', '-1', 'x', ''],
  '--temp': ['-0.1', 'NaN', 'Infinity', 'warm'],
  '--top-k': ['-1', '1.5', 'all'],
  '--top-p': ['-0.1', '1.01', '2'],
  '--min-p': ['-1', '1.5'],
  '--repeat-penalty': ['0', '-1', 'off'],
  '--seed': ['-1', '1.5', '4294967296', 'random'],
  '--chunk-mib': ['0', '-1', 'big'],
  '--concurrency': ['0', '17', '1.5'],
  '--max-bytes': ['0', '1.5', '-5', '1e400'],
  '--timeout': ['0', '-1', '86401', 'soon'],
  '--max-gpu-mb': ['0', '-1', 'lots', '1e400', ''],
  '--context-shift': ['-1', '1.5', 'all', ''],
  '--port': ['-1', '65536', '1.5', 'http', ''],
  '--parallel': ['0', '65', '1.5', 'many'],
  '--queue': ['-1', '4097', '0.5'],
  '--threads': ['0', '257', '1.5', '-2', 'all'],
  '--chunks': ['0', '-1', '1.5', 'all', ''],
};
const GOOD: Record<string, [string, number][]> = {
  '--ctx': [
    ['2', 2],
    ['4096', 4096],
    ['1e3', 1000],
  ],
  '--n-predict': [
    ['1', 1],
    ['+64', 64],
  ],
  '--temp': [
    ['0', 0],
    ['0.7', 0.7],
    ['.5', 0.5],
    ['2', 2],
  ],
  '--top-k': [
    ['0', 0],
    ['40', 40],
  ],
  '--top-p': [
    ['0', 0],
    ['0.95', 0.95],
    ['1', 1],
  ],
  '--min-p': [
    ['0', 0],
    ['0.05', 0.05],
    ['1', 1],
  ],
  '--repeat-penalty': [
    ['1', 1],
    ['1.1', 1.1],
    ['0.5', 0.5],
  ],
  '--seed': [
    ['0', 0],
    ['42', 42],
    ['4294967295', 4294967295],
  ],
  '--chunk-mib': [
    ['0.25', 0.25],
    ['16', 16],
  ],
  '--concurrency': [
    ['1', 1],
    ['16', 16],
  ],
  '--max-bytes': [['1000', 1000]],
  '--timeout': [
    ['0.3', 0.3],
    ['86400', 86400],
  ],
  '--max-gpu-mb': [
    ['512', 512],
    ['0.5', 0.5],
  ],
  '--context-shift': [
    ['0', 0],
    ['64', 64],
  ],
  '--port': [
    ['0', 0],
    ['8080', 8080],
    ['65535', 65535],
  ],
  '--parallel': [
    ['1', 1],
    ['64', 64],
  ],
  '--queue': [
    ['0', 0],
    ['16', 16],
  ],
  '--threads': [
    ['1', 1],
    ['256', 256],
  ],
  '--chunks': [
    ['1', 1],
    ['100', 100],
  ],
};

describe('numberOption', () => {
  it('covers every numeric option of lowbit run, pull and serve', () => {
    expect(Object.keys(NUMBER_OPTIONS).sort()).toEqual(Object.keys(BAD).sort());
  });

  it.each(Object.entries(BAD))('%s rejects values outside its domain', (option, values) => {
    for (const v of values) {
      expect(() => numberOption(v, option, 0), `${option} ${JSON.stringify(v)}`).toThrow(UsageError);
      expect(() => numberOption(v, option, 0)).toThrow(new RegExp(`^${option} must be .*, got '`));
    }
  });

  it.each(Object.entries(GOOD))('%s accepts values inside its domain', (option, values) => {
    for (const [v, n] of values) expect(numberOption(v, option, -1)).toBe(n);
  });

  it('an absent option is the default (undefined when there is none)', () => {
    expect(numberOption(undefined, '--ctx')).toBeUndefined();
    expect(numberOption(undefined, '--n-predict', 64)).toBe(64);
  });
});

describe('lowbit run option errors come before the model and the GPU', () => {
  // The model does not exist: an option error must win over "no such file".
  const model = 'no-such-model-file.gguf';
  it.each([
    ['--ctx', '1.5'],
    ['--ctx', '0'],
    ['--ctx', 'abc'],
    ['--n-predict', '0'],
    ['--top-p', '2'],
    ['--seed', '-1'],
  ])('%s %s', async (option, value) => {
    const r = await lowbit('run', model, '-p', 'hi', `${option}=${value}`);
    expectCleanError(r, new RegExp(`^error: ${option} must be .*, got '${value}'$`));
  });

  it('valid options go on to open the model', async () => {
    const r = await lowbit(
      'run',
      model,
      '-p',
      'hi',
      '--ctx',
      '2',
      '--temp',
      '0.7',
      '--top-k',
      '40',
      '--top-p',
      '0.9',
      '--min-p',
      '0.05',
      '--repeat-penalty',
      '1.1',
      '--seed',
      '7',
      '-n',
      '3',
    );
    expectCleanError(r, /^error: ModelNotFoundError: no such file/);
  });
});
