// The validated-config cache: a hit returns exactly what validation returns, any change to the
// file is a miss, invalid files are never cached, and `off` disables it.
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadResolvedConfig } from '../../../src/config/config-cache.js';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const valid = (stateDir: string, preserve = '7d'): string => `state_dir: ${stateDir}
targets:
  disk: { path: /mnt/backup }
subvolumes:
  home:
    path: /home
    targets: [disk]
    snapshot_retention: { preserve: "${preserve}" }
`;

describe('validated-config cache', () => {
  let root: string;
  let savedCacheDirectory: string | undefined;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'snapkeep-config-cache-'));
    savedCacheDirectory = process.env.SNAPKEEP_CACHE_DIR;
    process.env.SNAPKEEP_CACHE_DIR = join(root, 'cache');
  });
  afterEach(async () => {
    if (savedCacheDirectory === undefined) delete process.env.SNAPKEEP_CACHE_DIR;
    else process.env.SNAPKEEP_CACHE_DIR = savedCacheDirectory;
    await rm(root, { recursive: true, force: true });
  });

  it('a second load of an unchanged file is a hit and equals a fresh validation', async () => {
    const file = join(root, 'snapkeep.yaml');
    await writeFile(file, valid(join(root, 'state')));
    const first = await loadResolvedConfig(file);
    const second = await loadResolvedConfig(file);
    expect(first.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
    expect(second.resolved).toEqual((await loadConfig(file)).resolved);
    expect(second.resolved.subvolumes[0]!.snapshotRetention.preserve).toBe('7d');
  });

  it('a symlink made after the file was cached still refuses a target inside its source', async () => {
    // The disk is not in the cache key: the real paths are compared on every load.
    const file = join(root, 'snapkeep.yaml');
    const home = join(root, 'home');
    await mkdir(home);
    const text = `state_dir: ${join(root, 'state')}
targets:
  disk: { path: ${join(root, 'mnt', 'backup')} }
subvolumes:
  home:
    path: ${home}
    targets: [disk]
`;
    await writeFile(file, text);
    expect((await loadResolvedConfig(file)).fromCache).toBe(false);
    expect((await loadResolvedConfig(file)).fromCache).toBe(true);
    await symlink(home, join(root, 'mnt'));
    const error = await loadResolvedConfig(file).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const line = text.split('\n').findIndex((entry) => entry.includes('/mnt/backup')) + 1;
    expect((error as ConfigError).issues).toMatchObject([
      {
        file,
        line,
        path: 'targets.disk.path',
        message: expect.stringContaining('is inside subvolume "home"') as unknown,
      },
    ]);
  });

  it('any change to the text is a miss and the new values are used', async () => {
    const file = join(root, 'snapkeep.yaml');
    await writeFile(file, valid(join(root, 'state'), '7d'));
    await loadResolvedConfig(file);
    await writeFile(file, valid(join(root, 'state'), '9d'));
    const changed = await loadResolvedConfig(file);
    expect(changed.fromCache).toBe(false);
    expect(changed.resolved.subvolumes[0]!.snapshotRetention.preserve).toBe('9d');
    expect(await readdir(join(root, 'cache'))).toHaveLength(1); // one entry per config path
  });

  it('an invalid file is reported like loadConfig reports it, and is never cached', async () => {
    const file = join(root, 'snapkeep.yaml');
    await writeFile(file, valid(join(root, 'state')));
    await loadResolvedConfig(file);
    await writeFile(file, `${valid(join(root, 'state'))}parallel: zero\n`);
    const error = await loadResolvedConfig(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/parallel/);
    const again = await loadResolvedConfig(file).catch((caught: unknown) => caught);
    expect((again as ConfigError).message).toBe((error as ConfigError).message);
  });

  it('a corrupt entry is a miss, not an error', async () => {
    const file = join(root, 'snapkeep.yaml');
    await writeFile(file, valid(join(root, 'state')));
    await loadResolvedConfig(file);
    const [entry] = await readdir(join(root, 'cache'));
    await writeFile(join(root, 'cache', entry!), '{"format":1,"key":');
    const loaded = await loadResolvedConfig(file);
    expect(loaded.fromCache).toBe(false);
    expect(loaded.resolved.subvolumes).toHaveLength(1);
  });

  it('SNAPKEEP_CACHE_DIR=off never reads or writes a cache', async () => {
    process.env.SNAPKEEP_CACHE_DIR = 'off';
    const file = join(root, 'snapkeep.yaml');
    await writeFile(file, valid(join(root, 'state')));
    await loadResolvedConfig(file);
    expect((await loadResolvedConfig(file)).fromCache).toBe(false);
    await expect(readdir(join(root, 'cache'))).rejects.toThrow(/ENOENT/);
  });
});
