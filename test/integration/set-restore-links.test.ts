// A folder restored in place where a directory of the run is now a symbolic link to somewhere
// else: restic 0.14 writes the run's files through the link (overwriting a file outside the
// folder), 0.18 replaces the link. The default merge restore refuses it (exit 2, nothing touched,
// before any plan); --exact moves the link aside and restores the directory, the outside intact.
import { link, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { resticBinaries, type ResticBinary } from '../helpers/restic-binaries.js';
import { folderSetConfig } from '../helpers/restic-world.js';

const cleanups = useCleanups();

let binaries: ResticBinary[];

beforeAll(async () => {
  binaries = await resticBinaries();
});

describe.each([0, 1])('a link where the run has a directory, restic #%i', (index) => {
  it('merge refuses with nothing touched; --exact moves the link aside; the outside file is intact', async () => {
    const binary = binaries[index]!;
    const directory = await cleanups.tempDir('set-restore-links');
    const folder = join(directory, 'data', 'up');
    const outside = join(directory, 'outside');
    await mkdir(join(folder, 'sub'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(folder, 'sub', 'x'), 'from the run\n');
    await writeFile(join(directory, 'password'), 'links password\n', { mode: 0o600 });
    const configPath = join(directory, 'snapkeep.yaml');
    await writeFile(configPath, folderSetConfig(directory, folder));
    const env = { SNAPKEEP_RESTIC: binary.path, SNAPKEEP_CACHE_DIR: join(directory, 'cache') };
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);

    await rm(join(folder, 'sub'), { recursive: true });
    await symlink(outside, join(folder, 'sub'));
    await writeFile(join(outside, 'x'), 'precious, not in any backup\n');

    for (const dryRun of [['--dry-run'], []]) {
      const merge = await snapkeep(['restore', 'app', 'latest', '--yes', ...dryRun, '--config', configPath], {
        env,
      });
      expectExit(merge, 2);
      expect(merge.stderr).toContain(`${join(folder, 'sub')} is a symbolic link (to ${outside}) where run`);
      expect(merge.stderr).toContain('restore with --exact');
      expect(merge.stdout).toBe('');
      expect(await readFile(join(outside, 'x'), 'utf8')).toBe('precious, not in any backup\n');
      expect(await readlink(join(folder, 'sub'))).toBe(outside);
    }

    const exact = await snapkeep(['restore', 'app', 'latest', '--yes', '--exact', '--config', configPath], {
      env,
    });
    expectExit(exact, 0);
    expect(await readFile(join(outside, 'x'), 'utf8')).toBe('precious, not in any backup\n');
    expect(await readFile(join(folder, 'sub', 'x'), 'utf8')).toBe('from the run\n');
    const aside = /moved aside to (\S+)\)/.exec(exact.stdout)?.[1];
    expect(aside, exact.stdout).toBeDefined();
    expect(await readlink(join(aside!, 'sub'))).toBe(outside);
  });
});

