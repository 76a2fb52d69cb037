// `lowbit pull / ls / rm` (and inspect by stored name) as child processes against a local server.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadModel } from '../../src/storage/download.ts';
import { FsModelStore } from '../../src/storage/fs-store.ts';
import { completeBytes } from '../../src/storage/store.ts';
import { localModel, repoRoot } from '../helpers/fixtures.ts';
import { sha256Hex, TestFileServer } from '../storage/helpers.ts';

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/lowbit.js ...args`; `onStderr` may kill the child mid-way. */
function lowbit(args: string[], onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/lowbit.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, LOWBIT_STORE: undefined, LOWBIT_PROGRESS_MS: '100' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, (s) => child.kill(s));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const MODEL = 'tinystories-bitnet-3M-I2_S.gguf';
let bytes: Uint8Array;
let server: TestFileServer;
let tmp: string;
let n = 0;
let store: string;
let url: string;

beforeAll(async () => {
  bytes = new Uint8Array(await readFile(localModel(MODEL)));
  server = await new TestFileServer().start();
  tmp = await mkdtemp(join(tmpdir(), 'lowbit-cli-'));
  url = server.url(`/${MODEL}`);
});
afterAll(async () => {
  await server.stop();
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  server.files.set(`/${MODEL}`, { content: bytes, etag: '"1"' });
  server.bytesPerSecond = 0;
  server.rangeSupport = true;
  server.closeDelimited = false;
  server.truncations = [];
  server.hangNext = 0;
  server.cuts = [];
  server.resetCounters();
  store = join(tmp, `store-${n++}`);
});

describe('lowbit pull / ls / rm', () => {
  it('pulls with progress lines, lists, inspects by name, removes', async () => {
    const pull = await lowbit(['pull', url, '--store', store, '--sha256', sha256Hex(bytes), '--chunk-mib', '0.25']);
    expect(pull.stderr).toMatch(/download .*100\.0%/);
    expect(pull.stderr).toMatch(/verify .*100\.0%/);
    expect(pull.stdout).toContain(`${MODEL}: complete and verified`);
    expect(pull.stdout).toContain(sha256Hex(bytes));
    expect(pull.code).toBe(0);

    const ls = await lowbit(['ls', '--store', store]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`${MODEL.replace(/\./g, '\\.')}\\s+1\\.35 MB\\s+ready\\s+${url.replace(/[./]/g, '\\$&')}`));
    const json = JSON.parse((await lowbit(['ls', '--store', store, '--json'])).stdout);
    expect(json).toMatchObject([{ name: MODEL, size: bytes.length, present: true, storedBytes: bytes.length }]);

    const inspect = await lowbit(['inspect', MODEL, '--store', store]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/architecture\s+bitnet/);

    // Pulling again: nothing to download.
    server.resetCounters();
    expect((await lowbit(['pull', url, '--store', store, '-q'])).code).toBe(0);
    expect(server.bytesServed).toBe(0);

    const removed = await lowbit(['rm', MODEL, '--store', store]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(`deleted ${MODEL}`);
    expect((await lowbit(['ls', '--store', store])).stdout).toMatch(/^no models/);
    const again = await lowbit(['rm', MODEL, '--store', store]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/no stored model named/);
  });

  it('interrupted (Ctrl-C, then a hard kill), re-running continues where it stopped', async () => {
    server.bytesPerSecond = 200 * 1024; // per response, 2 in flight: ~3.4 s for the whole file
    const args = ['pull', url, '--store', store, '--chunk-mib', '0.0625', '--concurrency', '2'];
    let sent = false;
    const first = await lowbit(args, (text, kill) => {
      const m = /download (\d+\.\d)%/g;
      let last = 0;
      for (const x of text.matchAll(m)) last = Number(x[1]);
      if (!sent && last >= 25) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/interrupted \(.* kept\); run the same command again to resume/);
    const afterFirst = completeBytes((await new FsModelStore(store).getManifest(MODEL))!);
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(bytes.length);

    // A hard kill gives no chance to clean up: the manifest on disk still tells what is complete.
    let killed = false;
    const second = await lowbit(args, (text, kill) => {
      if (!killed && /download (5\d|6\d|7\d)\.\d%/.test(text)) {
        killed = true;
        kill('SIGKILL');
      }
    });
    expect(second.signal).toBe('SIGKILL');
    const afterSecond = completeBytes((await new FsModelStore(store).getManifest(MODEL))!);
    expect(afterSecond).toBeGreaterThanOrEqual(afterFirst);

    server.bytesPerSecond = 0;
    await server.idle(); // the killed process's throttled responses stop counting
    server.resetCounters();
    const third = await lowbit([...args, '--sha256', sha256Hex(bytes)]);
    expect(third.code).toBe(0);
    expect(server.bytesServed).toBeLessThanOrEqual(bytes.length - afterSecond);
    const m = (await new FsModelStore(store).getManifest(MODEL))!;
    expect(m.verified).toBe(true);
    expect(sha256Hex(new Uint8Array(await readFile(new FsModelStore(store).dataPath(MODEL))))).toBe(sha256Hex(bytes));
  });

  it('exits 2 with one error line for a wrong sha256 (model stays unusable), a 404, and bad arguments', async () => {
    const wrong = await lowbit(['pull', url, '--store', store, '--sha256', 'cd'.repeat(32), '-q']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/^error: IntegrityError: .*sha256 mismatch/m);
    expect((await lowbit(['ls', '--store', store])).stdout).toMatch(/unverified/);
    const inspect = await lowbit(['inspect', MODEL, '--store', store]);
    expect(inspect.code).toBe(2);
    expect(inspect.stderr).toMatch(/downloaded but not verified/);

    const missing = await lowbit(['pull', server.url('/nope.gguf'), '--store', store, '-q']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/DownloadError: .*HTTP 404/);

    expect((await lowbit(['pull', '--store', store])).code).toBe(2);
    expect((await lowbit(['pull', 'not-a-file-or-url', '--store', store])).stderr).toMatch(/neither an http\(s\) URL nor an existing file/);
    expect((await lowbit(['pull', url, '--name', '../evil', '--store', store])).stderr).toMatch(/invalid model name/);
    const tooBig = await lowbit(['pull', url, '--store', `${store}-fresh`, '--max-bytes', '1000', '-q']);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toMatch(/^error: DownloadError: .* is \d+ bytes, more than the 1000-byte limit\n$/);
    const badMax = await lowbit(['pull', url, '--store', store, '--max-bytes', '1.5']);
    expect(badMax.code).toBe(2);
    expect(badMax.stderr).toMatch(/^error: --max-bytes must be a positive whole number of bytes, got '1\.5'\n$/);
  });

  it('derives a valid name from a URL whose file name starts with "-", and says no checksum was given', async () => {
    server.files.set('/-m.gguf', { content: bytes });
    const r = await lowbit(['pull', server.url('/-m.gguf'), '--store', store, '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`m.gguf: complete (no checksum given), 1.35 MB (${bytes.length} bytes)\n`);
    // A name the user gives that is not valid: a usage error, one line, exit 2.
    const bad = await lowbit(['pull', url, '--name=-x', '--store', store]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: invalid model name '-x'[^\n]*\n$/);
  });

  it('ls and rm --all work during a pull and after a kill -9 left its lock; a model named x.lock does not block x', async () => {
    server.bytesPerSecond = 200 * 1024;
    const args = ['pull', url, '--store', store, '--chunk-mib', '0.0625', '--concurrency', '1'];
    let during: Promise<Result> | undefined;
    const killed = await lowbit(args, (text, kill) => {
      if (!during && /download [1-9]\d*\.\d%/.test(text)) {
        during = lowbit(['ls', '--store', store]).finally(() => kill('SIGKILL'));
      }
    });
    expect(killed.signal).toBe('SIGKILL');
    const lsDuring = (await during)!;
    expect(lsDuring.stderr).toBe('');
    expect(lsDuring.code).toBe(0);
    expect(lsDuring.stdout).toMatch(new RegExp(`${MODEL.replace(/\./g, '\\.')}\\s+1\\.35 MB\\s+partial`));
    // The killed pull's lock stays behind, outside the model names.
    expect(await readFile(join(store, '.locks', `${MODEL}.lock`), 'utf8')).toMatch(/^\d+$/);
    const lsAfter = await lowbit(['ls', '--store', store, '--json']);
    expect(lsAfter.code).toBe(0);
    expect(JSON.parse(lsAfter.stdout).map((m: { name: string }) => m.name)).toEqual([MODEL]);
    const rmAll = await lowbit(['rm', '--all', '--store', store]);
    expect(rmAll.stderr).toBe('');
    expect(rmAll.stdout).toContain('deleted 1 model(s)');

    server.bytesPerSecond = 0;
    expect((await lowbit(['pull', url, '--name', 'x.lock', '--store', store, '-q'])).code).toBe(0);
    const x = await lowbit(['pull', url, '--name', 'x', '--store', store, '-q']);
    expect(x.stderr).toBe('');
    expect(x.code).toBe(0);
    expect(JSON.parse((await lowbit(['ls', '--store', store, '--json'])).stdout).map((m: { name: string }) => m.name)).toEqual([
      'x',
      'x.lock',
    ]);
  });

  it('a close-delimited body cut short is not a model: ls says partial, and the next pull finishes it', async () => {
    server.rangeSupport = false;
    server.closeDelimited = true;
    server.truncations = [800_000];
    await expect(downloadModel({ store: new FsModelStore(store), url, maxRetries: 0 })).rejects.toThrow(/body ended after 800000 bytes/);
    const ls = await lowbit(['ls', '--store', store]);
    expect(ls.stdout).toMatch(/partial \(size unknown\)/);
    // Before, the cut body was "complete" and this pull returned at once.
    server.resetCounters();
    const again = await lowbit(['pull', url, '--store', store, '--sha256', sha256Hex(bytes), '-q']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(server.bytesServed).toBeGreaterThan(0);
    expect(again.stdout).toContain('complete and verified');
  });

  it('--timeout: a server that does not answer is given up on after that long, and the request retried', async () => {
    server.hangNext = 1;
    const t0 = Date.now();
    const r = await lowbit(['pull', url, '--store', store, '--timeout', '0.3', '-q']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(server.requests).toBeGreaterThanOrEqual(2);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const bad = await lowbit(['pull', url, '--store', store, '--timeout', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: --timeout must be a number of seconds above 0 \(at most one day\), got '0'/);
  });

  it('imports a local file', async () => {
    const r = await lowbit(['pull', localModel(MODEL), '--store', store, '--name', 'local-copy', '-q']);
    expect(r.code).toBe(0);
    expect((await lowbit(['ls', '--store', store, '--json'])).stdout).toContain('"fileName": "tinystories-bitnet-3M-I2_S.gguf"');
    expect((await lowbit(['rm', '--all', '--store', store])).stdout).toContain('deleted 1 model(s)');
  });
});
