// Restore and pull back over SSH from a real remote host (test/helpers/remote-host.ts): after the
// local data and its snapshots are lost, after a restore the next run stays incremental, an older
// snapshot comes back incrementally, nothing is restored over existing data without --force, and
// a second device pulls the latest snapshot and then its successor incrementally.
import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import type { LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, snapshotsIn, treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { sshConfig, sshUrl, type RemoteHost } from '../helpers/remote-host.js';
import { startSshWorld } from '../helpers/ssh-world.js';

let remote: RemoteHost;
let local: LoopBtrfs;
let base: string;
let configPath: string;
let data: string;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  ({ remote, base, configPath } = await startSshWorld(cleanups, 'restore'));
  local = await cleanups.loopBtrfs('restore', 512);
  data = join(local.mountPoint, 'data');
  await remote.run(['mkdir', '-p', `${remote.root}/laptop`]);
  // The default layout: the snapshot directory is inside the subvolume (<path>/.snapshots).
  await writeFile(
    configPath,
    `state_dir: ${join(base, 'state')}
${sshConfig(remote)}targets:
  offsite:
    path: ${sshUrl(remote, `${remote.root}/laptop`)}
    # Keep every copy of the day: the second device's last pull must still be there as a parent.
    retention: { preserve_min: 1d }
subvolumes:
  data:
    path: ${data}
    targets: [offsite]
`,
  );
});

type StepEvent = { kind: string; name: string; parent?: { name: string } };

const sendSteps = (stdout: string): StepEvent[] =>
  events(stdout)
    .filter((event) => event.type === 'step' && (event.step as StepEvent | undefined)?.kind === 'send')
    .map((event) => event.step as StepEvent);

/** Checksums of the live data, without the nested snapshot directory. */
async function dataChecksums(path: string): Promise<Record<string, string>> {
  const sums = await treeChecksums(path);
  return Object.fromEntries(Object.entries(sums).filter(([key]) => !key.startsWith('.snapshots/')));
}

async function run(): Promise<StepEvent[]> {
  const result = await snapkeep(['run', '--config', configPath, '--json']);
  expectExit(result, 0);
  return sendSteps(result.stdout);
}

/** `snapkeep pull FROM data --into INTO …options` with this file's config. */
const pull = (from: string, into: string, ...options: string[]) =>
  snapkeep(['pull', from, 'data', '--into', into, ...options, '--config', configPath]);

