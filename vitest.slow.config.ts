import { configDefaults, defineConfig } from 'vitest/config';
import base, { SLOW_SUITES } from './vitest.config.ts';

// `npm run test:slow`: the long GPU suites `npm test` leaves out (see SLOW_SUITES), with the base
// config's settings. CI runs it after `npm test`.
export default defineConfig({ ...base, test: { ...base.test, include: SLOW_SUITES, exclude: configDefaults.exclude } });
