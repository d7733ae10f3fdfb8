// `doctor sources`: a large cache directory inside a snapshotted subvolume is a WARN whose fix,
// run as printed, turns it into a nested subvolume — after which doctor says OK and a new
// snapshot no longer holds the cache's bytes.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { createSubvolume, snapshotsIn } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';

const cleanups = useCleanups();

interface Check {
  group: string;
  subject?: string;
  check: string;
  status: string;
  detail: string;
  fix?: string[];
}

const sourceChecksOf = (stdout: string): Check[] =>
  events(stdout).filter((event) => event.type === 'check' && event.group === 'sources') as unknown as Check[];

describe('doctor sources', () => {
  it('warns about a large ~/.cache in a subvolume; its fix makes it a nested subvolume that snapshots skip', async () => {
    const source = await cleanups.loopBtrfs('cachesrc', 1800);
    const base = await cleanups.tempDir('doctor-sources');
    const home = join(source.mountPoint, 'home');
    await createSubvolume(home);
    const cache = join(home, 'alice smith', '.cache');
    await mkdir(join(cache, 'thumbnails'), { recursive: true });
    await runChecked({ file: 'fallocate', args: ['-l', '600M', join(cache, 'thumbnails', 'big')] });
    await writeFile(join(home, 'alice smith', 'notes.txt'), 'kept');
    const config = join(base, 'snapkeep.yaml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}
subvolumes:
  home:
    path: ${home}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
`,
    );
    await mkdir(join(source.mountPoint, 'snapshots'));

    const before = await snapkeep(['doctor', 'sources', '--config', config, '--json']);
    expectExit(before, 0); // a WARN does not fail doctor
    const [warning] = sourceChecksOf(before.stdout);
    expect(warning).toMatchObject({ status: 'warn', subject: 'home', check: 'caches' });
    expect(warning!.detail).toContain(`${cache} holds`);

    // The fix as printed, in a shell.
    const command = warning!.fix!.at(-1)!;
    await runChecked({ file: 'bash', args: ['-c', command] });
    const shown = await runChecked({ file: 'btrfs', args: ['subvolume', 'show', cache] });
    expect(shown.stdout).toContain('Name:');

    const after = await snapkeep(['doctor', 'sources', '--config', config, '--json']);
    expectExit(after, 0);
    expect(sourceChecksOf(after.stdout).map((check) => check.status)).toEqual(['ok']);

    expectExit(await snapkeep(['snapshot', '--config', config]), 0);
    const [snapshot] = await snapshotsIn(join(source.mountPoint, 'snapshots'));
    const inSnapshot = join(source.mountPoint, 'snapshots', snapshot!, 'alice smith');
    expect(await readdir(join(inSnapshot, '.cache'))).toEqual([]);
    expect(await readdir(inSnapshot)).toEqual(expect.arrayContaining(['notes.txt', '.cache']));
  });
});
