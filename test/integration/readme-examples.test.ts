// README's shell examples work as written when pasted (issue 16). Every `snapkeep …` line of
// README's ```sh blocks is either run here, word for word, against a real layout that has the
// names README uses (a subvolume `home` with Documents/report.odt, a disk target `usb`, a backup
// set `app` in a local restic repository with an `offsite` one; the config found through $SNAPKEEP_CONFIG as a user's
// /etc/snapkeep/snapkeep.yaml would be), or listed with the reason it cannot run on this machine.
// A README line in neither list fails the test, so a new example is either tested or excused.
// Synopsis lines (with `[…]` or an upper-case placeholder such as FILE) are not examples.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { createSubvolume } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { cliPath } from '../helpers/cli.js';
import { runCommand } from '../../src/exec/command.js';

const cleanups = useCleanups();
const readmePath = new URL('../../README.md', import.meta.url).pathname;

/** The examples run here, in this order, and the exit codes each may end with. */
const runs: readonly (readonly [line: string, exits?: readonly number[]])[] = [
  ['snapkeep config validate'],
  ['snapkeep config show'],
  ['snapkeep run --dry-run'],
  ['snapkeep run'],
  // (the set's examples come before status, which calls a set never backed up stale: exit 3)
  ['snapkeep backup --dry-run'],
  ['snapkeep backup'],
  ['snapkeep restore app'],
  ['snapkeep restore app latest --only uploads --yes'],
  ['snapkeep restore app latest --only uploads --exact --dry-run'],
  ['snapkeep verify app --drill --from offsite'],
  ['snapkeep list'],
  ['snapkeep status'],
  ['snapkeep check'],
  ['snapkeep metrics'],
  // (a file changes and a second run is made here, so that diff has something to show)
  ['snapkeep diff home'],
  ['snapkeep diff home home.20261120T1010 latest --json'],
  ['snapkeep restore'],
  ['snapkeep restore home latest --path Documents/report.odt --to .'],
  ['snapkeep restore home latest --force --dry-run'],
  ['snapkeep restore home latest --force'],
  ['snapkeep verify --drill --dry-run'],
  ['snapkeep verify --drill'],
  ['snapkeep verify home --drill'],
  // doctor's FAILs depend on the machine (NTP, free space); that it runs every check is the point.
  ['snapkeep doctor', [0, 3]],
];

/** The examples that cannot run here, and why. */
const cannotRun: Readonly<Record<string, string>> = {
  './scripts/quickstart.sh':
    'README’s first command: run by CI on a fresh clone (install.test.ts runs quickstart)',
  './scripts/test.sh': 'README’s second command: this test is part of it',
  'snapkeep config init -o /etc/snapkeep/snapkeep.yaml': 'writes this machine’s system configuration',
  'snapkeep remote setup --root /mnt/backup --user snapkeep --public-key ~/.ssh/snapkeep.pub':
    'needs the user’s key file (remote-setup.test.ts runs it with a generated key)',
  'snapkeep remote setup --root /mnt/backup --user snapkeep --public-key key.pub --install':
    'installs a user and sshd configuration on the backup host (remote-setup-install.test.ts)',
  'snapkeep remote verify offsite --host-key SHA256:…': 'needs a backup host and its key',
  'snapkeep restore home home.20261120T1010 --from offsite --to /mnt/old-home': 'needs the offsite host',
  'snapkeep restore home latest --from usb --full --to /mnt/drill':
    'writes /mnt/drill on this machine (restore-pull.test.ts restores --full --to a scratch btrfs)',
  'snapkeep pull offsite laptop-home --into /backups/pulled --checkout /home':
    'needs the offsite host and another device',
  'snapkeep restore app latest --to /srv/rebuilt --database app=app_check':
    'needs the PostgreSQL source and writes /srv (backup-set.test.ts restores into a new database)',
  'snapkeep infra plan': 'needs AWS credentials (infra-aws.test.ts runs it against a stub)',
  'snapkeep infra apply': 'creates AWS resources',
  'snapkeep infra destroy': 'destroys AWS resources',
  'snapkeep doctor notify': 'needs notification channels (notify-channels.test.ts)',
  'snapkeep remote setup --watch offsite --identity ~/.ssh/backup-admin --dry-run':
    'needs the backup host (remote-watch.test.ts runs it against a real sshd)',
  'snapkeep remote setup --watch offsite --identity ~/.ssh/backup-admin':
    'needs the backup host (remote-watch.test.ts)',
  'snapkeep remote setup --unwatch offsite --identity ~/.ssh/backup-admin':
    'needs the backup host (remote-watch.test.ts)',
};

