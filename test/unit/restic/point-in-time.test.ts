// The exact restore's parts: restic's exclude matching, what is at a target and not in the
// snapshot (the topmost entries; excluded ones stay), and the move aside keeping relative paths.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../../src/exec/command.js';
import {
  asideDirectory,
  asideStamp,
  entriesNotInSnapshot,
  excludedBy,
  moveAside,
} from '../../../src/restic/point-in-time.js';

const made: string[] = [];
afterAll(async () => {
  for (const directory of made) await rm(directory, { recursive: true, force: true });
});

describe('excludedBy (restic --exclude semantics)', () => {
  it('a pattern without a leading / matches at any depth; with one, from the root', () => {
    expect(excludedBy(['*.tmp'], '/srv/up/a/b.tmp')).toBe(true);
    expect(excludedBy(['*.tmp'], '/srv/up/a/b.tmpx')).toBe(false);
    expect(excludedBy(['cache'], '/srv/up/cache')).toBe(true);
    expect(excludedBy(['cache/'], '/srv/up/x/cache')).toBe(true);
    expect(excludedBy(['/srv/up/cache'], '/srv/up/cache')).toBe(true);
    expect(excludedBy(['/up/cache'], '/srv/up/cache')).toBe(false);
    expect(excludedBy(['/srv/**/thumbs'], '/srv/up/a/b/thumbs')).toBe(true);
    expect(excludedBy(['up/?.log'], '/srv/up/a.log')).toBe(true);
    expect(excludedBy(['[ab].txt'], '/srv/up/b.txt')).toBe(true);
    expect(excludedBy(['[^ab].txt'], '/srv/up/b.txt')).toBe(false);
    expect(excludedBy(['a\\*b'], '/srv/a*b')).toBe(true);
    expect(excludedBy(['a\\*b'], '/srv/axb')).toBe(false);
    // Not read (moved aside rather than lost): negations.
    expect(excludedBy(['!keep'], '/srv/keep')).toBe(false);
    expect(excludedBy([], '/srv/x')).toBe(false);
  });
});

describe('entriesNotInSnapshot and moveAside', () => {
  it('lists what is not in the snapshot (topmost, kinds compared), leaves excluded paths, moves them keeping relative paths', async () => {
    const base = await mkdtemp(join(tmpdir(), 'point-in-time-'));
    made.push(base);
    const target = join(base, 'up');
    await mkdir(join(target, 'kept', 'inner'), { recursive: true });
    await writeFile(join(target, 'kept', 'old.txt'), 'old');
    await writeFile(join(target, 'kept', 'late.txt'), 'late');
    await mkdir(join(target, 'new-dir', 'deep'), { recursive: true });
    await writeFile(join(target, 'new-dir', 'deep', 'x'), 'x');
    await writeFile(join(target, 'was-a-dir'), 'now a file');
    await symlink('old.txt', join(target, 'kept', 'link'));
    await writeFile(join(target, 'scratch.tmp'), 'excluded');
    const nodes = [
      { path: '/srv/up', type: 'dir' },
      { path: '/srv/up/kept', type: 'dir' },
      { path: '/srv/up/kept/inner', type: 'dir' },
      { path: '/srv/up/kept/old.txt', type: 'file' },
      { path: '/srv/up/kept/link', type: 'symlink' },
      { path: '/srv/up/was-a-dir', type: 'dir' },
    ];
    const found = await entriesNotInSnapshot(target, '/srv/up', nodes, ['*.tmp']);
    expect(found).toEqual(['kept/late.txt', 'new-dir', 'was-a-dir']);
    // Nothing at the target, or a snapshot without the folder: nothing to move.
    expect(await entriesNotInSnapshot(join(base, 'none'), '/srv/up', nodes, [])).toEqual([]);

    const stamp = asideStamp(new Date('2026-12-03T06:45:00.123Z'));
    expect(stamp).toBe('20261203T064500Z');
    const aside = await asideDirectory(target, stamp);
    expect(aside).toBe(`${target}.snapkeep-moved-20261203T064500Z`);
    const moved = await moveAside(target, found, aside);
    expect(moved).toBe(aside);
    expect(await readFile(join(aside, 'kept', 'late.txt'), 'utf8')).toBe('late');
    expect(await readFile(join(aside, 'new-dir', 'deep', 'x'), 'utf8')).toBe('x');
    expect(await readFile(join(aside, 'was-a-dir'), 'utf8')).toBe('now a file');
    expect(existsSync(join(target, 'kept', 'late.txt'))).toBe(false);
    expect(existsSync(join(target, 'scratch.tmp'))).toBe(true);
    expect(await entriesNotInSnapshot(target, '/srv/up', nodes, ['*.tmp'])).toEqual([]);
    // A second restore in the same second gets a directory of its own.
    await writeFile(join(target, 'later.txt'), 'later');
    expect(await moveAside(target, ['later.txt'], aside)).toBe(`${aside}-2`);
  });

  it('a folder that is a mount point: moved aside inside it (a rename cannot leave its filesystem), and the next listing leaves that directory', async () => {
    const base = await mkdtemp(join(tmpdir(), 'point-in-time-mount-'));
    made.push(base);
    const target = join(base, 'up');
    await mkdir(target);
    await runChecked({ file: 'mount', args: ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', target] });
    try {
      await writeFile(join(target, 'late.txt'), 'late');
      const nodes = [{ path: '/srv/up', type: 'dir' }];
      const found = await entriesNotInSnapshot(target, '/srv/up', nodes, []);
      expect(found).toEqual(['late.txt']);
      const aside = await asideDirectory(target, '20261203T064500Z');
      expect(aside).toBe(join(target, '.snapkeep-moved-20261203T064500Z'));
      await moveAside(target, found, aside);
      expect(await readFile(join(aside, 'late.txt'), 'utf8')).toBe('late');
      expect(await entriesNotInSnapshot(target, '/srv/up', nodes, [])).toEqual([]);
    } finally {
      await runChecked({ file: 'umount', args: [target] });
    }
  });
});
