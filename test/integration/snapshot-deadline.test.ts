// `snapshot --deadline` (the pre-sleep job) for real: an SSH target that accepts and never answers,
// a lock held by another process, a real `snapkeep snapshot` stuck on a frozen filesystem. Every
// claim is an event: the process has exited, the snapshots exist, the holder still holds, the
// hanging listener was never connected to; never a wall-clock distance.
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { loopback } from '../helpers/net.js';
import { descendantsOf, isRunning, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock', 'fsfreeze']);
});

/** A TCP listener on 127.0.0.1 that accepts connections and never says a word (a hung sshd). */
async function hangingListener(): Promise<{ port: number; connections: () => number }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, loopback, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  );
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connections: () => sockets.length,
  };
}

interface World {
  readonly disks: LoopBtrfs[];
  readonly base: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly journal: string;
  /** The snapshot directory of subvolume `name` (on its own disk). */
  snapshotsOf(name: string): string;
}

/** Subvolumes, each on its own filesystem, with targets written into the config as given. */
async function makeWorld(
  names: readonly string[],
  targets: (world: { base: string; disks: LoopBtrfs[] }) => string,
): Promise<World> {
  const base = await makeTempDir('deadline');
  cleanups.push(async () => {
    await runCommand({ file: 'rm', args: ['-rf', base] });
  });
  const disks: LoopBtrfs[] = [];
  for (const name of names) {
    const disk = await createLoopBtrfs(`deadline-${name}`, 256);
    cleanups.push(() => disk.cleanup());
    disks.push(disk);
    await createSubvolume(join(disk.mountPoint, name));
    await writeRandomData(join(disk.mountPoint, name), 1);
    await runChecked({
      file: 'mkdir',
      args: ['-p', join(disk.mountPoint, 'backups'), join(disk.mountPoint, 'snapshots')],
    });
  }
  const stateDir = join(base, 'state');
  await runChecked({ file: 'mkdir', args: ['-p', stateDir] });
  const configPath = join(base, 'snapkeep.yaml');
  const targetText = targets({ base, disks });
  const targetNames = [...targetText.slice(targetText.indexOf('targets:')).matchAll(/^ {2}(\S+):/gm)].map(
    (match) => match[1],
  );
  await writeFile(
    configPath,
    `state_dir: ${stateDir}
${targetText}subvolumes:
${names
  .map(
    (name, index) => `  ${name}:
    path: ${join(disks[index]!.mountPoint, name)}
    snapshot_dir: ${join(disks[index]!.mountPoint, 'snapshots')}
    targets: [${targetNames.join(', ')}]
`,
  )
  .join('')}`,
  );
  return {
    disks,
    base,
    configPath,
    stateDir,
    journal: join(stateDir, 'journal.ndjson'),
    snapshotsOf: (name) => join(disks[names.indexOf(name)]!.mountPoint, 'snapshots'),
  };
}

const snapshotNames = async (directory: string, name: string): Promise<string[]> =>
  (await readdir(directory).catch(() => [] as string[]))
    .filter((entry) => entry.startsWith(`${name}.2`))
    .sort();

