import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// Long evaluations that `npm test` leaves out (hours on a software GPU): `npm run test:quality`
// runs lowbit perplexity/kl against llama.cpp's fixture tables, row by row. The base config's
// settings, with only these files (mergeConfig would add to its include list, not replace it).
export default defineConfig({ ...base, test: { ...base.test, include: ['test/**/*.eval.ts'] } });
