/** `lowbit rm <name>...`: delete models (complete or partial) from the file-system store. */
import { ModelNotFoundError } from '../errors.ts';
import { formatBytes } from '../format.ts';
import { completeBytes, deleteAllModels } from '../storage/store.ts';
import { UsageError } from './errors.ts';
import { openStore, STORE_HELP, STORE_OPTION } from './store-arg.ts';
import { escapeControl } from './terminal-text.ts';
import { parseCommand } from './options.ts';

const HELP = `Usage: lowbit rm <name>... [--store DIR]
       lowbit rm --all [--store DIR]

Delete stored models, complete or partial (see lowbit ls for names).

Options:
  --all        delete every model in the store
${STORE_HELP}
  -h, --help   show this help
`;

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'rm',
    help: HELP,
    options: { ...STORE_OPTION, all: { type: 'boolean' } },
    positionals: { min: 0, max: Infinity, text: 'takes model names' },
  });
  if (!parsed) return 0;
  const store = openStore(parsed.values.store);
  if (parsed.values.all) {
    if (parsed.positionals.length > 0) throw new UsageError('rm --all takes no names');
    const n = await deleteAllModels(store);
    process.stdout.write(`deleted ${n} model(s) from ${escapeControl(store.location)}\n`);
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError('rm needs at least one model name (or --all; see lowbit rm --help)');
  // Check every name first so a typo deletes nothing.
  const manifests = [];
  for (const name of parsed.positionals) {
    const m = await store.getManifest(name).catch(() => undefined);
    if (!m) throw new ModelNotFoundError(`no stored model named '${name}' in ${store.location} (see lowbit ls)`);
    manifests.push(m);
  }
  for (const m of manifests) {
    await store.deleteModel(m.id);
    process.stdout.write(`deleted ${escapeControl(m.name)} (${formatBytes(completeBytes(m))})\n`);
  }
  return 0;
}
