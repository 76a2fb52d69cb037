// Makes Node run lowbit's TypeScript sources directly: tsx for TypeScript, plus our `?raw` hook
// for WGSL imports. Imported first by bin/lowbit.js and the benchmark runner.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

register('./raw-hooks.js', import.meta.url);
registerTsx();
