// Restore tells the truth about where the data comes from, and plans what can work:
// - `--from TARGET` reads the snapshot from that target (a local disk and a real SSH host) even
//   when the snapshot is here; to prove it, the local snapshots are altered after they were sent,
//   so the restored files show which copy each byte came from;
// - `--to` on another btrfs filesystem receives the snapshot there (byte-identical, writable);
// - `--to` on ext4 or on a mount point (and `pull --checkout` across filesystems, `pull --into` on
//   ext4) is refused with exit 2 and the way out, before anything is created; the dry run too.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand, type CommandResult } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import type { LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, snapshotsIn, treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { sshConfig, sshUrl, type RemoteHost } from '../helpers/remote-host.js';
import { startSshWorld } from '../helpers/ssh-world.js';

let remote: RemoteHost;
let local: LoopBtrfs;
let usbDisk: LoopBtrfs;
let other: LoopBtrfs;
let base: string;
let ext4: string;
let bindMount: string | undefined;
let configPath: string;
let data: string;
let snapshotDir: string;
let first: string;
let second: string;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  ({ remote, base, configPath } = await startSshWorld(cleanups, 'restore-safety', ['mkfs.ext4']));
  local = await cleanups.loopBtrfs('rsafe', 512);
  usbDisk = await cleanups.loopBtrfs('rsafe-usb', 256);
  other = await cleanups.loopBtrfs('rsafe-other', 256);
  // A test that fails with its bind mount (of other, inside local) still in place.
  cleanups.push(async () => {
    if (bindMount) await runCommand({ file: 'umount', args: [bindMount] });
  });
  ext4 = join(base, 'ext4');
  await mkdir(ext4);
  await runChecked({ file: 'truncate', args: ['-s', '32M', join(base, 'ext4.img')] });
  await runChecked({ file: 'mkfs.ext4', args: ['-q', join(base, 'ext4.img')] });
  await runChecked({ file: 'mount', args: ['-o', 'loop', join(base, 'ext4.img'), ext4] });
  cleanups.push(async () => {
    const result = await runCommand({ file: 'umount', args: [ext4] });
    if (result.exitCode !== 0) await runCommand({ file: 'umount', args: ['-l', ext4] });
  });
  data = join(local.mountPoint, 'data');
  snapshotDir = join(data, '.snapshots');
  await remote.run(['mkdir', '-p', `${remote.root}/laptop`]);
  await writeFile(
    configPath,
    `state_dir: ${join(base, 'state')}
${sshConfig(remote)}targets:
  usb:
    path: ${usbDisk.mountPoint}/backups
    retention: { preserve_min: 1d }
  offsite:
    path: ${sshUrl(remote, `${remote.root}/laptop`)}
    retention: { preserve_min: 1d }
subvolumes:
  data:
    path: ${data}
    targets: [usb, offsite]
`,
  );
  await mkdir(join(usbDisk.mountPoint, 'backups'));

  // Two snapshots, both on both targets (the second incremental).
  await createSubvolume(data);
  await writeRandomData(data, 4);
  await writeFile(join(data, 'unchanged.txt'), 'v1\n');
  await writeFile(join(data, 'changed.txt'), 'v1\n');
  first = (await backup())[0]!;
  await writeFile(join(data, 'changed.txt'), 'v2\n');
  second = (await backup())[0]!;
});

/** `snapkeep restore data …args` with this file's config. */
const restoreData = (...args: string[]) => snapkeep(['restore', 'data', ...args, '--config', configPath]);