async function journal(world: World): Promise<Record<string, unknown>[]> {
  return (await readFile(world.journal, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The journal lines of the run whose run-start has `deadline` set. */
async function deadlineRun(world: World): Promise<Record<string, unknown>[]> {
  const entries = await journal(world);
  const start = entries.find((entry) => entry.event === 'run-start' && entry.deadline !== undefined);
  expect(start, 'a run-start with the deadline').toBeDefined();
  return entries.filter((entry) => entry.run === start!.run);
}

describe('snapshot --deadline', () => {
  it('never touches a target, even one that hangs, and takes the snapshots', async () => {
    const hang = await hangingListener();
    const world = await makeWorld(['home'], ({ base, disks }) => {
      return `ssh:
  identity_file: ${join(base, 'id_ed25519')}
  known_hosts: ${join(base, 'known_hosts')}
  connect_timeout: 600
targets:
  disk: { path: ${join(disks[0]!.mountPoint, 'backups')} }
  offsite: { path: "ssh://snapkeep@${loopback}:${hang.port}/backups" }
`;
    });
    await writeFile(join(world.base, 'id_ed25519'), '');
    await writeFile(join(world.base, 'known_hosts'), '');

    const result = await snapkeep(['snapshot', '--deadline', '3s', '--config', world.configPath, '--json']);
    expectExit(result, 0);
    const [taken] = await snapshotNames(world.snapshotsOf('home'), 'home');
    expect(taken).toBeDefined();
    const shown = await runChecked({
      file: 'btrfs',
      args: ['subvolume', 'show', join(world.snapshotsOf('home'), taken!)],
    });
    expect(shown.stdout).toMatch(/Flags:\s+readonly/);
    expect(hang.connections()).toBe(0);
    // Recorded as today: the step (pending sync derives from it) and the run's end.
    const lines = await deadlineRun(world);
    expect(lines.find((entry) => entry.event === 'step' && entry.kind === 'create-snapshot')).toMatchObject({
      ok: true,
      name: taken,
    });
    expect(lines.at(-1)).toMatchObject({ event: 'run-end', exitCode: 0 });

    // The control: without --deadline the same command does ask the targets (and would hang).
    const plain = startSnapkeep(['snapshot', '--config', world.configPath]);
    cleanups.push(() => killAndReap([plain.pid, ...descendantsOf(plain.pid).map((entry) => entry.pid)]));
    await waitUntil('plain snapshot to connect to the hanging target', () => hang.connections() > 0);
  });

  it('does not wait past its share of the deadline for a lock another process holds', async () => {
    const world = await makeWorld(
      ['home'],
      ({ disks }) => `targets:\n  disk: { path: ${join(disks[0]!.mountPoint, 'backups')} }\n`,
    );
    const lockFile = join(world.stateDir, 'snapkeep.lock');
    const holder = spawn('flock', [lockFile, 'sleep', '600'], { stdio: 'ignore' });
    cleanups.push(() => killAndReap([holder.pid!]));
    await waitUntil(
      'the lock to be held',
      async () =>
        (await runCommand({ file: 'flock', args: ['--nonblock', lockFile, 'true'] })).exitCode !== 0,
    );
    // The control: a run without a deadline is refused (11).
    expectExit(await snapkeep(['snapshot', '--config', world.configPath]), 11);

    const result = await snapkeep(['snapshot', '--deadline', '3s', '--config', world.configPath, '--json']);
    expectExit(result, 0);
    expect(isRunning(holder.pid!)).toBe(true);
    expect(await snapshotNames(world.snapshotsOf('home'), 'home')).toHaveLength(1);
    const lines = await deadlineRun(world);
    expect(lines[0]).toMatchObject({ event: 'run-start', command: 'snapshot', deadline: '3s' });
    expect(String(lines[0]!.lockNotHeld)).toContain('another snapkeep run holds the lock');
    expect(lines.at(-1)).toMatchObject({ event: 'run-end', exitCode: 0 });
  });

  it('stops at the deadline when a disk hangs: reports what was taken and what not, journals its end, exits 3', async () => {
    const world = await makeWorld(
      ['fast', 'stuck'],
      ({ disks }) => `targets:\n  disk: { path: ${join(disks[0]!.mountPoint, 'backups')} }\n`,
    );
    const stuckMount = world.disks[1]!.mountPoint;
    // A real run that holds the lock and hangs on the frozen disk: the one a pre-sleep job meets.
    await runChecked({ file: 'fsfreeze', args: ['--freeze', stuckMount] });
    let frozen = true;
    const thaw = async (): Promise<void> => {
      if (!frozen) return;
      frozen = false;
      await runChecked({ file: 'fsfreeze', args: ['--unfreeze', stuckMount] });
    };
    cleanups.push(thaw);
    const holder = startSnapkeep(['snapshot', '--config', world.configPath, '--json']);
    cleanups.push(async () => {
      await thaw();
      await holder.exited;
    });
    // Everything that writes to the frozen disk waits (mkdir of its snapshot directory, the
    // snapshot ioctl): once the other snapshot is taken, the holder is stuck there.
    await waitUntil(
      'the holding run to have taken its snapshot of the other disk',
      async () => (await snapshotNames(world.snapshotsOf('fast'), 'fast')).length === 1,
    );
    expect(isRunning(holder.pid)).toBe(true);

    const result = await snapkeep(['snapshot', '--deadline', '3s', '--config', world.configPath, '--json']);
    expectExit(result, 3);
    // Returned while the disk is still frozen and the other run still holds the lock.
    expect(frozen).toBe(true);
    expect(isRunning(holder.pid)).toBe(true);
    const fast = await snapshotNames(world.snapshotsOf('fast'), 'fast');
    expect(fast).toHaveLength(2);
    const report = events(result.stdout).find((event) => event.type === 'deadline') as {
      taken: { subvolume: string; name: string }[];
      notTaken: string[];
    };
    expect(report.taken.map((snapshot) => [snapshot.subvolume, snapshot.name])).toEqual([['fast', fast[1]]]);
    expect(report.notTaken).toEqual(['stuck']);
    const lines = await deadlineRun(world);
    expect(lines.at(-1)).toMatchObject({
      event: 'run-end',
      exitCode: 3,
      notTaken: ['stuck'],
      taken: [{ subvolume: 'fast', name: fast[1] }],
    });
    expect(lines.find((entry) => entry.event === 'step' && entry.subvolume === 'stuck')).toBeUndefined();

    // Thawed, the holder finishes. (Its stuck snapshot and the one this run gave up on may carry
    // the same name, so one of the two may fail; nothing is overwritten either way.)
    await thaw();
    await holder.exited;
  });
});
