/** `lowbit ls`: models in the file-system store, with sizes and state. */
import { formatBytes } from '../format.ts';
import { listModels, type StoredModelInfo } from '../storage/store.ts';
import { openStore, STORE_HELP, STORE_OPTION } from './store-arg.ts';
import { escapeControl, terminalJson } from './terminal-text.ts';
import { parseCommand } from './options.ts';

const HELP = `Usage: lowbit ls [--json] [--store DIR]

List the models in the store: name, size, state (ready, partial with percentage, or unverified)
and where each came from.

Options:
  --json       one JSON array (name, size, storedBytes, present, complete, verified, origin, ...)
${STORE_HELP}
  -h, --help   show this help
`;

function state(m: StoredModelInfo): string {
  if (m.present) return 'ready';
  if (m.complete) return 'unverified';
  if (m.sizeUnknown) return 'partial (size unknown)';
  return `partial ${m.size > 0 ? ((100 * m.storedBytes) / m.size).toFixed(1) : '0.0'}%`;
}

export async function run(args: string[]): Promise<number> {
  const parsed = parseCommand(args, {
    name: 'ls',
    help: HELP,
    options: { ...STORE_OPTION, json: { type: 'boolean' } },
    positionals: { min: 0, max: 0, text: 'takes no arguments' },
  });
  if (!parsed) return 0;
  const store = openStore(parsed.values.store);
  const models = await listModels(store);
  if (parsed.values.json) {
    process.stdout.write(`${terminalJson(models, 2)}\n`);
    return 0;
  }
  if (models.length === 0) {
    process.stdout.write(`no models in ${escapeControl(store.location)}\n`);
    return 0;
  }
  // Names, URLs and imported file names are escaped: a file name can hold any byte but / and NUL.
  const rows = models.map((m) =>
    [m.name, formatBytes(m.size), state(m), m.origin.kind === 'url' ? m.origin.url : m.origin.fileName].map((c) => escapeControl(c)),
  );
  const header = ['NAME', 'SIZE', 'STATE', 'SOURCE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const total = models.reduce((s, m) => s + m.storedBytes, 0);
  process.stdout.write(
    `${[line(header), ...rows.map(line)].join('\n')}\n${models.length} model(s), ${formatBytes(total)} stored in ${escapeControl(store.location)}\n`,
  );
  return 0;
}
