// The inventory's read-only flags on a real btrfs filesystem: asked of the kernel (access(2) says
// EROFS for a read-only subvolume) where that is sound, from `btrfs subvolume list -r` where it is
// not (a read-only mount, another mount over a subvolume). Both must agree with btrfs itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listReadonlySubvolumes } from '../../src/btrfs/btrfs-commands.js';
import { Inventory, localHost, readonlyByKernelLimit } from '../../src/btrfs/inventory.js';
import type { Host } from '../../src/remote/host.js';
import { runChecked, type CommandSpec } from '../../src/exec/command.js';
import { createSubvolume, snapshotAs } from '../helpers/btrfs-tree.js';
import { createLoopBtrfs, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';

/** This machine, with a record of every command the inventory ran. */
function recordingHost(): { host: Host; commands: string[] } {
  const commands: string[] = [];
  return {
    commands,
    host: {
      ...localHost,
      run: (spec: CommandSpec) => {
        commands.push([spec.file, ...spec.args].join(' '));
        return localHost.run(spec);
      },
    },
  };
}

/** name → read-only, for the subvolumes directly in `directory`. */
async function flagsIn(inventory: Inventory, directory: string): Promise<Record<string, boolean>> {
  const subvolumes = await inventory.subvolumesIn(directory);
  return Object.fromEntries(subvolumes.map((subvolume) => [subvolume.name, subvolume.readonly]));
}

describe('inventory read-only flags', () => {
  let fs: LoopBtrfs;
  let other: LoopBtrfs;
  let dir: string;
  const expected = { 'ro-1': true, 'ro-2': true, 'rw-1': false, 'was-ro': false };

  beforeAll(async () => {
    await requireTools(['btrfs', 'mkfs.btrfs', 'mount', 'umount']);
    fs = await createLoopBtrfs('inventory-ro');
    other = await createLoopBtrfs('inventory-other', 200);
    dir = join(fs.mountPoint, 'snaps');
    await mkdir(dir);
    const data = join(fs.mountPoint, 'data');
    await createSubvolume(data);
    for (const name of ['ro-1', 'ro-2']) await snapshotAs(data, join(dir, name));
    await createSubvolume(join(dir, 'rw-1'));
    // Read-only once, writable again: the flag is the subvolume's current one.
    await snapshotAs(data, join(dir, 'was-ro'));
    await runChecked({ file: 'btrfs', args: ['property', 'set', '-ts', join(dir, 'was-ro'), 'ro', 'false'] });
    // btrfs's own answer, which both ways must match.
    const listed = await runChecked(listReadonlySubvolumes(fs.mountPoint));
    expect(listed.stdout).toMatch(/ path snaps\/ro-1$/m);
    expect(listed.stdout).not.toMatch(/ path snaps\/(rw-1|was-ro)$/m);
  }, 60_000);

  afterAll(async () => {
    await runChecked({ file: 'umount', args: [join(dir, 'ro-2')] }).catch(() => undefined);
    await fs?.cleanup();
    await other?.cleanup();
  });

  it('on a read-write mount: from the kernel, one `btrfs subvolume list` per filesystem', async () => {
    const { host, commands } = recordingHost();
    expect(await flagsIn(new Inventory(host), dir)).toEqual(expected);
    expect(commands).toEqual([`btrfs subvolume list -a -u -q -R -c -g ${dir}`]);
  });

  it('on a read-only mount (where every write says EROFS): from `btrfs subvolume list -r`', async () => {
    await runChecked({ file: 'mount', args: ['-o', 'remount,ro', fs.mountPoint] });
    try {
      const { host, commands } = recordingHost();
      expect(await flagsIn(new Inventory(host), dir)).toEqual(expected);
      expect(commands).toContain(`btrfs subvolume list -r ${dir}`);
    } finally {
      await runChecked({ file: 'mount', args: ['-o', 'remount,rw', fs.mountPoint] });
    }
  });

  it('with another filesystem mounted over a subvolume: from `btrfs subvolume list -r`', async () => {
    // access() on ro-2's path would reach the other (writable) filesystem.
    await runChecked({ file: 'mount', args: ['--bind', other.mountPoint, join(dir, 'ro-2')] });
    try {
      const { host, commands } = recordingHost();
      expect(await flagsIn(new Inventory(host), dir)).toEqual(expected);
      expect(commands).toContain(`btrfs subvolume list -r ${dir}`);
    } finally {
      await runChecked({ file: 'umount', args: [join(dir, 'ro-2')] });
    }
  });
});

describe('inventory listings at scale', () => {
  let fs: LoopBtrfs;
  let snaps: string;

  beforeAll(async () => {
    await requireTools(['btrfs', 'mkfs.btrfs', 'mount', 'umount']);
    fs = await createLoopBtrfs('inventory-scale');
    snaps = join(fs.mountPoint, 'snaps');
    await mkdir(snaps);
    for (const name of ['sv1', 'sv2', 'sv3', 'sv4']) await createSubvolume(join(fs.mountPoint, name));
  }, 60_000);

  afterAll(async () => {
    await fs?.cleanup();
  });

  const lists = (commands: readonly string[]) =>
    commands.filter((command) => command.startsWith('btrfs subvolume list'));

  it('subvolumes of one filesystem, prefetched each by its own path, cost one listing', async () => {
    const { host, commands } = recordingHost();
    const inventory = new Inventory(host);
    const paths = ['sv1', 'sv2', 'sv3', 'sv4'].map((name) => join(fs.mountPoint, name));
    for (const path of paths) inventory.prefetch(path);
    inventory.prefetch(snaps);
    const found = await Promise.all([
      ...paths.map((path) => inventory.subvolumeAt(path)),
      inventory.subvolumesIn(snaps),
    ]);
    expect(found.slice(0, 4).map((subvolume) => (subvolume as { name: string }).name)).toEqual([
      'sv1',
      'sv2',
      'sv3',
      'sv4',
    ]);
    expect(lists(commands)).toEqual([`btrfs subvolume list -a -u -q -R -c -g ${paths[0]}`]);
  });

  it('read-backs asked for at once share a listing, and one asked for after a subvolume was made sees it even while an older listing runs', async () => {
    const { host, commands } = recordingHost();
    // The first listing is held until the new subvolume exists and its read-back has been asked for.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const gated: Host = {
      ...host,
      run: async (spec) => {
        const result = host.run(spec);
        if (spec.args[1] === 'list' && first) {
          first = false;
          await held;
        }
        return result;
      },
    };
    const inventory = new Inventory(gated);
    const before = ['a', 'b', 'c'].map((name) => inventory.readBack(snaps, name));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await snapshotAs(join(fs.mountPoint, 'sv1'), join(snaps, 'made'));
    const made = inventory.readBack(snaps, 'made');
    const alsoMade = inventory.readBack(snaps, 'made');
    release();
    expect(await Promise.all(before)).toEqual([undefined, undefined, undefined]);
    const [one, two] = await Promise.all([made, alsoMade]);
    expect(one).toMatchObject({ name: 'made', path: join(snaps, 'made'), readonly: true });
    expect(two).toEqual(one);
    // One for the three asked at once, one (started after `made` was asked for) for both of its.
    expect(lists(commands)).toHaveLength(2);
    expect(commands.some((command) => command.startsWith('btrfs subvolume show'))).toBe(false);
  });

  /** One turn of the event loop: a listing the inventory meant to start by now has started. */
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('copies received side by side are read back by one listing, started when the last receive ends', async () => {
    const { host, commands } = recordingHost();
    // Patience far beyond this test: only the receives' ends may start the listing.
    const inventory = new Inventory(host, 600_000);
    const [first, second] = await Promise.all([inventory.startWriting(snaps), inventory.startWriting(snaps)]);
    await snapshotAs(join(fs.mountPoint, 'sv2'), join(snaps, 'side-1'));
    const one = inventory.readBack(snaps, 'side-1', first);
    await turn();
    await turn();
    expect(lists(commands)).toEqual([]); // the second receive still writes there
    await snapshotAs(join(fs.mountPoint, 'sv3'), join(snaps, 'side-2'));
    const two = inventory.readBack(snaps, 'side-2', second);
    expect(await one).toMatchObject({ name: 'side-1', readonly: true });
    expect(await two).toMatchObject({ name: 'side-2', readonly: true });
    expect(lists(commands)).toHaveLength(1);
  });

  it('a receive that does not end holds up a read-back beside it only as long as its patience', async () => {
    const { host, commands } = recordingHost();
    const inventory = new Inventory(host, 0);
    const stuck = await inventory.startWriting(snaps); // never ended
    const own = await inventory.startWriting(snaps);
    await snapshotAs(join(fs.mountPoint, 'sv4'), join(snaps, 'beside-stuck'));
    expect(await inventory.readBack(snaps, 'beside-stuck', own)).toMatchObject({ name: 'beside-stuck' });
    expect(lists(commands)).toHaveLength(1);
    stuck.end();
  });
});

