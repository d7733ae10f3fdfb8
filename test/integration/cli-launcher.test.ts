// The entry point dist/cli/main.cjs (src/cli/main.cts): it runs the CLI bundle with a V8 code
// cache, and the ES modules when the bundle is missing or older than the tsc output. Runs on a
// private copy of dist/ so that changing files' times cannot disturb other tests.
import { isAscii } from 'node:buffer';
import {
  chmod,
  cp,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/command.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let work = '';
let main = '';
let bundle = '';
let cacheDirectory = '';

const names = ['data.20260101T0000', 'data.20260102T0000', 'data.20260103T0000'];

function preview(): Promise<CommandResult> {
  return runCommand({
    file: process.execPath,
    args: [
      main,
      'retention',
      'preview',
      '--preserve',
      '1d',
      '--preserve-min',
      'no',
      '--now',
      '2026-01-03T12:00:00',
      '--json',
    ],
    env: { SNAPKEEP_CACHE_DIR: cacheDirectory, TZ: 'UTC' },
    input: `${names.join('\n')}\n`,
    timeoutMs: 60_000,
  });
}

/** The decisions, which must be right whichever way the CLI was loaded. */
function expectCorrectPreview(result: CommandResult): void {
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  const decisions = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; name: string; action: string })
    .filter((event) => event.type !== 'summary');
  expect(decisions.map((decision) => `${decision.name}:${decision.action}`)).toEqual([
    'data.20260101T0000:delete',
    'data.20260102T0000:keep',
    'data.20260103T0000:keep',
  ]);
}

async function codeCaches(): Promise<string[]> {
  return (await readdir(cacheDirectory)).filter((name) => name.startsWith('code-')).sort();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'snapkeep-launcher-'));
  await cp(join(repoRoot, 'dist'), join(work, 'dist'), { recursive: true, preserveTimestamps: true });
  await cp(join(repoRoot, 'package.json'), join(work, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(work, 'node_modules'));
  main = join(work, 'dist', 'cli', 'main.cjs');
  bundle = join(work, 'dist', 'cli', 'snapkeep.bundle.cjs');
  cacheDirectory = join(work, 'cache');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('dist/cli/main.cjs', () => {
  it('answers --version with the package version', async () => {
    const result = await runCommand({ file: process.execPath, args: [main, '--version'] });
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(result.stdout).toBe(`${version}\n`);
  });

  it("writes a command's code cache on its first run (0600 in a 0700 directory), reuses it, and replaces a corrupt or untrusted one", async () => {
    expectCorrectPreview(await preview());
    const [cacheName] = await codeCaches();
    expect(cacheName).toMatch(
      new RegExp(`^code-retention-${process.version}-${process.arch}-\\d+-\\d+\\.bin$`),
    );
    const cachePath = join(cacheDirectory, cacheName!);
    const first = await stat(cachePath);
    expect(first.mode & 0o777).toBe(0o600);
    expect((await stat(cacheDirectory)).mode & 0o777).toBe(0o700);
    expect(first.size).toBeGreaterThan(10_000);

    // Accepted by V8: not written again.
    expectCorrectPreview(await preview());
    const second = await stat(cachePath);
    expect([second.ino, second.mtimeMs]).toEqual([first.ino, first.mtimeMs]);

    // A valid cache that others could have written is never read (it could be anyone's code):
    // had V8 been given it, it would be accepted and left as it is.
    await chmod(cachePath, 0o666);
    expectCorrectPreview(await preview());
    const replaced = await stat(cachePath);
    expect(replaced.mode & 0o777).toBe(0o600);
    expect(replaced.size).toBeGreaterThan(10_000);

    // Garbage: V8 rejects it, the command is unaffected, a good cache replaces it.
    await writeFile(cachePath, 'not a code cache', { mode: 0o600 });
    expectCorrectPreview(await preview());
    expect((await stat(cachePath)).size).toBeGreaterThan(10_000);

    expect(await codeCaches()).toEqual([cacheName]);
  });

  it('runs a bundle of ASCII only (read as Latin-1), and one with other characters too', async () => {
    const original = await readFile(bundle);
    expect(isAscii(original)).toBe(true);
    const programTime = (await stat(join(work, 'dist', 'cli', 'program.js'))).mtime;
    try {
      // Hand-edited or built some other way: read as UTF-8, the characters survive.
      await writeFile(
        bundle,
        `${original.toString('latin1')}\nmodule.exports = { runCli: async () => { process.stdout.write('d\u00e9j\u00e0 \u2192 ok\\n'); return 0; } };\n`,
      );
      const newer = new Date(programTime.getTime() + 60_000);
      await utimes(bundle, newer, newer);
      const result = await preview();
      expect(result.stdout).toBe('d\u00e9j\u00e0 \u2192 ok\n');
    } finally {
      await writeFile(bundle, original);
    }
  });

  it('runs the bundle when it is current, and the ES modules when it is older than the build', async () => {
    const original = await readFile(bundle);
    const programTime = (await stat(join(work, 'dist', 'cli', 'program.js'))).mtime;
    try {
      // A bundle that cannot run shows that the bundle is what normally runs...
      await writeFile(bundle, "throw new Error('the bundle ran');\n");
      const newer = new Date(programTime.getTime() + 60_000);
      await utimes(bundle, newer, newer);
      const broken = await preview();
      expect(broken.exitCode).toBe(1);
      expect(broken.stderr).toContain('snapkeep: cannot start: Error: the bundle ran');

      // ...and a stale one (a build that skipped the bundler) is passed over for dist/'s modules.
      const older = new Date(programTime.getTime() - 60_000);
      await utimes(bundle, older, older);
      expectCorrectPreview(await preview());
    } finally {
      await writeFile(bundle, original);
    }
  });
});
