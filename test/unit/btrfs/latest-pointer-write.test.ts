// writeLatestPointer, both ways it writes (file calls for a run, processes under a deadline): the
// directory's entries and readlink are the ground truth. The pointer is a plain symlink, so any
// directory will do.
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeLatestPointer, type PointerWrites } from '../../../src/btrfs/latest-pointer.js';

const made: string[] = [];
afterEach(async () => {
  for (const directory of made.splice(0)) await rm(directory, { recursive: true, force: true });
});

async function directory(): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'snapkeep-pointer-'));
  made.push(base);
  return base;
}

describe.each<PointerWrites>(['file-calls', 'processes'])('writeLatestPointer by %s', (writes) => {
  it('makes, replaces and removes the pointer, leaving nothing else in its directory', async () => {
    const base = await directory();
    const snapshots = join(base, 'snapshots');
    const pointer = join(snapshots, 'home.latest');
    await writeLatestPointer(pointer, 'home.20261203T1100', writes); // directory made on the way
    expect(await readlink(pointer)).toBe('home.20261203T1100');
    await writeLatestPointer(pointer, 'home.20261203T1200', writes);
    expect(await readlink(pointer)).toBe('home.20261203T1200');
    expect(await readdir(snapshots)).toEqual(['home.latest']);
    await writeLatestPointer(pointer, null, writes);
    expect(await readdir(snapshots)).toEqual([]);
    await writeLatestPointer(pointer, null, writes); // already gone: nothing to do
  });

  it('fails naming the pointer when its path is a directory with something in it, and leaves no temporary link', async () => {
    const base = await directory();
    const pointer = join(base, 'home.latest');
    await mkdir(pointer);
    await writeFile(join(pointer, 'kept'), 'x');
    await expect(writeLatestPointer(pointer, 'home.20261203T1100', writes)).rejects.toThrow(
      `cannot update the latest pointer ${pointer}`,
    );
    expect(await readdir(base)).toEqual(['home.latest']);
    expect(await readdir(pointer)).toEqual(['kept']);
  });

  it('refuses a name that is not one path component', async () => {
    const base = await directory();
    await expect(writeLatestPointer(join(base, 'home.latest'), '../elsewhere', writes)).rejects.toThrow(
      'not a snapshot name',
    );
    await expect(writeLatestPointer(join(base, 'home.latest'), '-rf', writes)).rejects.toThrow(
      'not a snapshot name',
    );
    expect(await readdir(base)).toEqual([]);
  });
});
