// compareChanges on names and symlink targets that are not UTF-8 (plain directories stand in
// for a snapshot and its copy): they are compared as their bytes, never as a lossy decoding.
import { lutimesSync, symlinkSync, utimesSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeName } from '../../src/btrfs/send-stream.js';
import { compareChanges } from '../../src/btrfs/verify-copy.js';
import { useCleanups } from '../helpers/cleanups.js';

const cleanups = useCleanups();

const bytesBelow = (root: string, name: Buffer): Buffer => Buffer.concat([Buffer.from(`${root}/`), name]);

async function trees(): Promise<{ snapshot: string; copy: string }> {
  const base = await cleanups.tempDir('verify-names');
  const snapshot = join(base, 'snapshot');
  const copy = join(base, 'copy');
  await mkdir(snapshot);
  await mkdir(copy);
  return { snapshot, copy };
}

describe('compareChanges and names that are not UTF-8', () => {
  it('finds a file whose name is not UTF-8 and compares its contents', async () => {
    const { snapshot, copy } = await trees();
    const name = Buffer.from('caf\xe9.txt', 'latin1');
    await writeFile(bytesBelow(snapshot, name), 'the original');
    await writeFile(bytesBelow(copy, name), 'the original');
    const sameTimes = (): void => {
      for (const root of [snapshot, copy]) utimesSync(bytesBelow(root, name), 1_000_000, 1_000_000);
    };
    sameTimes();
    const changes = {
      paths: new Set([decodeName(name)]),
      writes: new Map([[decodeName(name), [[0, 12] as const]]]),
    };
    expect(await compareChanges(snapshot, copy, changes)).toEqual([]);
    await writeFile(bytesBelow(copy, name), 'not the same');
    sameTimes();
    expect(await compareChanges(snapshot, copy, changes)).toEqual([
      "caf\\xe9.txt: its contents differ from the snapshot's",
    ]);
  });

  it('a file missing from the copy under a name that is not UTF-8 is missing', async () => {
    const { snapshot, copy } = await trees();
    const name = Buffer.from([0x66, 0xff]);
    await writeFile(bytesBelow(snapshot, name), 'x');
    // A lossy decoding would look for "f\uFFFD", in neither tree: "missing in both" passed.
    await writeFile(join(copy, 'f\uFFFD'), 'x');
    const changes = { paths: new Set([decodeName(name)]), writes: new Map() };
    expect(await compareChanges(snapshot, copy, changes)).toEqual(['f\\xff: missing in the copy']);
  });

  it('symlink targets that differ only in bytes that are not UTF-8 differ', async () => {
    const { snapshot, copy } = await trees();
    symlinkSync(Buffer.from([0x74, 0xff]), join(snapshot, 'link'));
    symlinkSync(Buffer.from([0x74, 0xfe]), join(copy, 'link'));
    for (const root of [snapshot, copy]) lutimesSync(join(root, 'link'), 1_000_000, 1_000_000);
    const problems = await compareChanges(snapshot, copy, { paths: new Set(['link']), writes: new Map() });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^link: symlink to /);
  });
});