describe('inventory read-only flags of a long history', () => {
  let fs: LoopBtrfs;

  beforeAll(async () => {
    await requireTools(['btrfs', 'mkfs.btrfs', 'mount', 'umount']);
    fs = await createLoopBtrfs('inventory-history', 400);
    await createSubvolume(join(fs.mountPoint, 'data'));
    await mkdir(join(fs.mountPoint, 'snaps'));
    // One process for all of them: a btrfs snapshot each, read-only but one.
    await runChecked({
      file: 'sh',
      args: [
        '-c',
        'i=0; while [ "$i" -le "$2" ]; do btrfs subvolume snapshot -r "$1/data" "$1/snaps/s$i" >/dev/null || exit; i=$((i + 1)); done; btrfs property set -ts "$1/snaps/s0" ro false',
        'sh',
        fs.mountPoint,
        String(readonlyByKernelLimit),
      ],
    });
  }, 300_000);

  afterAll(async () => {
    await fs?.cleanup();
  });

  it(`over ${readonlyByKernelLimit} subvolumes: one \`btrfs subvolume list -r\` instead of an access(2) each`, async () => {
    const { host, commands } = recordingHost();
    const flags = await flagsIn(new Inventory(host), join(fs.mountPoint, 'snaps'));
    expect(Object.keys(flags)).toHaveLength(readonlyByKernelLimit + 1);
    expect(flags.s0).toBe(false);
    expect(Object.entries(flags).filter(([, readonly]) => !readonly)).toEqual([['s0', false]]);
    expect(commands).toContain(`btrfs subvolume list -r ${join(fs.mountPoint, 'snaps')}`);
  });
});
