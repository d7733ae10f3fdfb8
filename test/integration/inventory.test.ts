// The inventory's read-only flags on a real btrfs filesystem: asked of the kernel (access(2) says
// EROFS for a read-only subvolume) where that is sound, from `btrfs subvolume list -r` where it is
// not (a read-only mount, another mount over a subvolume). Both must agree with btrfs itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { listReadonlySubvolumes } from '../../src/btrfs/btrfs-commands.js';
import { Inventory, localHost } from '../../src/btrfs/inventory.js';
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
