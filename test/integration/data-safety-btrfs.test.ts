// Data safety of the btrfs engine (issue 13): verification, garbage and pruning decisions, against
// real loop-mounted btrfs filesystems, through the built CLI (and the executor for one failure a
// CLI run cannot be made to produce).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, link, mkdir, readFile, readdir, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked, type CommandSpec } from '../../src/exec/command.js';
import { StepExecutor } from '../../src/btrfs/apply-steps.js';
import { localHost } from '../../src/btrfs/inventory.js';
import type { Host } from '../../src/remote/host.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import {
  createSubvolume,
  show,
  snapshotAs,
  snapshotsIn,
  treeChecksums,
  writeRandomData,
} from '../helpers/btrfs-tree.js';
import { remoteHostTools, sshConfig, sshUrl, startRemoteHost } from '../helpers/remote-host.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs']);
});

const loop = (label: string, sizeMiB = 512, options: string[] = []): Promise<LoopBtrfs> =>
  cleanups.loopBtrfs(label, sizeMiB, options);

/** A subvolume `data` on a source filesystem and an empty directory `backups` on a second one. */
async function sourceAndDisk(
  sourceOptions: string[] = [],
  diskLabel = 'disk',
): Promise<{ source: LoopBtrfs; disk: LoopBtrfs; data: string; target: string }> {
  const source = await loop('src', 512, sourceOptions);
  const disk = await loop(diskLabel);
  const data = join(source.mountPoint, 'data');
  const target = join(disk.mountPoint, 'backups');
  await createSubvolume(data);
  await mkdir(target);
  return { source, disk, data, target };
}

/** A config file (and its state dir) in a fresh temp dir; `yaml` is everything after state_dir. */
async function configFile(yaml: string): Promise<string> {
  const base = await cleanups.tempDir('safety');
  const path = join(base, 'snapkeep.yaml');
  await writeFile(path, `state_dir: ${join(base, 'state')}\n${yaml}`);
  return path;
}

/** The YAML of one subvolume `data` (snapshots in `snapshotDir`, `more` lines of its own) sent
 *  to every target of `targets` (name → path). */
function dataToTargets(
  data: string,
  snapshotDir: string,
  targets: Record<string, string>,
  more = '',
): string {
  const entries = Object.entries(targets);
  return `targets:
${entries.map(([name, path]) => `  ${name}: { path: ${JSON.stringify(path)} }\n`).join('')}subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${snapshotDir}
${more}    targets: [${Object.keys(targets).join(', ')}]
`;
}

/** Starts a process the test owns; it is killed (by pid) in cleanup if it is still running. */
function own(child: ChildProcess): ChildProcess {
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const ended = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGKILL');
      await ended;
    }
  });
  return child;
}

const stepEvents = (stdout: string) =>
  events(stdout).filter((event) => event.type === 'step') as {
    ok: boolean;
    error?: string;
    step: Record<string, unknown>;
  }[];

