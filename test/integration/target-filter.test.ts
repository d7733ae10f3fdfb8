// The target filter against a corpus of hostile requests: each must be refused (exit 126, a reason
// on stderr, a REJECT line in its log) with NOTHING run; every request snapkeep itself sends must
// be accepted and run exactly as asked.
//
// Test seam, named: the filter fixes its own PATH. This test runs a copy whose PATH line has a
// directory of recorders prepended, so `btrfs`, `sudo`, `mkdir`, `cat` and `zstd` only log their
// argv (`date` too, except the filter's log timestamp and `date -u +%s`, which then really run);
// everything else in the filter is the shipped script, run by dash (the Debian /bin/sh).
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
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
import { runCommand } from '../../src/exec/command.js';
import { remoteRequest, remoteStreamRequest } from '../../src/remote/remote-request.js';
import { makeDirectory } from '../../src/remote/ssh-host.js';
import { filterScript } from '../../src/remote/remote-setup.js';

let base: string;
let root: string;
let filter: string;
let spyLog: string;
let filterLog: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'snapkeep-filter-'));
  root = join(base, 'backups');
  spyLog = join(base, 'spy.log');
  filterLog = join(base, 'filter.log');
  const spies = join(base, 'spies');
  await mkdir(join(root, 'laptop', 'data.20261123T1200'), { recursive: true });
  await mkdir(join(base, 'outside', 'secret'), { recursive: true });
  await mkdir(spies);
  await symlink(join(base, 'outside'), join(root, 'link-out'));
  await symlink('../../..', join(root, 'laptop', 'link-up'));
  await symlink('/', join(root, 'link-root'));
  await symlink(join(root, 'laptop'), join(root, 'link-in'));
  for (const tool of ['btrfs', 'sudo', 'mkdir', 'cat', 'zstd']) {
    await writeFile(join(spies, tool), `#!/bin/sh\nprintf '%s\\n' "${tool} $*" >> ${spyLog}\n`, {
      mode: 0o755,
    });
  }
  // date: the filter's own log timestamp passes through; every request's date is recorded, and
  // only `date -u +%s` then really runs (a filter that let `date -s` through sets no clock here).
  await writeFile(
    join(spies, 'date'),
    [
      '#!/bin/sh',
      `case "$*" in '+%Y-%m-%dT%H:%M:%S%z') exec /bin/date "$@" ;; esac`,
      `printf '%s\\n' "date $*" >> ${spyLog}`,
      `if [ "$*" = '-u +%s' ]; then exec /bin/date -u +%s; fi`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  filter = join(base, 'filter.sh');
  const script = filterScript().replace(/^PATH=/m, `PATH=${spies}:`);
  expect(script).toContain(`PATH=${spies}:`);
  await writeFile(filter, script, { mode: 0o755 });
  await chmod(filter, 0o755);
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

async function runFilter(request: string, flags: readonly string[] = []) {
  await writeFile(spyLog, '');
  const result = await runCommand({
    file: 'dash',
    args: [filter, '--root', root, '--log', filterLog, ...flags],
    env: { SSH_ORIGINAL_COMMAND: request },
  });
  return { ...result, ran: (await readFile(spyLog, 'utf8')).split('\n').filter(Boolean) };
}

/** A request as sshd would deliver it: the command string is a C string, so a NUL ends it. */
const delivered = (request: string): string => request.split('\u0000')[0]!;

function hostileCorpus(): { request: string; flags?: string[]; why: string }[] {
  const corpus: { request: string; flags?: string[]; why: string }[] = [];
  const add = (request: string, why: string, flags?: string[]): void => {
    corpus.push({ request, why, flags });
  };
  const path = `${root}/laptop`;
  const templates = [
    (x: string) => `btrfs receive ${path}${x}`,
    (x: string) => `btrfs receive ${path} ${x}`,
    (x: string) => `readlink -e ${path}${x}id`,
    (x: string) => `btrfs subvolume show ${path}/data.20261123T1200${x}`,
    (x: string) => `btrfs subvolume delete -c ${path}/a${x}${path}/b`,
    (x: string) => `mkdir -p ${path}/new${x}`,
  ];
  const metacharacters = [
    ';',
    '&',
    '&&',
    '||',
    '$',
    '$(id)',
    '`id`',
    '(',
    ')',
    '{',
    '}',
    '<',
    '>',
    '>>',
    '*',
    '?',
    '[a]',
    '~',
    '!',
    '#',
    '%',
    '^',
    '\\',
    "'",
    '"',
    '\t',
    '\n',
    '\r',
    '\r\n',
    '\u0007',
    '\u001b[2J',
  ];
  for (const template of templates)
    for (const character of metacharacters)
      add(template(character), `metacharacter ${JSON.stringify(character)}`);
  for (const injection of ['\nid', '\nrm -rf /', '\r\nid', '\rid', '\n\nid', '\u2028id', '\u0085id'])
    add(`btrfs subvolume list -r ${path}${injection}`, 'line injection');
  for (const cut of [
    `btrfs subvol\u0000ume list -r ${path}`,
    `bt\u0000rfs receive ${path}`,
    `\u0000btrfs receive ${path}`,
    `btrfs receive \u0000${path}`,
  ])
    add(cut, 'NUL (the transport cuts the string there)');
  const escapes = [
    `${root}/../outside`,
    `${root}/laptop/../../outside`,
    `${root}/..`,
    `${root}/./laptop`,
    `${root}//laptop`,
    `${root}/link-out`,
    `${root}/link-out/secret`,
    `${root}/link-root/etc`,
    `${root}/link-root`,
    `${root}/laptop/link-up`,
    `${root}/laptop/link-up/etc`,
    `${root}x`,
    `${root}-evil/laptop`,
    `${base}/outside`,
    '/etc',
    '/',
    '/root/.ssh',
    'relative/path',
    '.',
    '..',
    '~root',
    `-${root}`,
  ];
  const verbs = [
    (p: string) => `btrfs receive ${p}`,
    (p: string) => `btrfs subvolume show ${p}`,
    (p: string) => `btrfs subvolume list -r ${p}`,
    (p: string) => `btrfs subvolume list -a -u -q -R -c -g ${p}`,
    (p: string) => `btrfs subvolume delete -c ${p}`,
    (p: string) => `btrfs send -q ${p}`,
    (p: string) => `btrfs send -q -p ${p} ${path}/data.20261123T1200`,
    (p: string) => `mkdir -p ${p}/x`,
    (p: string) => `readlink -e ${p}`,
    (p: string) => `btrfs filesystem usage -b ${p}`,
    (p: string) => `btrfs subvolume snapshot -r ${path}/data.20261123T1200 ${p}`,
  ];
  for (const verb of verbs) for (const escape of escapes) add(verb(escape), `path escape ${escape}`);
  for (const injected of [
    `btrfs receive -e ${path}`,
    `btrfs receive --dump ${path}`,
    `btrfs receive -m / ${path}`,
    `btrfs receive ${path} -f /etc/shadow`,
    `btrfs receive -f /etc/shadow ${path}`,
    `btrfs send -q -f /etc/shadow ${path}/data.20261123T1200`,
    `btrfs send -q ${path}/data.20261123T1200 -f /tmp/x`,
    `btrfs send -q -c /etc ${path}/data.20261123T1200`,
    `btrfs send -q -p -f ${path}/data.20261123T1200`,
    `btrfs send ${path}/data.20261123T1200`,
    `btrfs subvolume delete -c --commit-each ${path}/a`,
    `btrfs subvolume delete -c -i 5 ${path}`,
    `btrfs subvolume delete ${path}/a`,
    `btrfs subvolume list -a ${path}`,
    `btrfs subvolume list -a -u -q -R -c -g -o ${path}`,
    `btrfs subvolume list -r -a ${path}`,
    `btrfs subvolume show -r 5 ${path}`,
    `btrfs subvolume snapshot ${path}/data.20261123T1200 ${path}/rw`,
    `mkdir -m 777 ${path}/x`,
    `mkdir -p -- ${path}/x`,
    `mkdir ${path}/x`,
    `readlink -f ${path}`,
    `readlink -e -n ${path}`,
    `cat /proc/self/environ`,
    `cat /etc/shadow`,
    `cat /proc/self/mountinfo /etc/shadow`,
    `zstd -d -c | btrfs receive -e ${path}`,
    `zstd -d -c -o /etc/x | btrfs receive ${path}`,
    `zstd -c | btrfs receive ${path}`,
    `btrfs send -q ${path}/data.20261123T1200 | sh`,
    `btrfs send -q ${path}/data.20261123T1200 | zstd -c -o /tmp/x`,
    `btrfs send -q ${path}/data.20261123T1200 | zstd`,
    `btrfs receive ${path} | sh`,
    `sudo btrfs receive ${path}`,
    `sudo -u root btrfs receive ${path}`,
    `sudo -n -u root btrfs receive ${path}`,
    `sudo -n sudo -n btrfs receive ${path}`,
    `sudo -n id`,
    `sudo -n sh`,
  ])
    add(injected, 'option injection or an unknown form');
  // The clock: exactly `date -u +%s`, nothing else of date (least of all setting the clock).
  for (const date of [
    'date',
    'date -u',
    'date +%s',
    'date -u +%S',
    'date -u +%s extra',
    'date -u +%s +%s',
    'date -s @0',
    'date -s 2000-01-01',
    'date -u -s @0',
    'date -u +%s -s @0',
    'date --set=@0',
    'date -f /etc/shadow',
    'date -r /etc/shadow',
    'date -u +%s | sh',
    'date -u +%s;id',
    'date -u +%s\nid',
    'date  -u +%s',
    ' date -u +%s',
    'date -u +%s ',
    'DATE -u +%s',
    'sudo -n date -u +%s',
    'sudo date -u +%s',
    '/bin/date -u +%s',
  ])
    add(date, 'a form of date other than `date -u +%s`');
  for (const other of [
    'id',
    'sh',
    'bash',
    'sh -i',
    'scp -t /tmp',
    'rsync --server -e.Lsfx . /',
    'internal-sftp',
    'btrfs',
    'btrfs filesystem resize max /',
    'btrfs property set / ro false',
    'btrfs device add /dev/sda /',
    'BTRFS receive ' + path,
    'Btrfs receive ' + path,
    'exec btrfs receive ' + path,
    'env btrfs receive ' + path,
    'nice btrfs receive ' + path,
  ])
    add(other, 'not a request snapkeep makes');
  for (const spacing of [
    '',
    ' ',
    '  ',
    `btrfs  receive ${path}`,
    ` btrfs receive ${path}`,
    `btrfs receive ${path} `,
    `btrfs\treceive ${path}`,
    `btrfs receive\u00a0${path}`,
  ])
    add(spacing, 'empty or irregular spacing');
  for (const lookalike of [
    `btrfs receive ${path}\u0430`,
    `btrfs receive ${root}\u2215etc`,
    `btrfs receive ${root}\uff0fetc`,
    `btrfs receive ${path}\u200b`,
    `btrfs receive ${path}\u202e`,
    `btrfs rece\u0456ve ${path}`,
    `btrfs receive ${path}\u2024\u2024/outside`,
    `bt\u0433fs receive ${path}`,
    `btrfs receive ${path}\ufeff`,
    `btrfs receive ${path}\u00ad`,
  ])
    add(lookalike, 'look-alike Unicode');
  add(`btrfs receive ${root}/${'a'.repeat(5000)}`, 'overlong request');
  add(`btrfs receive ${root}/${'a'.repeat(1500)}`, 'overlong word');
  add(
    `btrfs subvolume delete -c ${Array.from({ length: 70 }, (_, index) => `${path}/s${index}`).join(' ')}`,
    'too many words',
  );
  for (const disabled of [
    [`btrfs subvolume delete -c ${path}/data.20261123T1200`, '--no-delete'],
    [`sudo -n btrfs subvolume delete -c ${path}/data.20261123T1200`, '--no-delete'],
    [`btrfs send -q ${path}/data.20261123T1200`, '--no-send'],
    [`btrfs send -q -p ${path}/data.20261123T1200 ${path}/data.20261123T1200`, '--no-send'],
    [`btrfs send -q ${path}/data.20261123T1200 | zstd -c`, '--no-send'],
    [`btrfs subvolume snapshot -r ${path}/data.20261123T1200 ${path}/s2`, '--no-snapshot'],
  ] as const)
    add(disabled[0], `disabled verb (${disabled[1]})`, [disabled[1]]);
  add(`btrfs subvolume delete -c ${root}`, 'deleting a root');
  return corpus;
}

describe('target filter', () => {
  const corpus = hostileCorpus();

  it('the corpus is large and varied', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(300);
    expect(new Set(corpus.map((entry) => entry.request)).size).toBeGreaterThanOrEqual(290);
  });

  it('refuses every hostile request, says why, logs it, and runs nothing', async () => {
    const accepted: string[] = [];
    for (const { request, flags, why } of corpus) {
      const result = await runFilter(delivered(request), flags);
      if (result.exitCode !== 126 || result.ran.length > 0 || !/rejected: \S/.test(result.stderr)) {
        accepted.push(
          `${why}: ${JSON.stringify(request)} → exit ${result.exitCode}, ran ${JSON.stringify(result.ran)}`,
        );
      }
    }
    expect(accepted).toEqual([]);
    const log = await readFile(filterLog, 'utf8');
    expect(log.split('\n').filter((line) => line.includes('REJECT')).length).toBe(corpus.length);
    expect(log.includes('\r') || log.includes('\u0000')).toBe(false);
  }, 300_000);

  it('accepts every request snapkeep sends and runs exactly it', async () => {
    const snapshot = `${root}/laptop/data.20261123T1200`;
    const specs = [
      listSubvolumes(`${root}/laptop`),
      listReadonlySubvolumes(`${root}/laptop`),
      showSubvolume(snapshot),
      receiveInto(`${root}/laptop`),
      sendSnapshot(snapshot),
      sendSnapshot(snapshot, snapshot),
      deleteSubvolumes([snapshot]),
      deleteSubvolumes([snapshot, `${root}/laptop/data.20261123T1300`]),
      filesystemUsage(`${root}/laptop`),
      makeDirectory(`${root}/laptop/new/deeper`),
      createReadonlySnapshot(snapshot, `${root}/laptop/data.20261123T1400`),
    ];
    for (const spec of specs) {
      for (const sudo of [true, false]) {
        const request = remoteRequest(spec, { sudo });
        const result = await runFilter(request);
        expect(result.exitCode, `${request}: ${result.stderr}`).toBe(0);
        const expected =
          spec.file === 'mkdir' ? ['mkdir', '-p', '--', ...spec.args.slice(1)] : [spec.file, ...spec.args];
        expect(result.ran, request).toEqual([`sudo -n ${expected.join(' ')}`]);
      }
    }
    // Through a symlink inside the root: resolved, and run on the resolved path.
    const viaLink = await runFilter(`btrfs subvolume show ${root}/link-in/data.20261123T1200`);
    expect(viaLink.ran).toEqual([`sudo -n btrfs subvolume show ${snapshot}`]);
    const realpath = await runFilter(`readlink -e ${root}/link-in`);
    expect(realpath.stdout.trim()).toBe(`${root}/laptop`);
    const mounts = await runFilter('cat /proc/self/mountinfo');
    expect(mounts.ran).toEqual(['cat /proc/self/mountinfo']);
    // Compressed streams, exactly as SshHost asks for them (with and without sudo inside).
    for (const sudo of [true, false]) {
      const push = remoteStreamRequest(receiveInto(`${root}/laptop`), {
        sudo,
        compression: 'decompress-input',
      });
      const pushed = await runFilter(push);
      expect(pushed.exitCode, `${push}: ${pushed.stderr}`).toBe(0);
      expect(pushed.ran.sort()).toEqual([`sudo -n btrfs receive ${root}/laptop`, 'zstd -d -c'].sort());
      const pull = remoteStreamRequest(sendSnapshot(snapshot), { sudo, compression: 'compress-output' });
      const pulled = await runFilter(pull);
      expect(pulled.exitCode, `${pull}: ${pulled.stderr}`).toBe(0);
      expect(pulled.ran.sort()).toEqual([`sudo -n btrfs send -q ${snapshot}`, 'zstd -c'].sort());
    }
    const withoutSudo = await runFilter(`btrfs receive ${root}/laptop`, ['--no-sudo']);
    expect(withoutSudo.ran).toEqual([`btrfs receive ${root}/laptop`]);
  });

  it("reads the host's clock with exactly `date -u +%s`: as the login user, whatever the options, logged", async () => {
    for (const flags of [[], ['--no-delete', '--no-send', '--no-snapshot'], ['--no-sudo']]) {
      const before = Math.floor(Date.now() / 1000);
      const result = await runFilter('date -u +%s', flags);
      const after = Math.ceil(Date.now() / 1000);
      expect(result.exitCode, `${flags.join(' ')}: ${result.stderr}`).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(/^\d+\n$/);
      const seconds = Number(result.stdout);
      expect(seconds).toBeGreaterThanOrEqual(before);
      expect(seconds).toBeLessThanOrEqual(after);
      // Exactly that, as the login user: not through sudo (the sudo recorder would show it).
      expect(result.ran).toEqual(['date -u +%s']);
    }
    const log = (await readFile(filterLog, 'utf8')).split('\n');
    expect(log.filter((line) => line.endsWith(': ACCEPT: date -u +%s')).length).toBe(3);
    // Every other form of date is refused (also in the hostile corpus), and says why.
    for (const request of ['date', 'date -s @0', 'date -s 2000-01-01', 'date -u +%s extra', 'date +%s']) {
      const refused = await runFilter(request);
      expect(refused.exitCode, request).toBe(126);
      expect(refused.stdout, request).toBe('');
      expect(refused.stderr, request).toMatch(/^snapkeep-target-filter: rejected: \S/);
      expect(refused.ran, request).toEqual([]);
    }
  });
});