describe('restore and pull over ssh', () => {
  let first: string;
  let second: string;
  let firstSums: Record<string, string>;
  let secondSums: Record<string, string>;

  it('lists local snapshots and the copies on the target, with dates', async () => {
    await createSubvolume(data);
    await writeRandomData(data, 24);
    const [full] = await run();
    first = full!.name;
    firstSums = await dataChecksums(data);
    await appendFile(join(data, 'file-1.bin'), 'changed');
    await writeFile(join(data, 'notes.txt'), 'second version\n');
    // Distinct names even within one minute (btrbk's _N suffix).
    const [incremental] = await run();
    second = incremental!.name;
    expect(incremental!.parent?.name).toBe(first);
    secondSums = await dataChecksums(data);

    const list = await snapkeep(['restore', '--config', configPath, '--json']);
    expectExit(list, 0);
    const points = events(list.stdout).filter((event) => event.type === 'restore-point');
    const where = (name: string) =>
      points.filter((point) => point.name === name).map((point) => point.location);
    expect(where(first).sort()).toEqual(['offsite', 'snapshots']);
    expect(where(second).sort()).toEqual(['offsite', 'snapshots']);
    const fullCopy = points.find((point) => point.name === first && point.location === 'offsite')!;
    expect(fullCopy.sentAs).toBe('full');
    expect(fullCopy.sentBytes).toBeGreaterThan(1024 * 1024);
    expect(String(fullCopy.date)).toMatch(/^\d{4}-\d\d-\d\dT/);
    const text = await snapkeep(['restore', 'data', '--config', configPath]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(new RegExp(`${second.replace(/\./g, '\\.')}\\s+\\S+ \\S+\\s+offsite`));
  });

  it('restores the latest copy after the data and its snapshots are lost, and the next run stays incremental', async () => {
    // Lose everything: the snapshots, then the subvolume.
    const snapshotDir = join(data, '.snapshots');
    for (const name of await snapshotsIn(snapshotDir))
      await runChecked({ file: 'btrfs', args: ['subvolume', 'delete', join(snapshotDir, name)] });
    await runChecked({ file: 'btrfs', args: ['subvolume', 'delete', data] });

    const dry = await snapkeep(['restore', 'data', 'latest', '--config', configPath, '--dry-run']);
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(
      new RegExp(`would receive ${second.replace(/\./g, '\\.')} from offsite .*full`),
    );
    expect(await readdir(local.mountPoint)).not.toContain('data');

    const restored = await snapkeep(['restore', 'data', 'latest', '--config', configPath, '--json']);
    expectExit(restored, 0);
    expect(await dataChecksums(data)).toEqual(secondSums);
    expect((await show(data)).readonly).toBe(false);
    const kept = await show(join(snapshotDir, second));
    expect(kept.readonly).toBe(true);
    expect(kept.receivedUuid).toBeDefined();

    await writeFile(join(data, 'after-restore.txt'), 'work goes on\n');
    const [next] = await run();
    expect(next!.parent?.name).toBe(second); // incremental from the restored snapshot, no full re-send
    const remoteSums = await remote.run([
      'sh',
      '-c',
      'cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum',
      'x',
      `${remote.root}/laptop/${next!.name}`,
    ]);
    expect(remoteSums.stdout).toMatch(/after-restore\.txt/);
  });

  it('brings an older snapshot back incrementally to another path, and never over existing data without --force', async () => {
    const elsewhere = join(local.mountPoint, 'old-data');
    const result = await snapkeep([
      'restore',
      'data',
      first,
      '--from',
      'offsite',
      '--to',
      elsewhere,
      '--config',
      configPath,
      '--json',
    ]);
    expectExit(result, 0);
    const [received] = sendSteps(result.stdout);
    expect(received!.parent).toBeDefined(); // a snapshot here has a copy there: incremental
    expect(await dataChecksums(elsewhere)).toEqual(firstSums);

    const current = await dataChecksums(data);
    const refused = await snapkeep(['restore', 'data', first, '--config', configPath]);
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(/exists; snapkeep never restores over it\. Use --force/);
    expect(await dataChecksums(data)).toEqual(current);

    const forced = await snapkeep(['restore', 'data', first, '--force', '--config', configPath]);
    expectExit(forced, 0);
    expect(await dataChecksums(data)).toEqual(firstSums);
    const aside = (await readdir(local.mountPoint)).find((name) => name.startsWith('data.before-restore.'));
    expect(aside).toBeDefined();
    expect(await dataChecksums(join(local.mountPoint, aside!))).toEqual(current);
    // The restored snapshot is placed in the new subvolume's snapshot directory (the old history
    // stays with the old subvolume), so the next run is incremental from it.
    expect(await snapshotsIn(join(data, '.snapshots'))).toEqual([first]);
    const [next] = await run();
    expect(next!.parent?.name).toBe(first);
  });

  it('pulls the latest snapshot onto a second device, then its successor incrementally', async () => {
    const device = join(local.mountPoint, 'device2');
    const into = join(device, 'pulled');
    const checkout = join(device, 'data');
    const url = sshUrl(remote, `${remote.root}/laptop`);
    const firstPull = await pull(url, into, '--checkout', checkout, '--json');
    expectExit(firstPull, 0);
    const [full] = sendSteps(firstPull.stdout);
    expect(full!.parent).toBeUndefined();
    await writeFile(join(data, 'for-device2.txt'), 'hello\n');
    const [pushed] = await run();
    const wantedSums = await dataChecksums(data);

    const again = await pull('offsite', into, '--checkout', checkout);
    expectExit(again, 2); // the checkout exists
    const secondPull = await pull(
      'offsite',
      into,
      '--checkout',
      checkout,
      '--force',
      '--keep',
      '1',
      '--json',
    );
    expectExit(secondPull, 0);
    const [incremental] = sendSteps(secondPull.stdout);
    expect(incremental!.name).toBe(pushed!.name);
    expect(incremental!.parent?.name).toBe(full!.name);
    expect(await dataChecksums(checkout)).toEqual(wantedSums);
    expect(await snapshotsIn(into)).toEqual([pushed!.name]); // --keep 1
    const nothing = await pull('offsite', into);
    expectExit(nothing, 0);
    expect(nothing.stdout).toMatch(/nothing to fetch/);
    const nothingDry = await pull('offsite', into, '--dry-run');
    expectExit(nothingDry, 0);
    expect(nothingDry.stdout).toMatch(/^nothing to fetch: /m);
    expect(nothingDry.stdout).not.toMatch(/would nothing/);
  });

  it('says what is wrong with a bad request and changes nothing', async () => {
    const unknown = await snapkeep(['restore', 'data', 'data.20000101T0000', '--config', configPath]);
    expectExit(unknown, 2);
    expect(unknown.stderr).toMatch(/no snapshot named data\.20000101T0000/);
    const badFrom = await snapkeep(['restore', 'data', 'latest', '--from', 'usb', '--config', configPath]);
    expectExit(badFrom, 2);
    expect(badFrom.stderr).toMatch(/--from usb: .*expected one of: snapshots, offsite/);
    // A directory that does not exist yet, unique to this run (a shared path such as /tmp/x may
    // well exist on the machine, e.g. a clone of this repository).
    const into = join(base, 'pull-into-not-created');
    const badKeep = await pull('offsite', into, '--keep', '0');
    expectExit(badKeep, 2);
    const result = await runCommand({ file: 'ls', args: [into] });
    expect(result.exitCode).not.toBe(0);
  });
});