// A folder that is a bind mount (of the same filesystem: the same st_dev as its parent) cannot
// have entries renamed to a sibling (EXDEV): --exact failed every time, leaving an empty sibling
// directory. What is not in the run now goes inside the folder, as for any mount point.
describe('--exact on a bind-mounted folder', () => {
  it('moves what is not in the run inside the folder and restores it', async () => {
    const binary = binaries[1]!;
    const directory = await cleanups.tempDir('set-restore-bind');
    const real = join(directory, 'real');
    const folder = join(directory, 'data', 'bound');
    await mkdir(real, { recursive: true });
    await mkdir(folder, { recursive: true });
    expectExit(await runCommand({ file: 'mount', args: ['--bind', real, folder] }), 0);
    cleanups.push(() => runCommand({ file: 'umount', args: [folder] }));
    await writeFile(join(folder, 'r'), 'from the run\n');
    await writeFile(join(directory, 'password'), 'bind password\n', { mode: 0o600 });
    const configPath = join(directory, 'snapkeep.yaml');
    await writeFile(configPath, folderSetConfig(directory, folder));
    const env = { SNAPKEEP_RESTIC: binary.path, SNAPKEEP_CACHE_DIR: join(directory, 'cache') };
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);
    await writeFile(join(folder, 'r'), 'changed\n');
    await writeFile(join(folder, 'new'), 'written after the backup\n');

    const exact = await snapkeep(
      ['restore', 'app', 'latest', '--yes', '--exact', '--json', '--config', configPath],
      { env },
    );
    expectExit(exact, 0);
    const moved = events(exact.stdout).find((event) => event.type === 'moved-aside');
    expect(moved).toMatchObject({ target: folder, count: 1, paths: ['new'] });
    const aside = moved!.directory as string;
    expect(aside.startsWith(`${folder}/.snapkeep-moved-`)).toBe(true);
    expect(await readFile(join(aside, 'new'), 'utf8')).toBe('written after the backup\n');
    expect(await readFile(join(folder, 'r'), 'utf8')).toBe('from the run\n');
    expect(await readdir(join(directory, 'data'))).toEqual(['bound']);
  });
});

describe.each([0, 1])('a file with two names (hard links), restic #%i', (index) => {
  it('restic before 0.18 would keep one name in place: refused, both kept; 0.18 restores, both kept', async () => {
    const binary = binaries[index]!;
    const directory = await cleanups.tempDir('set-restore-hardlinks');
    const folder = join(directory, 'data', 'up');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'h1'), 'one file, two names\n');
    await link(join(folder, 'h1'), join(folder, 'h2'));
    await writeFile(join(directory, 'password'), 'links password\n', { mode: 0o600 });
    const configPath = join(directory, 'snapkeep.yaml');
    await writeFile(configPath, folderSetConfig(directory, folder));
    const env = { SNAPKEEP_RESTIC: binary.path, SNAPKEEP_CACHE_DIR: join(directory, 'cache') };
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);
    await writeFile(join(folder, 'later'), 'written after the backup\n');

    const restore = await snapkeep(['restore', 'app', 'latest', '--yes', '--config', configPath], { env });
    if (binary.version.startsWith('0.14')) {
      expectExit(restore, 2);
      expect(restore.stderr).toContain(`${join(folder, 'h1')} has more than one name (hard links)`);
    } else {
      expectExit(restore, 0);
    }
    expect((await readdir(folder)).sort()).toEqual(['h1', 'h2', 'later']);
    expect((await stat(join(folder, 'h2'))).nlink).toBe(2);
  });
});

describe('an interrupted restore of live data', () => {
  it('says it is partial and that the start commands did not run, naming them', async () => {
    const directory = await cleanups.tempDir('set-restore-interrupted');
    const folder = join(directory, 'data', 'up');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a'), 'from the run\n');
    await writeFile(join(directory, 'password'), 'links password\n', { mode: 0o600 });
    const configPath = join(directory, 'snapkeep.yaml');
    // The stop command interrupts snapkeep itself (its parent), as Ctrl-C during the restore would.
    await writeFile(
      configPath,
      folderSetConfig(directory, folder).replace(
        '    repository: local\n',
        `    repository: local\n    restore:\n      stop: [[sh, -c, 'kill -INT $PPID']]\n      start: [[touch, ${join(directory, 'started')}]]\n`,
      ),
    );
    const env = { SNAPKEEP_CACHE_DIR: join(directory, 'cache') };
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);
    const restore = await snapkeep(['restore', 'app', 'latest', '--yes', '--config', configPath], { env });
    expectExit(restore, 130);
    expect(restore.stderr).toMatch(
      new RegExp(
        `app: the restore of run \\S+ was interrupted and is partial; the start commands did not run — run them yourself: touch ${join(directory, 'started')}`,
      ),
    );
    await expect(stat(join(directory, 'started'))).rejects.toThrow();
  });
});
