// `verify --drill` on btrfs targets, for real: loop-mounted btrfs for the data and a local target
// disk, a real sshd host (test/helpers/remote-host.ts) for an ssh:// target. Each drill receives
// one copy back into a scratch directory and compares every file with its local snapshot: good
// copies pass, a copy damaged on the target (made writable, a byte changed, the mtime put back,
// read-only again) fails naming the file, every subvolume × target pair is drilled within N runs,
// and no scratch copy outlives a drill — after success, failure, SIGINT, or SIGKILL followed by
// the next drill.
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { startSnapkeep, waitUntil } from '../helpers/processes.js';
import { startRemoteHost, type RemoteHost } from '../helpers/remote-host.js';

let remote: RemoteHost;
let source: LoopBtrfs;
let disk: LoopBtrfs;
let base: string;
let configPath: string;
let bigConfigPath: string;
let data: string;
let more: string;
let big: string;

const snapshotDirs = (): string[] => [
  join(data, '.snapshots'),
  join(source.mountPoint, 'snapshots'),
  join(source.mountPoint, 'big-snapshots'),
];

/** Scratch directories of drills (`.snapkeep-drill.*`) in every snapshot directory. */
async function scratchLeft(): Promise<string[]> {
  const found: string[] = [];
  for (const directory of snapshotDirs())
    for (const name of await readdir(directory).catch(() => []))
      if (name.startsWith('.snapkeep-drill.')) found.push(join(directory, name));
  return found;
}

// Make a read-only received copy writable WITHOUT losing its received UUID (the raw
// BTRFS_IOC_SUBVOL_SETFLAGS ioctl; `btrfs property set -f` would clear it), flip one byte of a
// file in place, put its mtime back, and make it read-only again: a copy every UUID check passes.
const damageScript = `set -e
file="$1"; subvolume="$2"; mode="$3"
reference=$(mktemp); touch -r "$file" "$reference"
if [ "$mode" = force ]; then btrfs property set -f "$subvolume" ro false
else perl -e 'open(my $f, "<", $ARGV[0]) or die "$ARGV[0]: $!"; my $flags = pack("Q", 0); ioctl($f, 0x4008941a, $flags) or die "SUBVOL_SETFLAGS: $!"' "$subvolume"; fi
perl -e 'open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!"; binmode $f; seek($f, 100, 0); read($f, my $b, 1); seek($f, 100, 0); print $f chr(ord($b) ^ 0xff); close $f or die' "$file"
touch -r "$reference" "$file"; rm -f "$reference"
btrfs property set "$subvolume" ro true
`;

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'sshd', 'ssh', 'unshare', 'nsenter', 'sudo', 'visudo', 'perl']);
  remote = await startRemoteHost();
  source = await createLoopBtrfs('drill-src', 768);
  disk = await createLoopBtrfs('drill-disk', 768);
  base = await makeTempDir('drill');
  configPath = join(base, 'snapkeep.yaml');
  bigConfigPath = join(base, 'big.yaml');
  data = join(source.mountPoint, 'data');
  more = join(source.mountPoint, 'more');
  big = join(source.mountPoint, 'big');
  await remote.run(['mkdir', '-p', `${remote.root}/laptop`]);
  await mkdir(join(disk.mountPoint, 'backups'));
  await mkdir(join(disk.mountPoint, 'big'));
  const ssh = `ssh:
  identity_file: ${remote.identityFile}
  known_hosts: ${remote.knownHostsFile}
`;
  // data: the default snapshot directory inside the subvolume (its snapshots show the nested
  // .snapshots as a stub the copies lack); more: a snapshot directory of its own.
  await writeFile(
    configPath,
    `state_dir: ${join(base, 'state')}
${ssh}targets:
  disk:
    path: ${join(disk.mountPoint, 'backups')}
  offsite:
    path: ssh://${remote.user}@127.0.0.1:${remote.port}${remote.root}/laptop
subvolumes:
  data:
    path: ${data}
    targets: [disk, offsite]
  more:
    path: ${more}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
    targets: [disk]
`,
  );
  await writeFile(
    bigConfigPath,
    `state_dir: ${join(base, 'big-state')}
targets:
  disk:
    path: ${join(disk.mountPoint, 'big')}
subvolumes:
  big:
    path: ${big}
    snapshot_dir: ${join(source.mountPoint, 'big-snapshots')}
    targets: [disk]
`,
  );
  await createSubvolume(data);
  await writeRandomData(data, 24);
  await symlink('file-0.bin', join(data, 'link'));
  await mkdir(join(data, 'sub', 'dir'), { recursive: true });
  await writeFile(join(data, 'sub', 'dir', 'empty'), '');
  await writeFile(join(data, 'notes.txt'), 'private\n');
  await chmod(join(data, 'notes.txt'), 0o640);
  await createSubvolume(more);
  await writeRandomData(more, 2, 'more');
  expectExit(await snapkeep(['run', '--config', configPath]), 0);
  await writeFile(join(data, 'notes.txt'), 'private, second version\n');
  await writeFile(join(more, 'added.txt'), 'added\n');
  // The second run's copies are incremental on the targets; a drill receives them in full.
  expectExit(await snapkeep(['run', '--config', configPath]), 0);
  await createSubvolume(big);
  await writeRandomData(big, 160, 'big');
  expectExit(await snapkeep(['run', '--config', bigConfigPath]), 0);
});

