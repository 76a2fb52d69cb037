import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

// Long evaluations that `npm test` leaves out (hours on a software GPU): `npm run test:quality`
// runs lowbit perplexity/kl against llama.cpp's fixture tables, row by row.
export default mergeConfig(base, defineConfig({ test: { include: ['test/**/*.eval.ts'] } }));
