/**
 * Builds the app (plus the test pages in e2e/pages, `--mode e2e`) once for all browser test files:
 * the output goes to node_modules/.cache/lowbit-e2e-builds/<checkout>/<hash of the inputs>/, so
 * test files running in parallel or one after another reuse one build, and a rebuild happens only
 * when a source file changed. A lock directory keeps two processes from building the same hash at
 * once.
 *
 * <checkout> is a hash of the repository's path: git worktrees can share one node_modules, and a
 * build of one checkout must not delete the build another checkout's tests are serving. A
 * checkout's older builds go when it builds anew; other checkouts' directories only when unused
 * for STALE_CHECKOUT_MS.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const buildsRoot = join(repo, 'node_modules/.cache/lowbit-e2e-builds');
const cacheRoot = join(buildsRoot, createHash('sha256').update(repo).digest('hex').slice(0, 12));
/** Another checkout's builds are deleted once nobody built or asked for them in this long. */
const STALE_CHECKOUT_MS = 24 * 60 * 60 * 1000;

const INPUTS = ['index.html', 'vite.config.ts', 'package.json', 'src', 'shaders', 'public', 'e2e/pages', 'e2e/build.ts', 'test/ui'];

function hashInputs(): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const abs = join(repo, rel);
    if (!existsSync(abs)) return;
    const st = statSync(abs);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) walk(join(rel, name));
      return;
    }
    h.update(rel);
    // Large binaries (the bundled model) by size and mtime; sources by content.
    if (st.size > 256 * 1024) h.update(`${st.size}:${st.mtimeMs}`);
    else h.update(readFileSync(abs));
  };
  for (const i of INPUTS) walk(i);
  return h.digest('hex').slice(0, 16);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Returns the directory of a build of the current sources (building it if needed). */
export async function buildForTests(): Promise<string> {
  const outDir = join(cacheRoot, hashInputs());
  const doneMark = join(outDir, '.complete');
  mkdirSync(cacheRoot, { recursive: true });
  // The checkout directory's mtime says when this checkout last used its builds.
  const now = new Date();
  utimesSync(cacheRoot, now, now);
  if (existsSync(doneMark)) return outDir;
  const lock = `${outDir}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(doneMark)) return outDir;
      // A lock older than 3 minutes belongs to a build that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* raced with its owner */
      }
      await sleep(250);
    }
  }
  try {
    if (existsSync(doneMark)) return outDir;
    const { build } = await import('vite');
    // Vitest sets NODE_ENV=test, which Vite would honour (dev builds of Lit, import.meta.env.PROD
    // false, so no service worker): test what `npm start` serves, a production build.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({
        root: repo,
        configFile: join(repo, 'vite.config.ts'),
        mode: 'e2e',
        logLevel: 'warn',
        build: { outDir, emptyOutDir: true },
      });
    } finally {
      if (nodeEnv === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = nodeEnv;
    }
    writeFileSync(doneMark, new Date().toISOString());
    // Old builds are dead weight.
    for (const name of readdirSync(cacheRoot)) {
      const p = join(cacheRoot, name);
      if (p !== outDir && p !== lock && !name.endsWith('.lock')) rmSync(p, { recursive: true, force: true });
    }
    for (const name of readdirSync(buildsRoot)) {
      const p = join(buildsRoot, name);
      if (p !== cacheRoot && Date.now() - statSync(p).mtimeMs > STALE_CHECKOUT_MS) rmSync(p, { recursive: true, force: true });
    }
    return outDir;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