afterAll(async () => {
  await source?.cleanup();
  await disk?.cleanup();
  await remote?.stop();
  if (base) await rm(base, { recursive: true, force: true });
});

type Drill = {
  kind: string;
  subvolume: string;
  target: string;
  snapshot: string;
  ok: boolean;
  detail: string;
  compared: boolean;
  files: number;
  problems?: string[];
};

async function drill(
  configFile = configPath,
): Promise<{ exitCode: number | null; drill: Drill; stdout: string; all: Record<string, unknown>[] }> {
  const result = await snapkeep(['verify', '--drill', '--config', configFile, '--json']);
  const all = events(result.stdout);
  const drills = all.filter((event) => event.type === 'drill') as unknown as Drill[];
  expect(drills, result.stderr).toHaveLength(1);
  return { exitCode: result.exitCode, drill: drills[0]!, stdout: result.stdout, all };
}

const newestIn = async (directory: string, basename: string): Promise<string> =>
  (await readdir(directory))
    // Snapshots, not the `latest` pointer beside them.
    .filter((name) => name.startsWith(`${basename}.`) && name !== `${basename}.latest`)
    .sort()
    .at(-1)!;

describe('verify --drill on btrfs targets', () => {
  it('--dry-run says which copy would be drilled and where, and changes nothing', async () => {
    const newest = await newestIn(join(disk.mountPoint, 'backups'), 'data');
    const result = await snapkeep(['verify', '--drill', '--dry-run', '--config', configPath, '--json']);
    expectExit(result, 0);
    const plans = events(result.stdout).filter((event) => event.type === 'drill-plan');
    expect(plans).toHaveLength(1);
    expect(plans[0]).toMatchObject({
      kind: 'btrfs',
      dryRun: true,
      subvolume: 'data',
      target: 'disk',
      snapshot: newest,
      copy: join(disk.mountPoint, 'backups', newest),
      compareWith: join(data, '.snapshots', newest),
      relation: 'received-uuid',
    });
    expect(String(plans[0]!.scratch)).toContain(join(data, '.snapshots', '.snapkeep-drill.data.'));
    expect(events(result.stdout).filter((event) => event.type === 'drill')).toEqual([]);
    const text = await snapkeep(['verify', '--drill', '--dry-run', '--config', configPath]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(
      new RegExp(`would drill data@disk: receive ${newest.replace(/\./g, '\\.')} from disk`),
    );
    expect(await readdir(join(base, 'state')).catch(() => [])).not.toContain('drill.json');
    expect(await scratchLeft()).toEqual([]);
  });

  it('drills every subvolume × target within N runs; good copies pass; no scratch is left', async () => {
    const seen: string[] = [];
    for (let run = 0; run < 3; run++) {
      const { exitCode, drill: outcome, stdout } = await drill();
      expect(exitCode, stdout).toBe(0);
      expect(outcome).toMatchObject({ kind: 'btrfs', ok: true, compared: true });
      expect(outcome.files).toBeGreaterThan(0);
      seen.push(`${outcome.subvolume}@${outcome.target}`);
      expect(await scratchLeft()).toEqual([]);
    }
    expect(seen.sort()).toEqual(['data@disk', 'data@offsite', 'more@disk']);
    // The next run starts the rotation over with the one drilled longest ago.
    const fourth = await drill();
    expect(`${fourth.drill.subvolume}@${fourth.drill.target}`).toBe(seen[0]);
    const text = await snapkeep(['verify', '--drill', '--config', configPath]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(
      /^ok {3}(data|more)@(disk|offsite): drill: .* received in full from .* and equal to /m,
    );
    // The journal: one outcome per drill, in the shape derived status reads.
    const journal = (await readFile(join(base, 'state', 'journal.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.event === 'drill');
    expect(journal).toHaveLength(5);
    for (const entry of journal) {
      const { time, run, ...rest } = entry;
      expect(typeof time).toBe('string');
      expect(typeof run).toBe('string');
      expect(Object.keys(rest).sort()).toEqual([
        'detail',
        'event',
        'kind',
        'ok',
        'snapshot',
        'subvolume',
        'target',
        'v',
      ]);
      expect(rest).toMatchObject({ event: 'drill', kind: 'btrfs', ok: true });
    }
  });

  it('a copy damaged on a target fails its drill (exit 3), naming the file; the others pass', async () => {
    const onDisk = join(disk.mountPoint, 'backups', await newestIn(join(disk.mountPoint, 'backups'), 'data'));
    await runChecked({
      file: 'sh',
      args: ['-c', damageScript, 'damage', join(onDisk, 'file-1.bin'), onDisk, 'ioctl'],
    });
    const shown = await runChecked({ file: 'btrfs', args: ['subvolume', 'show', onDisk] });
    expect(shown.stdout).toMatch(/Received UUID:\s+[0-9a-f-]{36}/); // every UUID check still passes
    expect(shown.stdout).toMatch(/Flags:\s+readonly/);
    // The offsite copy the way `btrfs property set -f` does it: its received UUID is gone, the
    // drill still finds it by name and compares it.
    const listed = await remote.run(['ls', `${remote.root}/laptop`]);
    const offsiteName = listed.stdout
      .split('\n')
      .filter((name) => name.startsWith('data.'))
      .sort()
      .at(-1)!;
    const offsite = `${remote.root}/laptop/${offsiteName}`;
    const damaged = await remote.run([
      'sh',
      '-c',
      damageScript,
      'damage',
      `${offsite}/file-2.bin`,
      offsite,
      'force',
    ]);
    expect(damaged.exitCode, damaged.stderr).toBe(0);

    const byPair = new Map<string, Awaited<ReturnType<typeof drill>>>();
    for (let run = 0; run < 3; run++) {
      const result = await drill();
      byPair.set(`${result.drill.subvolume}@${result.drill.target}`, result);
      expect(await scratchLeft()).toEqual([]);
    }
    expect([...byPair.keys()].sort()).toEqual(['data@disk', 'data@offsite', 'more@disk']);
    const local = byPair.get('data@disk')!;
    expect(local.exitCode).toBe(3);
    expect(local.drill.ok).toBe(false);
    expect(local.drill.detail).toMatch(/file-1\.bin: its contents differ from the snapshot's/);
    expect(local.drill.detail).not.toMatch(/file-0\.bin|notes\.txt/);
    const remoteOne = byPair.get('data@offsite')!;
    expect(remoteOne.exitCode).toBe(3);
    expect(remoteOne.drill.detail).toMatch(/file-2\.bin: its contents differ/);
    expect(remoteOne.drill.detail).toMatch(/lost its received UUID/);
    const good = byPair.get('more@disk')!;
    expect(good.exitCode).toBe(0);
    expect(good.drill.ok).toBe(true);

    // The text line of a failed drill, like the restic drill's; naming a subvolume drills only its
    // targets (the one of them drilled longest ago: disk).
    const text = await snapkeep(['verify', 'data', '--drill', '--config', configPath]);
    expectExit(text, 3);
    expect(text.stdout).toMatch(/^FAIL data@disk: drill: .*file-1\.bin: its contents differ/m);
  });

  it('SIGKILL mid-drill leaves a scratch copy, which the next drill removes; SIGINT removes its own', async () => {
    const bigScratch = async (): Promise<string | undefined> => {
      const directory = join(source.mountPoint, 'big-snapshots');
      for (const name of await readdir(directory))
        if (name.startsWith('.snapkeep-drill.') && (await readdir(join(directory, name))).length > 0)
          return join(directory, name);
      return undefined;
    };
    const killed = startSnapkeep(['verify', '--drill', '--config', bigConfigPath, '--json']);
    const left = await waitUntil('the drill is receiving into its scratch directory', bigScratch);
    killed.child.kill('SIGKILL');
    expect((await killed.exited).signal).toBe('SIGKILL');
    expect(await scratchLeft()).toEqual([left]);

    const next = await drill(bigConfigPath);
    expect(next.exitCode, next.stdout).toBe(0);
    expect(next.all.filter((event) => event.type === 'drill-leftover')).toEqual([
      expect.objectContaining({ path: left, ok: true }),
    ]);
    expect(next.drill).toMatchObject({ subvolume: 'big', target: 'disk', ok: true, compared: true });
    expect(await scratchLeft()).toEqual([]);

    const interrupted = startSnapkeep(['verify', '--drill', '--config', bigConfigPath, '--json']);
    await waitUntil('the drill is receiving into its scratch directory', bigScratch);
    interrupted.child.kill('SIGINT');
    expect((await interrupted.exited).code).toBe(130);
    expect(await scratchLeft()).toEqual([]);
  });

  it('with its local snapshot pruned, the copy is still received and the drill says what it did not compare', async () => {
    const directory = join(source.mountPoint, 'big-snapshots');
    for (const name of await readdir(directory))
      if (!name.endsWith('.latest'))
        await runChecked({ file: 'btrfs', args: ['subvolume', 'delete', join(directory, name)] });
    const result = await drill(bigConfigPath);
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.drill).toMatchObject({ subvolume: 'big', ok: true, compared: false });
    expect(result.drill.detail).toMatch(/contents not compared: .*pruned/);
    expect(await scratchLeft()).toEqual([]);
  });
});
