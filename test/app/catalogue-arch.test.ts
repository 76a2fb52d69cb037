// A user who picks a catalogue model downloads hundreds of MB before the engine sees the file:
// every listed architecture must be one the engine runs.
import { expect, test } from 'vitest';
import { CATALOGUE } from '../../src/app/catalogue.ts';
import { SUPPORTED_ARCHITECTURES } from '../../src/model/config.ts';

test('every catalogue model has an architecture lowbit supports', () => {
  for (const e of CATALOGUE) expect(SUPPORTED_ARCHITECTURES, e.label).toContain(e.architecture);
});
