// What the demo downloads for a catalogue entry is checked against the entry: a pinned sha256
// must be the real file's, or every user of the bundled model would be refused it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BUNDLED_MODEL_PATH, CATALOGUE } from '../../src/app/catalogue.ts';

const root = join(import.meta.dirname, '../..');

test("the bundled model's pinned sha256 and size are those of the file the app serves", () => {
  const bundled = CATALOGUE.filter((e) => e.bundled);
  expect(bundled).toHaveLength(1);
  const bytes = readFileSync(join(root, 'public', BUNDLED_MODEL_PATH));
  expect(bundled[0]!.bytes).toBe(bytes.length);
  expect(bundled[0]!.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
});

test('every pinned sha256 is 64 lower-case hex digits, and every remote URL is a https Hugging Face file', () => {
  for (const e of CATALOGUE) {
    if (e.sha256 !== undefined) expect(e.sha256, e.key).toMatch(/^[0-9a-f]{64}$/);
    if (e.bundled) continue;
    const url = new URL(e.url);
    expect(url.protocol, e.key).toBe('https:');
    expect(url.hostname, e.key).toBe('huggingface.co');
    expect(url.pathname, e.key).toMatch(/^\/[^/]+\/[^/]+\/resolve\/[^/]+\/[^/]+\.gguf$/);
  }
});