/** One run; the names of the snapshots it sent (the same one to both targets). */
async function backup(): Promise<string[]> {
  const result = await snapkeep(['run', '--config', configPath, '--json']);
  expectExit(result, 0);
  const sent = events(result.stdout)
    .filter((event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send')
    .map((event) => (event.step as { name: string }).name);
  expect(sent).toHaveLength(2);
  return [...new Set(sent)];
}

/** Rewrite files of a read-only snapshot in place (it keeps its UUID, so its copies still pair). */
async function alter(snapshot: string, files: Record<string, string>): Promise<void> {
  await runChecked({ file: 'btrfs', args: ['property', 'set', '-ts', snapshot, 'ro', 'false'] });
  for (const [name, content] of Object.entries(files)) await writeFile(join(snapshot, name), content);
  await runChecked({ file: 'btrfs', args: ['property', 'set', '-ts', snapshot, 'ro', 'true'] });
}

const read = (path: string): Promise<string> => readFile(path, 'utf8');

/** The plan as the run reports it, with the time stamps in new names taken out. */
function planOf(result: CommandResult): unknown {
  const plan = events(result.stdout).find((event) => event.type === 'plan');
  expect(plan).toBeDefined();
  return JSON.parse(JSON.stringify({ ...plan, dryRun: undefined }).replace(/\.\d{8}T\d{6}/g, '.<time>'));
}

/** The plan lines of a text run; a dry run's "would " taken out, and its last two summary lines. */
function planLines(result: CommandResult, dryRun: boolean): string[] {
  const lines = result.stdout
    .replace(/\.\d{8}T\d{6}/g, '.<time>')
    .split('\n')
    .filter((line) => line !== '');
  if (dryRun) return lines.slice(0, -2).map((line) => line.replace(/^would /, ''));
  return lines.filter((line) => !/^(ok|FAIL) /.test(line)).slice(0, -1);
}

/** restore as a dry run and for real, text and JSON; the plans must be the same. */
async function restoreBothWays(
  args: readonly string[],
): Promise<{ dry: CommandResult; real: CommandResult }> {
  const full = ['restore', 'data', ...args, '--config', configPath];
  const dryText = await snapkeep([...full, '--dry-run']);
  expectExit(dryText, 0);
  const dry = await snapkeep([...full, '--dry-run', '--json']);
  expectExit(dry, 0);
  const real = await snapkeep([...full, '--json']);
  expectExit(real, 0);
  expect(planOf(real)).toEqual(planOf(dry));
  return { dry: dryText, real };
}

describe('restore to another filesystem', () => {
  it('receives the snapshot on another btrfs filesystem: byte-identical, writable, as the dry run said', async () => {
    const restored = join(other.mountPoint, 'restored');
    const { dry, real } = await restoreBothWays([second, '--to', restored]);
    expect(dry.stdout).toMatch(
      new RegExp(`would receive ${second.replace(/\./g, '\\.')} from snapshots into ${other.mountPoint}`),
    );
    expect(await treeChecksums(restored)).toEqual(await treeChecksums(join(snapshotDir, second)));
    expect((await show(restored)).readonly).toBe(false);
    await writeFile(join(restored, 'work.txt'), 'writable\n');
    const done = events(real.stdout).find((event) => event.type === 'restored')!;
    expect(done.source).toMatchObject({
      from: 'snapshots',
      transfer: 'full',
      path: join(snapshotDir, second),
    });

    // The same plan in text: what the dry run said it would do is what the run did.
    const again = join(other.mountPoint, 'restored-again');
    const args = ['restore', 'data', second, '--from', 'usb', '--to', again, '--config', configPath];
    const dryText = await snapkeep([...args, '--dry-run']);
    expectExit(dryText, 0);
    const realText = await snapkeep(args);
    expectExit(realText, 0);
    expect(planLines(realText, false)).toEqual(planLines(dryText, true));
    expect(realText.stdout).toMatch(/from usb \(.*\), received (in full|incrementally)/);
    expect(await treeChecksums(again)).toEqual(await treeChecksums(join(snapshotDir, second)));
    expect((await show(again)).readonly).toBe(false);
  });

  it('refuses --to on ext4 with exit 2 and the way out, before anything is created; the dry run says the same', async () => {
    const before = {
      ext4: await readdir(ext4),
      local: await readdir(local.mountPoint),
      snapshots: await readdir(snapshotDir),
      other: await readdir(other.mountPoint),
    };
    for (const from of [[], ['--from', 'offsite']]) {
      const args = [
        'restore',
        'data',
        'latest',
        ...from,
        '--to',
        join(ext4, 'restored'),
        '--config',
        configPath,
      ];
      const dry = await snapkeep([...args, '--dry-run']);
      const real = await snapkeep(args);
      for (const result of [dry, real]) {
        expectExit(result, 2);
        expect(result.stderr).toMatch(/--to \S+\/restored: .* is not on a btrfs filesystem \(it is on ext4/);
        expect(result.stderr).toMatch(/cp -a /);
        expect(result.stderr).not.toMatch(/unexpected error/);
      }
      expect(real.stderr).toBe(dry.stderr);
    }
    expect({
      ext4: await readdir(ext4),
      local: await readdir(local.mountPoint),
      snapshots: await readdir(snapshotDir),
      other: await readdir(other.mountPoint),
    }).toEqual(before);
  });

  it('refuses --to a mount point (it cannot be moved aside) and --read-only with --to, in the dry run too', async () => {
    const mountPoint = join(local.mountPoint, 'mounted');
    await mkdir(mountPoint);
    await runChecked({ file: 'mount', args: ['--bind', join(other.mountPoint), mountPoint] });
    bindMount = mountPoint;
    try {
      const before = await readdir(local.mountPoint);
      const args = [
        'restore',
        'data',
        'latest',
        '--from',
        'usb',
        '--to',
        mountPoint,
        '--force',
        '--config',
        configPath,
      ];
      for (const result of [await snapkeep([...args, '--dry-run']), await snapkeep(args)]) {
        expectExit(result, 2);
        expect(result.stderr).toMatch(/--to \S+\/mounted is a mount point, which snapkeep cannot move aside/);
      }
      expect(await readdir(local.mountPoint)).toEqual(before);
      expect(await snapshotsIn(snapshotDir)).toEqual([first, second].sort());
      const both = await restoreData('latest', '--read-only', '--to', join(local.mountPoint, 'ro'));
      expectExit(both, 2);
      expect(both.stderr).toMatch(/--read-only with --to/);
    } finally {
      await runChecked({ file: 'umount', args: [mountPoint] });
      bindMount = undefined;
    }
  });

  it('pull: refuses --checkout on another filesystem than --into, and --into on ext4, before anything is created', async () => {
    const into = join(other.mountPoint, 'pulled');
    const checkout = join(local.mountPoint, 'pulled-data');
    const args = ['pull', 'usb', 'data', '--into', into, '--checkout', checkout, '--config', configPath];
    for (const result of [await snapkeep([...args, '--dry-run']), await snapkeep(args)]) {
      expectExit(result, 2);
      expect(result.stderr).toMatch(
        /--checkout \S+: on another filesystem .*choose an --into on the filesystem of --checkout/,
      );
    }
    const onExt4 = await snapkeep([
      'pull',
      'usb',
      'data',
      '--into',
      join(ext4, 'pulled'),
      '--config',
      configPath,
    ]);
    expectExit(onExt4, 2);
    expect(onExt4.stderr).toMatch(/--into \S+: .* is not on a btrfs filesystem \(it is on ext4/);
    expect(await readdir(other.mountPoint)).not.toContain('pulled');
    expect(await readdir(local.mountPoint)).not.toContain('pulled-data');
    expect(await readdir(ext4)).not.toContain('pulled');
  });
});

describe('restore --from TARGET reads the data from that target', () => {
  beforeAll(async () => {
    // The local snapshots no longer hold what was sent: every file read from them shows it.
    await alter(join(snapshotDir, first), { 'unchanged.txt': 'altered here\n' });
    await alter(join(snapshotDir, second), {
      'unchanged.txt': 'altered here\n',
      'changed.txt': 'altered here\n',
    });
  });

  for (const target of ['usb', 'offsite']) {
    it(`${target}: incremental against the snapshot here that pairs with a copy there, as it says`, async () => {
      const drill = join(local.mountPoint, `drill-${target}`);
      const { dry, real } = await restoreBothWays([second, '--from', target, '--to', drill]);
      // The changes since the first snapshot come from the target; the rest from the first here.
      expect(await read(join(drill, 'changed.txt'))).toBe('v2\n');
      expect(await read(join(drill, 'unchanged.txt'))).toBe('altered here\n');
      const parent = join(snapshotDir, first);
      expect(dry.stdout).toContain(`would restore ${second} from ${target} (`);
      expect(dry.stdout).toContain(`received incrementally against ${parent} here`);
      const done = events(real.stdout).find((event) => event.type === 'restored')!;
      expect(done.source).toMatchObject({ from: target, transfer: 'incremental', parent });
      expect((await show(drill)).readonly).toBe(false);
      // The copy received beside the snapshot that was here is gone again; the snapshots are as they were.
      expect(await snapshotsIn(snapshotDir)).toEqual([first, second].sort());
    });

    it(`${target}: --full reads every byte from the target`, async () => {
      const drill = join(local.mountPoint, `full-drill-${target}`);
      const { dry, real } = await restoreBothWays([second, '--from', target, '--full', '--to', drill]);
      expect(await read(join(drill, 'changed.txt'))).toBe('v2\n');
      expect(await read(join(drill, 'unchanged.txt'))).toBe('v1\n');
      expect(dry.stdout).toMatch(
        new RegExp(`would receive ${second.replace(/\./g, '\\.')} from ${target} .*full \\(--full\\)`),
      );
      const done = events(real.stdout).find((event) => event.type === 'restored')!;
      expect(done.source).toMatchObject({ from: target, transfer: 'full' });
      expect(await snapshotsIn(snapshotDir)).toEqual([first, second].sort());
    });
  }

  it('--read-only --full keeps the received copy beside the snapshot that is here, with the target stream UUID and no parent', async () => {
    const result = await restoreData(second, '--from', 'offsite', '--full', '--read-only', '--json');
    expectExit(result, 0);
    const done = events(result.stdout).find((event) => event.type === 'restored')!;
    const copy = String(done.snapshot);
    expect(copy.startsWith(`${snapshotDir}/.restore-from-offsite.`)).toBe(true);
    const shown = await show(copy);
    expect(shown.readonly).toBe(true);
    expect(shown.receivedUuid).toBe((await show(join(snapshotDir, second))).uuid);
    expect(shown.parentUuid).toBeUndefined();
    expect(await read(join(copy, 'unchanged.txt'))).toBe('v1\n');
    // It stays where the run said (the tests below expect the snapshot directory as it was).
    await runChecked({ file: 'btrfs', args: ['subvolume', 'delete', copy] });
    await rm(dirname(copy), { recursive: true });
  });

  it('--path copies one file out: from the target with --from (nothing left behind), from here without; never over an existing file; the dry run checks and changes nothing', async () => {
    const into = join(ext4, 'single-file');
    await mkdir(into);
    const dry = await restoreData(
      second,
      '--from',
      'usb',
      '--path',
      'changed.txt',
      '--to',
      into,
      '--dry-run',
    );
    expectExit(dry, 0);
    expect(dry.stdout).toContain(`would copy `);
    expect(await readdir(into)).toEqual([]);

    const fromUsb = await restoreData(
      second,
      '--from',
      'usb',
      '--path',
      './changed.txt',
      '--to',
      into,
      '--json',
    );
    expectExit(fromUsb, 0);
    expect(await read(join(into, 'changed.txt'))).toBe('v2\n'); // the target's bytes, not the altered ones here
    const done = events(fromUsb.stdout).find((event) => event.type === 'restored')!;
    expect(done.source).toMatchObject({ from: 'usb' });
    expect(done.file).toMatchObject({ destination: join(into, 'changed.txt') });
    // The copy received for it is gone again: the snapshot directory is as it was.
    expect(await snapshotsIn(snapshotDir)).toEqual([first, second].sort());
    expect((await readdir(snapshotDir)).filter((name) => name.startsWith('.restore-from-'))).toEqual([]);

    const refused = await restoreData(second, '--path', 'changed.txt', '--to', into);
    expectExit(refused, 2);
    expect(refused.stderr).toContain(`${join(into, 'changed.txt')} exists; it is never overwritten`);
    expect(await read(join(into, 'changed.txt'))).toBe('v2\n');

    const forced = await restoreData(second, '--path', 'changed.txt', '--to', into, '--force');
    expectExit(forced, 0);
    expect(await read(join(into, 'changed.txt'))).toBe('altered here\n'); // from the snapshot here
    const aside = (await readdir(into)).find((name) => name.startsWith('changed.txt.before-restore.'))!;
    expect(await read(join(into, aside))).toBe('v2\n');

    const missing = await restoreData(second, '--path', 'no/such.file', '--to', into, '--dry-run');
    expectExit(missing, 2);
    expect(missing.stderr).toContain(`has no ${join(snapshotDir, second, 'no/such.file')}`);
    for (const bad of ['/etc/passwd', '../data/changed.txt', '.'])
      expectExit(await restoreData(second, '--path', bad, '--to', into), 2);
  });

  it('without --from, a snapshot here is used as it is, and the message says so', async () => {
    const result = await restoreData(second, '--to', join(local.mountPoint, 'from-here'));
    expectExit(result, 0);
    expect(result.stdout).toContain(
      `restored ${second} from snapshots (${join(snapshotDir, second)}), used as it is`,
    );
    const refused = await restoreData(second, '--full', '--to', join(local.mountPoint, 'x'));
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(/--full: .* is not received but used from .* as it is/);
  });

  it('--from TARGET --force over the subvolume itself: the old one moved aside untouched, the next run incremental', async () => {
    const result = await restoreData(second, '--from', 'offsite', '--force');
    expectExit(result, 0);
    expect(await read(join(data, 'changed.txt'))).toBe('v2\n');
    const aside = (await readdir(local.mountPoint)).find((name) => name.startsWith('data.before-restore.'))!;
    expect(aside).toBeDefined();
    // The old history stays with the old subvolume, without the copy received for the checkout.
    expect(await snapshotsIn(join(local.mountPoint, aside, '.snapshots'))).toEqual([first, second].sort());
    expect(await snapshotsIn(snapshotDir)).toEqual([second]);
    const placed = await show(join(snapshotDir, second));
    expect(placed.receivedUuid).toBe((await show(join(local.mountPoint, aside, '.snapshots', second))).uuid);
    await writeFile(join(data, 'after.txt'), 'after the restore\n');
    const run = await snapkeep(['run', '--config', configPath, '--json']);
    expectExit(run, 0);
    const sends = events(run.stdout)
      .filter((event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send')
      .map((event) => event.step as { parent?: { name: string } });
    expect(sends.map((step) => step.parent?.name)).toEqual([second, second]);
  });
});
