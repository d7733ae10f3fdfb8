// What a person sees when the system refuses a file operation (a missing subvolume path, a state
// directory under a file or on a read-only or full filesystem, a secret file that is a directory):
// the path, the cause and the fix, with the documented exit code and no stack trace — never
// Node's bare "ENOENT: no such file or directory, realpath '…'". Real files, real tmpfs mounts.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { snapkeep, expectExit } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';

let base: string;

beforeAll(async () => {
  base = await makeTempDir('system-errors');
  await mkdir(join(base, 'uploads'));
  await writeFile(join(base, 'uploads', 'a.txt'), 'a\n');
  await writeFile(join(base, 'password'), 'local password\n');
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({ SNAPKEEP_CACHE_DIR: 'off' });

/** A backup-set config whose state directory and password reference are given. */
async function setConfig(name: string, stateDir: string, password = `file:${join(base, 'password')}`) {
  const path = join(base, `${name}.yaml`);
  await writeFile(
    path,
    `state_dir: ${stateDir}
repositories:
  local:
    url: ${join(base, `repo-${name}`)}
    password: ${password}
sources:
  uploads:
    type: directory
    paths: [${join(base, 'uploads')}]
backup_sets:
  app:
    sources: [uploads]
    repository: local
`,
  );
  return path;
}

function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/unexpected error/);
}

/** A tmpfs mounted at a fresh directory for the body, unmounted whatever happens. */
async function withTmpfs(options: string, body: (mountPoint: string) => Promise<void>): Promise<void> {
  const mountPoint = join(base, `tmpfs-${Math.random().toString(36).slice(2)}`);
  await mkdir(mountPoint);
  await runChecked({ file: 'mount', args: ['-t', 'tmpfs', '-o', options, 'tmpfs', mountPoint] });
  try {
    await body(mountPoint);
  } finally {
    await runChecked({ file: 'umount', args: [mountPoint] });
  }
}

describe('system errors reach the user explained', () => {
  it('a missing subvolume path: the job fails naming the path, the cause and the fix', async () => {
    const missing = join(base, 'no-such-subvolume');
    const path = join(base, 'subvolume.yaml');
    await writeFile(
      path,
      `state_dir: ${join(base, 'state-subvolume')}
subvolumes:
  home:
    path: ${missing}
    snapshot_dir: ${join(base, 'snapshots')}
`,
    );
    for (const args of [['run'], ['snapshot', '--dry-run']]) {
      const result = await snapkeep([...args, '--config', path], { env: env() });
      expectExit(result, 3); // the job failed (no job succeeded either): exitCodeFor's rule
      expect(result.stderr).toContain(
        `FAILED: home: subvolume home: cannot resolve ${missing}: it does not exist (ENOENT); check the path (a typo? a disk that is not mounted?) or create it`,
      );
      expect(result.stderr).not.toContain('no such file or directory');
      expectNoStack(result.stderr);
    }
  });

  it('a state directory under a regular file: exit 1, the path, the cause and the fix', async () => {
    await writeFile(join(base, 'a-file'), 'x\n');
    const stateDir = join(base, 'a-file', 'state');
    const result = await snapkeep(['backup', '--config', await setConfig('under-file', stateDir)], {
      env: env(),
    });
    expectExit(result, 1);
    expect(result.stderr).toBe(
      `snapkeep: cannot create the directory ${stateDir}: a part of the path is a file, not a directory (ENOTDIR); move that file away or choose another path\n`,
    );
  });

  it('a state directory on a read-only filesystem: the real cause, not "does not exist"', async () => {
    await withTmpfs('size=1m,ro', async (mountPoint) => {
      const stateDir = join(mountPoint, 'state');
      const result = await snapkeep(['backup', '--config', await setConfig('read-only', stateDir)], {
        env: env(),
      });
      expectExit(result, 1);
      expect(result.stderr).toBe(
        `snapkeep: cannot create the directory ${stateDir}: in ${mountPoint}: the filesystem is read-only (EROFS); remount it read-write (is the disk failing? see dmesg) or choose a path on a writable filesystem\n`,
      );
    });
  });

  it('a state directory on a full filesystem: the cause and the fix, no stack', async () => {
    await withTmpfs('size=16k', async (mountPoint) => {
      await mkdir(join(mountPoint, 'state'));
      // Fill it: the journal's first line cannot be written.
      await writeFile(join(mountPoint, 'fill'), Buffer.alloc(16 * 1024)).catch(() => undefined);
      const result = await snapkeep(
        ['backup', '--config', await setConfig('full', join(mountPoint, 'state'))],
        { env: env() },
      );
      expectExit(result, 1);
      expect(result.stderr).toMatch(/no space is left on the device .*; free space on that filesystem/);
      expectNoStack(result.stderr);
    });
  });

  it('a secret file that is a directory: exit 2 naming the key, the path, the cause and the fix', async () => {
    const secret = join(base, 'secret-dir');
    await mkdir(secret, { recursive: true });
    const result = await snapkeep(
      ['backup', '--config', await setConfig('secret-dir', join(base, 'state-secret'), `file:${secret}`)],
      { env: env() },
    );
    expectExit(result, 2);
    expect(result.stderr).toContain(
      `repositories.local.password (file:${secret}): cannot read ${secret}: it is a directory, where a file was expected (EISDIR); give the path of a file`,
    );
    expectNoStack(result.stderr);
  });
});