function isSynopsis(line: string): boolean {
  return /\[|\b[A-Z]{3,}\b/.test(line.replace(/SHA256:\S*/, ''));
}

async function readmeExamples(): Promise<string[]> {
  const lines: string[] = [];
  let inShell = false;
  for (const line of (await readFile(readmePath, 'utf8')).split('\n')) {
    if (/^```/.test(line)) {
      inShell = !inShell && line.trim() === '```sh';
      continue;
    }
    const command = line.replace(/\s+#.*$/, '').trim();
    if (inShell && command !== '' && !isSynopsis(command)) lines.push(command);
  }
  return lines;
}

describe('README’s shell examples', () => {
  it('each is run below or excused with its reason; none is in both lists or in neither', async () => {
    const examples = await readmeExamples();
    const listed = new Set([...runs.map(([line]) => line), ...Object.keys(cannotRun)]);
    expect(
      examples.filter((line) => !listed.has(line)),
      'README lines this test neither runs nor excuses',
    ).toEqual([]);
    expect(
      [...listed].filter((line) => !examples.includes(line)),
      'lines no longer in README',
    ).toEqual([]);
    expect(runs.filter(([line]) => line in cannotRun)).toEqual([]);
  });

  it('work as written against a layout with README’s names', async () => {
    const source = await cleanups.loopBtrfs('rdmsrc', 256);
    const target = await cleanups.loopBtrfs('rdmtgt', 256);
    const base = await cleanups.tempDir('readme');
    const home = join(source.mountPoint, 'home');
    const snapshots = join(source.mountPoint, 'snapshots');
    await createSubvolume(home);
    await mkdir(join(home, 'Documents'));
    await writeFile(join(home, 'Documents', 'report.odt'), 'the report, first draft\n');
    await mkdir(snapshots);
    // A snapshot README names, as an older run would have left it.
    await runChecked({
      file: 'btrfs',
      args: ['subvolume', 'snapshot', '-r', home, join(snapshots, 'home.20261120T1010')],
    });
    await mkdir(join(target.mountPoint, 'backups'));
    const uploads = join(base, 'uploads');
    await mkdir(uploads);
    await writeFile(join(uploads, 'photo.jpg'), 'not really a photo\n');
    await writeFile(join(base, 'restic-password'), 'readme example password\n', { mode: 0o600 });
    const config = join(base, 'snapkeep.yaml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}
subvolumes:
  home:
    path: ${home}
    snapshot_dir: ${snapshots}
    targets: [usb]
    snapshot_retention: { preserve_min: all }
targets:
  usb: { path: ${join(target.mountPoint, 'backups')} }
repositories:
  local:
    url: ${join(base, 'repo')}
    password: file:${join(base, 'restic-password')}
  offsite:
    url: ${join(base, 'offsite-repo')}
    password: file:${join(base, 'restic-password')}
sources:
  uploads: { type: directory, paths: [${uploads}] }
backup_sets:
  app: { sources: [uploads], repository: local, offsite: [offsite] }
`,
    );
    const work = join(base, 'cwd');
    await mkdir(work);
    const run = async (line: string): Promise<{ exitCode: number | null; output: string }> => {
      expect(line, 'a runnable example is plain words').not.toMatch(/["'\\$`|;&<>]/);
      const [program, ...args] = line.split(/\s+/);
      expect(program).toBe('snapkeep');
      const result = await runCommand({
        file: process.execPath,
        args: [cliPath, ...args],
        cwd: work,
        env: { ...process.env, SNAPKEEP_CONFIG: config },
      });
      return { exitCode: result.exitCode, output: `${result.stdout}\n${result.stderr}` };
    };

    // Before the first backup the set's repository does not exist: no restore points, not an error.
    const before = await run('snapkeep restore app');
    expect(before.exitCode, before.output).toBe(0);
    expect(before.output).toContain('app → local: no restore points yet');

    for (const [line, exits = [0]] of runs) {
      if (line === 'snapkeep diff home') {
        await writeFile(join(home, 'Documents', 'report.odt'), 'the report, second draft\n');
        expect((await run('snapkeep run')).exitCode).toBe(0);
      }
      const result = await run(line);
      expect(exits, `${line} exited ${result.exitCode}:\n${result.output.slice(-3000)}`).toContain(
        result.exitCode,
      );
    }
    // What the examples claim, checked where it is cheap: the file came back, the set was backed up.
    expect(await readFile(join(work, 'report.odt'), 'utf8')).toBe('the report, second draft\n');
    expect((await run('snapkeep restore app')).output).toMatch(
      /^app +\S+ +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +local$/m,
    );
  });
});
