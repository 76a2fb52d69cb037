import { describe, expect, test } from 'vitest';
import { BlockSplitter } from '../../src/ui/markdown-blocks.ts';

/** Feeds `text` in pieces of `step` characters, as a stream would, and returns the final split. */
function stream(text: string, step: number) {
  const s = new BlockSplitter();
  let out = s.push('');
  for (let i = step; i < text.length + step; i += step) out = s.push(text.slice(0, i));
  return { blocks: [...out.blocks], tail: out.tail };
}

describe('BlockSplitter', () => {
  test('paragraphs become blocks at blank lines; the unfinished one is the tail', () => {
    const s = new BlockSplitter();
    expect(s.push('Once upon')).toEqual({ blocks: [], tail: 'Once upon' });
    const r = s.push('Once upon a time.\n\nThere was');
    expect(r.blocks).toEqual(['Once upon a time.\n\n']);
    expect(r.tail).toBe('There was');
  });

  test('blank lines inside fenced code do not split it', () => {
    const text = 'Code:\n\n```js\nlet a = 1;\n\nlet b = 2;\n```\n\nDone';
    const r = stream(text, 3);
    expect(r.blocks).toEqual(['Code:\n\n', '```js\nlet a = 1;\n\nlet b = 2;\n```\n\n']);
    expect(r.tail).toBe('Done');
  });

  test('a fence closes only with the same character and at least the same length', () => {
    const text = '````\n```\n\n~~~\n\n````\n\nafter';
    const r = stream(text, 1);
    expect(r.blocks).toEqual(['````\n```\n\n~~~\n\n````\n\n']);
    expect(r.tail).toBe('after');
  });

  test('an unclosed fence keeps everything after it in the tail', () => {
    const r = stream('intro\n\n```\ncode\n\nmore code', 2);
    expect(r.blocks).toEqual(['intro\n\n']);
    expect(r.tail).toBe('```\ncode\n\nmore code');
  });

  test('blocks plus tail always reassemble the text, whatever the chunking', () => {
    const text = '# Title\n\npara one\nline two\n\n\n- a\n- b\n\n```\nx\n\ny\n```\nafter fence\n\nend';
    for (const step of [1, 2, 5, 17, 1000]) {
      const r = stream(text, step);
      expect(r.blocks.join('') + r.tail).toBe(text);
      // Same split regardless of how the text arrived.
      expect(r).toEqual(stream(text, 1));
    }
  });

  test('text that does not extend the previous restarts the split', () => {
    const s = new BlockSplitter();
    s.push('a\n\nb\n\nc');
    expect(s.push('x\n\ny')).toEqual({ blocks: ['x\n\n'], tail: 'y' });
  });

  test('scanning is linear: a 200k-character reply streamed 4 characters at a time', () => {
    const para = 'word '.repeat(40) + '\n\n';
    const text = para.repeat(1000);
    const t0 = performance.now();
    const r = stream(text, 4);
    const ms = performance.now() - t0;
    expect(r.blocks).toHaveLength(1000);
    // Quadratic rescanning would take minutes here; linear takes milliseconds.
    expect(ms).toBeLessThan(3000);
  });
});
