// The program's own flags, through the built CLI: `-c FILE` before the command is the command's
// --config (btrbk's `btrbk -c FILE run`), and `-q`/`--quiet` leaves only warnings and errors.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, expectExit, snapkeep } from '../helpers/cli.js';

let work = '';
let config = '';
let broken = '';
// No fallback configuration: what the command reads is the one -c names, or none.
const env = { SNAPKEEP_CONFIG: '/nonexistent/snapkeep.yaml' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'snapkeep-global-'));
  config = join(work, 'with spaces and ünïcode.yaml');
  broken = join(work, 'broken.yaml');
  const sample = await snapkeep(['config', 'init']);
  expectExit(sample, 0);
  await writeFile(config, sample.stdout.replace(/^state_dir: .*$/m, `state_dir: ${join(work, 'state')}`));
  await writeFile(broken, 'subvolumes:\n  home:\n    path: relative/path\n');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('-c/--config before the command', () => {
  it('is the configuration of the command after it, as --config after it is', async () => {
    const before = await snapkeep(['-c', config, 'config', 'show', '--json'], { env });
    const after = await snapkeep(['config', 'show', '--json', '--config', config], { env });
    const long = await snapkeep([`--config=${config}`, 'config', 'show', '--json'], { env });
    expectExit(before, 0);
    expectExit(after, 0);
    expect(before.stdout).toBe(after.stdout);
    expect(long.stdout).toBe(after.stdout);
    expect(before.stdout).toContain(join(work, 'state'));
    // Without it, the command reads the fallback (here: none), so -c is what made the difference.
    const without = await snapkeep(['config', 'show', '--json'], { env });
    expectExit(without, 2);
    expect(without.stderr).toContain('/nonexistent/snapkeep.yaml');
  });

  it('names the file in errors, for any command that reads a configuration', async () => {
    const result = await snapkeep(['-c', broken, 'config', 'validate'], { env });
    expectExit(result, 2);
    expect(result.stderr).toContain(broken);
    const status = await snapkeep(['-c', join(work, 'missing.yaml'), 'status'], { env });
    expectExit(status, 2);
    expect(status.stderr).toContain(join(work, 'missing.yaml'));
  });

  it("keeps the launcher's code cache per command, as without it", async () => {
    const cacheDirectory = await mkdtemp(join(work, 'cache-'));
    expectExit(
      await snapkeep(['-c', config, '-q', 'status'], { env: { ...env, SNAPKEEP_CACHE_DIR: cacheDirectory } }),
      3, // its one job has never run: stale
    );
    expect((await readdir(cacheDirectory)).filter((name) => name.startsWith('code-'))).toEqual([
      expect.stringMatching(/^code-status-/),
    ]);
  });

  it('is refused before a command that reads no configuration', async () => {
    const result = await snapkeep(['-c', config, 'config', 'init'], { env });
    expectExit(result, 2);
    expect(result.stderr).toContain('snapkeep config init does not read a configuration');
    expect(result.stdout).toBe('');
  });
});

describe('-q/--quiet', () => {
  it('prints nothing on stdout when all is well, before or after the command', async () => {
    const loud = await snapkeep(['-c', config, 'config', 'validate'], { env });
    expectExit(loud, 0);
    expect(loud.stdout).toContain('OK');
    for (const args of [
      ['-q', '-c', config, 'config', 'validate'],
      ['config', 'validate', '--quiet', '-c', config],
    ]) {
      const quiet = await snapkeep(args, { env });
      expectExit(quiet, 0);
      expect(quiet.stdout).toBe('');
      expect(quiet.stderr).toBe('');
    }
  });

  it('still prints errors, and --json events', async () => {
    const failed = await snapkeep(['-q', '-c', broken, 'config', 'validate'], { env });
    expectExit(failed, 2);
    expect(failed.stderr).toContain(broken);
    const json = await snapkeep(['-q', '-c', config, 'config', 'validate', '--json'], { env });
    expectExit(json, 0);
    expect(events(json.stdout).length).toBeGreaterThan(0);
  });
});
