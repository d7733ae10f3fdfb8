// `snapshot --deadline` against what it cannot wait for besides targets and the lock: a state
// directory whose filesystem is frozen (`fsfreeze`: every write there waits until it is thawed,
// as on a hung disk), and a snapshot command that hangs while the `latest` pointer can still be
// written. Every claim is an event: the process has exited while the disk is still frozen, the
// snapshots exist, the pointer names an existing snapshot; never a wall-clock distance.
import { readdir, readlink, writeFile } from 'node:fs/promises';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, writeRandomData } from '../helpers/btrfs-tree.js';
import { startSnapkeep, waitUntil } from '../helpers/processes.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock', 'fsfreeze', 'dd']);
});

const snapshotNames = async (directory: string): Promise<string[]> =>
  (await readdir(directory).catch(() => [] as string[])).filter((name) => /^home\.\d{8}/.test(name)).sort();

/** `home` on its own btrfs, its snapshots in `snapshotDir(home)`, the state directory as given. */
async function world(options: { stateDir?: string; snapshotDir?: (home: string) => string } = {}) {
  const disk = await cleanups.loopBtrfs('deadline-data', 256);
  const base = await cleanups.tempDir('deadline-state');
  const home = join(disk.mountPoint, 'home');
  await createSubvolume(home);
  await writeRandomData(home, 1);
  const snapshots = options.snapshotDir?.(home) ?? join(disk.mountPoint, 'snapshots');
  const stateDir = options.stateDir ?? join(base, 'state');
  const configPath = join(base, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${stateDir}
subvolumes:
  home:
    path: ${home}
    snapshot_dir: ${snapshots}
`,
  );
  return { base, home, snapshots, stateDir, configPath };
}

describe('snapshot --deadline and the state directory', () => {
  it('returns by its deadline while the state directory is frozen: the snapshot is taken, what was not recorded is said (exit 3)', async () => {
    const stateDisk = await cleanups.loopBtrfs('deadline-statedir', 256);
    const { snapshots, stateDir, configPath } = await world({
      stateDir: join(stateDisk.mountPoint, 'state'),
    });
    // A first run makes the state directory (lock file, journal) as every machine has it.
    expectExit(await snapkeep(['snapshot', '--config', configPath]), 0);
    expect(await snapshotNames(snapshots)).toHaveLength(1);

    await runChecked({ file: 'fsfreeze', args: ['--freeze', stateDisk.mountPoint] });
    let frozen = true;
    const thaw = async (): Promise<void> => {
      if (!frozen) return;
      frozen = false;
      await runChecked({ file: 'fsfreeze', args: ['--unfreeze', stateDisk.mountPoint] });
    };
    cleanups.push(thaw);
    const started = startSnapkeep(['snapshot', '--deadline', '3s', '--config', configPath, '--json']);
    cleanups.push(async () => {
      await thaw();
      await started.exited;
    });
    let exited: Awaited<typeof started.exited> | undefined;
    void started.exited.then((result) => (exited = result));
    const result = await waitUntil(
      'the deadline run to exit while the state directory is frozen',
      () => exited,
    );
    // Exited on its own, with the disk still frozen.
    expect(frozen).toBe(true);
    expect(result.code, result.stderr).toBe(3);
    const taken = await snapshotNames(snapshots);
    expect(taken).toHaveLength(2);
    expect((await show(join(snapshots, taken[1]!))).readonly).toBe(true);
    const summary = events(result.stdout).find((event) => event.type === 'summary') as {
      jobs: { subvolume: string; status: string }[];
    };
    expect(summary.jobs).toEqual([{ subvolume: 'home', status: 'ok' }]);
    expect(result.stderr).toContain('NOT RECORDED');
    expect(result.stderr).toContain(join(stateDir, 'journal.ndjson'));
    expect(result.stderr).toMatch(/run-start.*step create-snapshot .*run-end/);

    // Thawed, the state directory works as before: nothing holds its lock.
    await thaw();
    expectExit(await snapkeep(['snapshot', '--config', configPath]), 0);
    expect(await snapshotNames(snapshots)).toHaveLength(3);
  });

  it('moves the latest pointer only once its snapshot exists: a snapshot abandoned at the deadline leaves it naming one that does', async () => {
    // The default layout: the snapshot directory inside the subvolume (the pointer used to be
    // set just before the snapshot there).
    const { base, home, snapshots, configPath } = await world({
      snapshotDir: (home) => join(home, '.snapshots'),
    });
    expectExit(await snapkeep(['snapshot', '--config', configPath]), 0);
    const [first] = await snapshotNames(snapshots);
    expect(await readlink(join(snapshots, 'home.latest'))).toBe(first);

    // A btrfs whose `subvolume snapshot` hangs (a disk that stops answering at that moment);
    // everything else is the real one, and the pointer's directory stays writable.
    const realBtrfs = (await runChecked({ file: 'sh', args: ['-c', 'command -v btrfs'] })).stdout.trim();
    const bin = join(base, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'btrfs'),
      `#!/bin/sh\ncase " $* " in *" subvolume snapshot "*) exec sleep 600;; esac\nexec ${realBtrfs} "$@"\n`,
    );
    await chmod(join(bin, 'btrfs'), 0o755);
    await writeRandomData(home, 1, 'more');
    const stuck = await snapkeep(['snapshot', '--deadline', '2s', '--config', configPath, '--json'], {
      env: { PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    expectExit(stuck, 3);
    expect(events(stuck.stdout).find((event) => event.type === 'deadline')).toMatchObject({
      notTaken: ['home'],
    });
    expect(await snapshotNames(snapshots)).toEqual([first]);
    expect(await readlink(join(snapshots, 'home.latest'))).toBe(first);

    // With a btrfs that answers, the pointer follows the new snapshot.
    const taken = await snapkeep(['snapshot', '--deadline', '3s', '--config', configPath]);
    expectExit(taken, 0);
    const names = await snapshotNames(snapshots);
    expect(names).toHaveLength(2);
    expect(await readlink(join(snapshots, 'home.latest'))).toBe(names[1]);
  });
});
