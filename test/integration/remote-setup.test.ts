// The generated sudoers rules as sudo itself reads them: two setups on one host (two users, two
// roots) must coexist — sudo aliases are global across /etc/sudoers.d — and file names must be
// ones sudo does not skip.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReadonlySnapshot,
  deleteSubvolumes,
  filesystemUsage,
  listReadonlySubvolumes,
  listSubvolumes,
  receiveInto,
  sendSnapshot,
  showSubvolume,
} from '../../src/btrfs/btrfs-commands.js';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { sudoersFileName, sudoersRule } from '../../src/remote/remote-setup.js';
import { requireTools } from '../helpers/loop-btrfs.js';

describe('sudoers rule', () => {
  it('two users on one host give a combined file that visudo accepts', async () => {
    await requireTools(['visudo']);
    const directory = await mkdtemp(join(tmpdir(), 'snapkeep-sudoers-'));
    try {
      const combined = join(directory, 'combined');
      await writeFile(
        combined,
        sudoersRule({ user: 'laptop', roots: ['/mnt/backup/laptop'] }) +
          sudoersRule({ user: 'desk.top', roots: ['/mnt/backup/desktop'], noDelete: true }),
      );
      const checked = await runCommand({ file: 'visudo', args: ['-c', '-f', combined] });
      expect(checked.exitCode, checked.stderr + checked.stdout).toBe(0);
      const duplicated = join(directory, 'duplicated');
      const rule = sudoersRule({ user: 'laptop', roots: ['/mnt/backup/laptop'] });
      await writeFile(duplicated, rule + rule);
      // The check above can fail: the same alias twice is what sudo rejects.
      expect((await runCommand({ file: 'visudo', args: ['-c', '-f', duplicated] })).exitCode).not.toBe(0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('names files sudo reads (no dot)', () => {
    expect(sudoersFileName('desk.top')).toBe('snapkeep-desk_top');
    expect(sudoersFileName('snapkeep')).toBe('snapkeep-snapkeep');
  });
});

// The rule as the installed sudo decides it (`sudo -l -U USER COMMAND ARGS…`: exit 0 and the
// command when allowed), for a throwaway user: every form the filter runs through sudo is
// allowed, and nothing that names a path outside the roots — this fence must hold without the
// filter in front of it.
describe('sudoers rule under the real sudo', () => {
  const btrfsPath = '/usr/bin/btrfs';
  const mkdirPath = '/usr/bin/mkdir';
  // `.` and `+` are regular-expression operators, `,` `:` `=` sudoers syntax: all in a root.
  const root = '/srv/snapkeep-sudo-test/b.k+1,x:y=z';
  const second = '/mnt/second';
  let user: string;
  let userCreated = false;
  const installed: string[] = [];

  beforeAll(async () => {
    await requireTools(['sudo', 'visudo', 'useradd', 'userdel']);
    user = `sks${randomBytes(4).toString('hex')}`;
    await runChecked({ file: 'useradd', args: ['-M', '-s', '/bin/sh', user] });
    userCreated = true;
  });

  afterAll(async () => {
    for (const file of installed) await rm(file, { force: true });
    if (userCreated) await runCommand({ file: 'userdel', args: [user] });
  });

  /** Install the rule (checked by visudo first: a broken file would break sudo for everyone). */
  async function install(options: { noDelete?: boolean; noSend?: boolean; noSnapshot?: boolean }) {
    const file = `/etc/sudoers.d/snapkeep-test-${user}`;
    const rule = sudoersRule({ user, roots: [root, second], btrfsPath, mkdirPath, ...options });
    installed.push(file, `${file}.tmp`);
    await writeFile(`${file}.tmp`, rule, { mode: 0o440 });
    const checked = await runCommand({ file: 'visudo', args: ['-c', '-q', '-f', `${file}.tmp`] });
    expect(checked.exitCode, checked.stderr + checked.stdout).toBe(0);
    await runChecked({ file: 'mv', args: [`${file}.tmp`, file] });
  }

  async function allowed(file: string, args: readonly string[]): Promise<boolean> {
    const result = await runCommand({ file: 'sudo', args: ['-n', '-l', '-U', user, file, ...args] });
    if (result.exitCode === 0) return true;
    expect(result.exitCode, result.stderr).toBe(1);
    return false;
  }

  /** The argv the filter runs through sudo (its btrfs_cmd and mkdir_cmd), with resolved paths. */
  const filterForms = (paths: {
    at: string;
    below: string;
    other: string;
  }): [string, readonly string[]][] => [
    [btrfsPath, listSubvolumes(paths.at).args],
    [btrfsPath, listReadonlySubvolumes(paths.at).args],
    [btrfsPath, showSubvolume(paths.below).args],
    [btrfsPath, filesystemUsage(paths.at).args],
    [btrfsPath, receiveInto(paths.at).args],
    [mkdirPath, ['-p', '--', paths.below]],
    [btrfsPath, deleteSubvolumes([paths.below]).args],
    [btrfsPath, deleteSubvolumes([paths.below, paths.other]).args],
    [btrfsPath, sendSnapshot(paths.below).args],
    [btrfsPath, sendSnapshot(paths.below, paths.other).args],
    [btrfsPath, createReadonlySnapshot(paths.at, paths.below).args],
  ];

  it('allows exactly the forms the filter runs, on paths under the roots', async () => {
    await install({});
    const cases = [
      { at: root, below: `${root}/laptop/home.20261123T1200`, other: `${second}/x` },
      { at: `${second}/a`, below: `${root}/.snapshots/...x/a+b,c:d=e@f`, other: `${root}/laptop/.h` },
    ];
    for (const paths of cases) {
      for (const [file, args] of filterForms(paths)) {
        expect(await allowed(file, args), `${file} ${args.join(' ')}`).toBe(true);
      }
    }
  });

  it('refuses .., sibling prefixes, extra arguments and paths outside the roots', async () => {
    await install({});
    const outside = [
      `${root}/..`,
      `${root}/../../src/home`,
      `${root}/laptop/../../../etc`,
      `${root}/.`,
      `${root}/./x`,
      `${root}x/laptop`,
      `${root}-other`,
      `${root}//laptop`,
      `${root}/`,
      '/srv/snapkeep-sudo-test',
      '/etc',
      '/',
      `/x${root}`,
    ];
    const refused: [string, readonly string[]][] = [];
    for (const path of outside) {
      refused.push(
        [btrfsPath, ['subvolume', 'list', '-r', path]],
        [btrfsPath, ['subvolume', 'show', path]],
        [btrfsPath, ['receive', path]],
        [btrfsPath, ['subvolume', 'delete', '-c', path]],
        [btrfsPath, ['subvolume', 'delete', '-c', `${root}/a`, path]],
        [btrfsPath, ['send', '-q', path]],
        [btrfsPath, ['send', '-q', '-p', `${root}/a`, path]],
        [btrfsPath, ['send', '-q', '-p', path, `${root}/a`]],
        [btrfsPath, ['subvolume', 'snapshot', '-r', path, `${root}/a`]],
        [btrfsPath, ['subvolume', 'snapshot', '-r', `${root}/a`, path]],
        [mkdirPath, ['-p', '--', path]],
      );
    }
    refused.push(
      // Extra arguments and other options.
      [btrfsPath, ['subvolume', 'list', '-r', root, '/etc']],
      [btrfsPath, ['send', '-q', root, '/etc/shadow']],
      [btrfsPath, ['send', '-q', '-p', root, root, root]],
      [btrfsPath, ['send', '-q', '-f', '/etc/passwd', root]],
      [btrfsPath, ['send', root]],
      [btrfsPath, ['receive', '-f', '/etc/shadow', root]],
      [btrfsPath, ['receive', root, '/etc']],
      [btrfsPath, ['subvolume', 'delete', `${root}/a`]],
      [btrfsPath, ['subvolume', 'delete', '-c', '-R', `${root}/a`]],
      [btrfsPath, ['subvolume', 'snapshot', `${root}/a`, `${root}/b`]],
      [btrfsPath, ['filesystem', 'usage', root]],
      [btrfsPath, ['property', 'set', root, 'ro', 'false']],
      [mkdirPath, ['-p', `${root}/a`]],
      [mkdirPath, ['-p', '--', `${root}/a`, '/etc/x']],
      [mkdirPath, ['-m', '777', '-p', '--', `${root}/a`]],
      // The filter never deletes a root, and no snapshot replaces one.
      [btrfsPath, ['subvolume', 'delete', '-c', root]],
      [btrfsPath, ['subvolume', 'delete', '-c', `${root}/a`, second]],
      [btrfsPath, ['subvolume', 'snapshot', '-r', `${root}/a`, root]],
      // An argument with a space is indistinguishable from two: still no way out.
      [btrfsPath, ['subvolume', 'list', '-r', `${root} /etc`]],
    );
    const wronglyAllowed: string[] = [];
    for (const [file, args] of refused) {
      if (await allowed(file, args)) wronglyAllowed.push(`${file} ${args.join(' ')}`);
    }
    expect(wronglyAllowed).toEqual([]);
  });

  it('--no-delete, --no-send, --no-snapshot leave those commands out', async () => {
    await install({ noDelete: true, noSend: true, noSnapshot: true });
    const paths = { at: root, below: `${root}/laptop/a`, other: `${second}/b` };
    for (const [file, args] of filterForms(paths)) {
      const expected = !['delete', 'send', 'snapshot'].some((word) => args.includes(word));
      expect(await allowed(file, args), `${file} ${args.join(' ')}`).toBe(expected);
    }
  });
});