/** python3 -c: set a subvolume's received UUID and send transid (argv: path, uuid, stransid). */
const setReceivedUuid = `
import fcntl, os, struct, sys, uuid
# struct btrfs_ioctl_received_subvol_args: uuid[16], stransid, rtransid, stime, rtime, flags, reserved[16]
args = struct.pack('=16sQQQI4xQI4xQ128x', uuid.UUID(sys.argv[2]).bytes, int(sys.argv[3]), 0, 0, 0, 0, 0, 0)
request = (3 << 30) | (len(args) << 16) | (0x94 << 8) | 37
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, request, bytearray(args))
`;

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('btrfs data safety', () => {
  it('two targets on one filesystem: every incremental to both verifies (a copy may be cloned from the other target’s copy), exit 0 every run', async () => {
    const source = await loop('src');
    const disk = await loop('disk');
    const data = join(source.mountPoint, 'data');
    await createSubvolume(data);
    const [t1, t2] = [join(disk.mountPoint, 't1'), join(disk.mountPoint, 't2')];
    await mkdir(t1);
    await mkdir(t2);
    const config = await configFile(dataToTargets(data, join(source.mountPoint, 'snapshots'), { t1, t2 }));
    await writeRandomData(data, 4);
    for (let round = 0; round < 3; round++) {
      if (round > 0) await appendFile(join(data, 'file-0.bin'), `round ${round}`);
      const result = await snapkeep(['run', '--config', config, '--json']);
      expectExit(result, 0);
      const newest = (await snapshotsIn(join(source.mountPoint, 'snapshots'))).at(-1)!;
      const snapshot = await show(join(source.mountPoint, 'snapshots', newest));
      for (const target of [t1, t2]) {
        const copy = await show(join(target, newest));
        expect(copy.receivedUuid).toBe(snapshot.uuid);
        expect(await treeChecksums(join(target, newest))).toEqual(await treeChecksums(data));
      }
    }
  });

  it('two ssh targets on one remote filesystem: every incremental verifies through the target filter', async () => {
    await requireTools(remoteHostTools);
    const remote = await startRemoteHost();
    cleanups.push(() => remote.stop());
    const source = await loop('src');
    const data = join(source.mountPoint, 'data');
    await createSubvolume(data);
    for (const directory of ['t1', 't2']) await remote.run(['mkdir', '-p', `${remote.root}/${directory}`]);
    const url = (directory: string) => sshUrl(remote, `${remote.root}/${directory}`);
    const config = await configFile(
      sshConfig(remote) +
        dataToTargets(data, join(source.mountPoint, 'snapshots'), { t1: url('t1'), t2: url('t2') }),
    );
    await writeRandomData(data, 2);
    for (let round = 0; round < 3; round++) {
      if (round > 0) await appendFile(join(data, 'file-0.bin'), `round ${round}`);
      const result = await snapkeep(['run', '--config', config, '--json']);
      expectExit(result, 0);
      const sends = stepEvents(result.stdout).filter((event) => event.step.kind === 'send');
      expect(sends.map((event) => event.ok)).toEqual([true, true]);
    }
    // Each target's newest copy was received from the newest snapshot.
    const newest = (await snapshotsIn(join(source.mountPoint, 'snapshots'))).at(-1)!;
    const snapshot = await show(join(source.mountPoint, 'snapshots', newest));
    for (const directory of ['t1', 't2']) {
      const shown = await remote.run(['btrfs', 'subvolume', 'show', `${remote.root}/${directory}/${newest}`]);
      expect(shown.stdout).toMatch(new RegExp(`Received UUID:\\s+${snapshot.uuid}`));
    }
  });

  it('an increment that adds a hard link, renames a file with two links, a name with a space or a newline verifies (exit 0, copy kept)', async () => {
    const { source, data, target } = await sourceAndDisk();
    const config = await configFile(
      dataToTargets(data, join(source.mountPoint, 'snapshots'), { disk: target }),
    );
    await writeFile(join(data, 'linked'), 'one inode');
    await writeFile(join(data, 'with space'), 'two names');
    expectExit(await snapkeep(['run', '--config', config]), 0);
    // The stream prints `link NEW dest=EXISTING` with EXISTING relative to the subvolume.
    await link(join(data, 'linked'), join(data, 'second name'));
    await link(join(data, 'with space'), join(data, 'kept'));
    await rename(join(data, 'with space'), join(data, 'renamed one'));
    await writeFile(join(data, 'new\nline'), 'a newline in its name');
    const result = await snapkeep(['run', '--config', config, '--json']);
    expectExit(result, 0);
    const sends = stepEvents(result.stdout).filter((event) => event.step.kind === 'send');
    expect(sends.map((event) => event.ok)).toEqual([true]);
    const newest = (await snapshotsIn(target)).at(-1)!;
    expect(await readFile(join(target, newest, 'second name'), 'utf8')).toBe('one inode');
    expect(await readFile(join(target, newest, 'renamed one'), 'utf8')).toBe('two names');
    expect(await readFile(join(target, newest, 'new\nline'), 'utf8')).toBe('a newline in its name');
    expect(await snapshotsIn(target)).toHaveLength(2);
  });

  it('an increment with a fifo, a device node, a socket, xattrs, a reflinked copy, a hole, a symlink with spaces and a deep rename verifies', async () => {
    const { source, data, target } = await sourceAndDisk();
    const config = await configFile(
      dataToTargets(data, join(source.mountPoint, 'snapshots'), { disk: target }),
    );
    await mkdir(join(data, 'deep/er/still'), { recursive: true });
    await writeFile(join(data, 'deep/er/still/file'), 'deep');
    await writeFile(join(data, 'big'), Buffer.alloc(1_000_000, 3));
    expectExit(await snapkeep(['run', '--config', config]), 0);
    const odd = `
import os, socket, sys
d = sys.argv[1]
os.mkfifo(os.path.join(d, 'a fifo'))
os.mknod(os.path.join(d, 'null dev'), 0o600 | 0o020000, os.makedev(1, 3))
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, 'sock et')); s.close()
os.setxattr(os.path.join(d, 'big'), 'user.with space', b'value with\\nnewline')
os.symlink('../a target with spaces', os.path.join(d, 'sym link'))
with open(os.path.join(d, 'big'), 'r+b') as f:
    f.seek(4096 * 10); f.write(b'x' * 100)
    f.truncate(3_000_000)
os.rename(os.path.join(d, 'deep'), os.path.join(d, 'moved deep'))
`;
    await runChecked({ file: 'python3', args: ['-c', odd, data] });
    await runChecked({ file: 'cp', args: ['--reflink=always', join(data, 'big'), join(data, 'big clone')] });
    const result = await snapkeep(['run', '--config', config, '--json']);
    expectExit(result, 0);
    const newest = (await snapshotsIn(target)).at(-1)!;
    expect(await readFile(join(target, newest, 'moved deep/er/still/file'), 'utf8')).toBe('deep');
    expect((await readFile(join(target, newest, 'big clone'))).length).toBe(3_000_000);
    expect(await snapshotsIn(target)).toHaveLength(2);
  });

  // A name that is not UTF-8 is compared as its bytes: decoded lossily, it named a file neither
  // tree has, and "missing in both" passed.
  it.each([
    ['big.bin', Buffer.from('big.bin'), 'big\\.bin'],
    ['a name that is not UTF-8', Buffer.from('big\xff.bin', 'latin1'), 'big\\\\xff\\.bin'],
  ])(
    'a copy changed after its receive is refused by the verification of the next send built on it (%s)',
    async (_label, name, printed) => {
      const { source, data, target } = await sourceAndDisk();
      const config = await configFile(
        dataToTargets(data, join(source.mountPoint, 'snapshots'), { disk: target }),
      );
      const below = (directory: string): Buffer => Buffer.concat([Buffer.from(`${directory}/`), name]);
      await writeFile(below(data), Buffer.alloc(2_500_000, 7));
      await writeFile(join(data, 'other.txt'), 'unchanged');
      expectExit(await snapkeep(['run', '--config', config]), 0);
      const first = (await snapshotsIn(target))[0]!;
      const copy = join(target, first);
      const before = await show(copy);
      // Damage the copy the way a second receive into its path did: contents gone, then stamped
      // with the stream's received UUID (BTRFS_IOC_SET_RECEIVED_SUBVOL, what a receive does last;
      // making the copy writable cleared it) and made read-only again.
      const sendTransid = /Send transid:\s+(\d+)/.exec(
        (await runChecked({ file: 'btrfs', args: ['subvolume', 'show', copy] })).stdout,
      )![1]!;
      await runChecked({ file: 'btrfs', args: ['property', 'set', '-f', copy, 'ro', 'false'] });
      await truncate(below(copy), 0);
      await runChecked({
        file: 'python3',
        args: ['-c', setReceivedUuid, copy, before.receivedUuid!, sendTransid],
      });
      await runChecked({ file: 'btrfs', args: ['property', 'set', copy, 'ro', 'true'] });
      const damaged = await show(copy);
      expect(damaged.readonly).toBe(true);
      expect(damaged.uuid).toBe(before.uuid);
      expect(damaged.receivedUuid).toBe(before.receivedUuid);

      // The next increment appends to that file: its received copy is built on the damaged one.
      await appendFile(below(data), 'appended');
      const result = await snapkeep(['run', '--config', config, '--json']);
      expectExit(result, 3);
      const send = stepEvents(result.stdout).find((event) => event.step.kind === 'send')!;
      expect(send.ok).toBe(false);
      expect(send.error).toMatch(new RegExp(`verifying \\S+ failed: it does not match \\S+: ${printed}: `));
      expect(send.error).toContain('the copy was deleted');
      expect(await snapshotsIn(target)).toEqual([first]);
    },
  );

  it('after a failed transfer, a copy at its path that looks complete but was never verified is deleted', async () => {
    const { source, data, target } = await sourceAndDisk();
    await writeRandomData(data, 2);
    const snapshotPath = join(source.mountPoint, 'snapshots', 'data.20250101T1200');
    await snapshotAs(data, snapshotPath);
    // A host whose receive completes, then reports failure (an ssh connection lost after the
    // remote receive had finished): the copy is read-only with the stream's UUID, yet unchecked.
    const flaky: Host = {
      ...localHost,
      label: 'flaky',
      prepare: (spec: CommandSpec) =>
        Promise.resolve({ file: 'sh', args: ['-c', '"$@"; exit 255', 'sh', spec.file, ...spec.args] }),
      receivesInto: localHost.receivesInto!,
    };
    const executor = new StepExecutor(({ target: name }) => (name === undefined ? localHost : flaky));
    const outcome = await executor.execute({
      kind: 'send',
      subvolume: 'data',
      target: 'disk',
      name: 'data.20250101T1200',
      snapshotPath,
      targetDirectory: target,
      reason: 'test',
    });
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toMatch(/the unverified copy \S+data\.20250101T1200 was deleted/);
    expect(await snapshotsIn(target)).toEqual([]);
  });

  it('garbage a live btrfs receive is writing into is not deleted; the next run after it ended cleans and re-sends', async () => {
    const { source, data, target } = await sourceAndDisk();
    const snapshots = join(source.mountPoint, 'snapshots');
    await writeRandomData(data, 8);
    const name = 'data.20250101T1200';
    await snapshotAs(data, join(snapshots, name));
    const config = await configFile(dataToTargets(data, snapshots, { disk: target }));
    // An orphaned receive: fed the first part of a real stream through a FIFO the test holds open.
    const work = await cleanups.tempDir('orphan');
    const stream = join(work, 'stream');
    await runChecked({ file: 'btrfs', args: ['send', '-q', '-f', stream, join(snapshots, name)] });
    const fifo = join(work, 'fifo');
    await runChecked({ file: 'mkfifo', args: [fifo] });
    const receive = own(spawn('btrfs', ['receive', '-f', fifo, target], { stdio: 'ignore' }));
    const writer = createWriteStream(fifo);
    cleanups.push(() => {
      writer.destroy();
      return Promise.resolve();
    });
    writer.write((await readFile(stream)).subarray(0, 1024 * 1024));
    await until(
      async () => (await snapshotsIn(target)).includes(name),
      'the receive to create its subvolume',
    );
    expect((await show(join(target, name))).readonly).toBe(false);

    for (const args of [['--dry-run'], []]) {
      const result = await snapkeep(['run', '--config', config, ...args]);
      expectExit(result, 3);
      expect(result.stdout + result.stderr).toContain(
        `a btrfs receive (pid ${receive.pid}) is still writing into ${target}; run again when it has ended`,
      );
      expect(result.stdout).not.toMatch(/delete garbage/);
    }
    expect(await snapshotsIn(target)).toEqual([name]);
    expect(receive.exitCode).toBeNull();

    const ended = new Promise((resolve) => receive.once('close', resolve));
    receive.kill('SIGKILL');
    await ended;
    const again = await snapkeep(['run', '--config', config, '--json']);
    expectExit(again, 0);
    expect(stepEvents(again.stdout).map((event) => `${event.step.kind as string}:${event.ok}`)[0]).toBe(
      'delete-garbage:true',
    );
    const newest = (await snapshotsIn(target)).at(-1)!;
    expect((await show(join(target, newest))).readonly).toBe(true);
    expect(await treeChecksums(join(target, newest))).toEqual(await treeChecksums(data));
  });

  it('read-only subvolumes without a received UUID in a target directory (original snapshots) are never garbage', async () => {
    const source = await loop('src');
    const data = join(source.mountPoint, 'data');
    const snapshots = join(source.mountPoint, 'snapshots');
    await createSubvolume(data);
    await writeRandomData(data, 1);
    // Snapshots made into what is also the target directory (as btrbk or a hand-made layout can).
    for (const name of ['data.20250101T1200', 'data.20250102T1200'])
      await snapshotAs(data, join(snapshots, name));
    const config = await configFile(
      dataToTargets(data, join(source.mountPoint, 'other-snapshots'), { here: snapshots }),
    );
    const listed = await snapkeep(['list', '--what', 'backups', '--config', config]);
    expect(listed.stdout).not.toContain('GARBAGE');
    const result = await snapkeep(['run', '--config', config, '--json']);
    expectExit(result, 0);
    expect(stepEvents(result.stdout).map((event) => event.step.kind)).not.toContain('delete-garbage');
    for (const name of ['data.20250101T1200', 'data.20250102T1200'])
      expect((await show(join(snapshots, name))).readonly).toBe(true);
  });

  it('two subvolumes with the same snapshot_name sending to one directory (two configs) never prune each other’s copies', async () => {
    const source = await loop('src');
    const disk = await loop('disk');
    const target = join(disk.mountPoint, 'backups');
    await mkdir(target);
    const configs: string[] = [];
    for (const name of ['alpha', 'beta']) {
      await createSubvolume(join(source.mountPoint, name));
      await writeRandomData(join(source.mountPoint, name), 1, name);
      configs.push(
        await configFile(`targets:
  disk: { path: ${target} }
defaults:
  snapshot_retention: { preserve_min: latest, preserve: "no" }
  target_retention: { preserve_min: latest, preserve: "no" }
subvolumes:
  ${name}:
    path: ${join(source.mountPoint, name)}
    snapshot_name: data
    snapshot_dir: ${join(source.mountPoint, `snapshots-${name}`)}
    targets: [disk]
`),
      );
    }
    const copiesOf = async (name: string): Promise<string[]> => {
      const marker = `${name}-0.bin`;
      const found: string[] = [];
      for (const copy of await snapshotsIn(target))
        if ((await readdir(join(target, copy))).includes(marker)) found.push(copy);
      return found;
    };
    for (let round = 0; round < 3; round++) {
      for (const [index, config] of configs.entries()) {
        const name = ['alpha', 'beta'][index]!;
        await appendFile(join(source.mountPoint, name, `${name}-0.bin`), `round ${round}`);
        expectExit(await snapkeep(['run', '--config', config]), 0);
      }
      expect(await copiesOf('alpha')).toHaveLength(1);
      expect(await copiesOf('beta')).toHaveLength(1);
    }
    // Each still has the latest copy of its own data.
    for (const name of ['alpha', 'beta']) {
      const copy = (await copiesOf(name))[0]!;
      expect(await treeChecksums(join(target, copy))).toEqual(
        await treeChecksums(join(source.mountPoint, name)),
      );
    }
  });

  it('snapshot_create onchange: a write not yet committed still counts as a change', async () => {
    // A long commit interval: without a sync, the write stays uncommitted for the whole test.
    const { source, data, target } = await sourceAndDisk(['commit=300']);
    const snapshots = join(source.mountPoint, 'snapshots');
    await writeFile(join(data, 'first.txt'), 'first');
    const config = await configFile(
      dataToTargets(data, snapshots, { disk: target }, '    snapshot_create: onchange\n'),
    );
    expectExit(await snapkeep(['run', '--config', config]), 0);
    expect(await snapshotsIn(snapshots)).toHaveLength(1);
    const unchanged = await snapkeep(['run', '--config', config, '--json']);
    expectExit(unchanged, 0);
    expect(await snapshotsIn(snapshots)).toHaveLength(1);

    await writeFile(join(data, 'second.txt'), 'second');
    const result = await snapkeep(['run', '--config', config, '--json']);
    expectExit(result, 0);
    const names = await snapshotsIn(snapshots);
    expect(names).toHaveLength(2);
    expect(await readFile(join(snapshots, names[1]!, 'second.txt'), 'utf8')).toBe('second');
  });

  it('a snapshot_dir on another filesystem: dry-run and run give the same clear error and create nothing', async () => {
    const { source, disk: other, data, target } = await sourceAndDisk([], 'other');
    const snapshotDir = join(other.mountPoint, 'not-here', 'snapshots');
    await writeFile(join(data, 'file.txt'), 'x');
    const config = await configFile(dataToTargets(data, snapshotDir, { disk: target }));
    const messages: string[] = [];
    for (const args of [['--dry-run'], []]) {
      const result = await snapkeep(['run', '--config', config, ...args]);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).not.toMatch(/cross-device/i);
      const line = result.stderr.split('\n').find((text) => text.includes('snapshot_dir'))!;
      expect(line).toContain(
        `subvolume data: snapshot_dir ${snapshotDir} would be created on another filesystem than ${data}`,
      );
      expect(line).toContain(
        `set snapshot_dir to a directory on the filesystem mounted at ${source.mountPoint}`,
      );
      messages.push(line.replace(/^.*subvolume data:/, ''));
      expect(await readdir(other.mountPoint)).toEqual(['backups']);
    }
    expect(messages[0]).toBe(messages[1]);
  });
});
