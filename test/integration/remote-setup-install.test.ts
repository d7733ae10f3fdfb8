// `snapkeep remote setup --install` on a real host (test/helpers/remote-host.ts: its own sshd on
// 127.0.0.1, reading the user's ~/.ssh/authorized_keys as a real one does), run again with
// another root: the key keeps one line, the new root works over a real ssh connection and the old
// one is refused; and the first `remote verify` from a client that has never seen the host pins
// its key by the fingerprint setup printed.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { expectExit, snapkeep } from '../helpers/cli.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { startRemoteHost, type RemoteHost } from '../helpers/remote-host.js';

let remote: RemoteHost;
let base: string;
let rootA: string;
let rootB: string;
let filterPath: string;
let publicKey: string;
let setupOutput = '';
const otherLines = [
  '# keys of other people: setup must leave these alone',
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr someone-else',
  '',
  'from="10.0.0.1",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDr6Ow7zqnTnWE1Go7+1sUkGgdkzpQdQqkrAHmqpKUhL admin "quoted, with spaces"',
];

beforeAll(async () => {
  await requireTools(['sshd', 'ssh', 'ssh-keygen', 'ssh-keyscan', 'unshare', 'nsenter', 'sudo', 'visudo']);
  base = await mkdtemp(join(tmpdir(), 'snapkeep-setup-install-'));
  remote = await startRemoteHost({ setupInstalls: true });
  rootA = join(remote.root, 'a');
  rootB = join(remote.root, 'b');
  const made = await remote.run(['mkdir', '-p', rootA, rootB]);
  expect(made.exitCode, made.stderr).toBe(0);
  filterPath = join(remote.directory, 'custom-bin', 'snapkeep-target-filter');
  publicKey = `${remote.identityFile}.pub`;
  await mkdir(join(remote.home, '.ssh'), { recursive: true });
  await writeFile(join(remote.home, '.ssh/authorized_keys'), `${otherLines.join('\n')}\n`, { mode: 0o600 });
  await runChecked({ file: 'chmod', args: ['600', remote.identityFile] });
});

afterAll(async () => {
  await remote?.stop();
  if (base) await rm(base, { recursive: true, force: true });
});

const setup = (root: string, extra: readonly string[] = []) =>
  snapkeep([
    'remote',
    'setup',
    '--root',
    root,
    '--user',
    remote.user,
    '--public-key',
    publicKey,
    '--sshd-config',
    remote.sshdConfig,
    '--install',
    '--yes',
    ...extra,
  ]);

/** A request over a real ssh connection, as snapkeep's key (host key known from the helper). */
const request = (command: string) =>
  runCommand({
    file: 'ssh',
    args: [
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${remote.knownHostsFile}`,
      '-o',
      'IdentitiesOnly=yes',
      '-i',
      remote.identityFile,
      '-p',
      String(remote.port),
      `${remote.user}@127.0.0.1`,
      command,
    ],
    timeoutMs: 60_000,
  });

describe('remote setup --install, run again with another root', () => {
  it('replaces its own line: one line for the key, with the new root and the custom filter path', async () => {
    const first = await setup(rootA, ['--filter-path', filterPath]);
    expectExit(first, 0);
    expect((await request(`btrfs subvolume list -r ${rootA}`)).exitCode).toBe(0);

    // The second run gives no --filter-path (doctor's advice cannot know it): the line keeps it.
    const second = await setup(rootB);
    expectExit(second, 0);
    setupOutput = second.stdout;
    expect(second.stdout).toContain("the key's line replaced");

    const keyBlob = (await readFile(publicKey, 'utf8')).trim().split(' ')[1]!;
    const lines = (await readFile(join(remote.home, '.ssh/authorized_keys'), 'utf8')).split('\n');
    const keyLines = lines.filter((line) => line.includes(keyBlob));
    expect(keyLines).toEqual([
      `command="${filterPath} --root ${rootB}",restrict ${(await readFile(publicKey, 'utf8')).trim()}`,
    ]);
    expect(lines.filter((line) => !line.includes(keyBlob))).toEqual([...otherLines, '']);
  });

  it('a real ssh request under the new root is accepted (through the new sudoers rule), one under the old root refused', async () => {
    const accepted = await request(`sudo -n btrfs subvolume list -r ${rootB}`);
    expect(accepted.exitCode, accepted.stderr).toBe(0);
    const usage = await request(`btrfs filesystem usage -b ${rootB}`);
    expect(usage.exitCode, usage.stderr).toBe(0);
    const refused = await request(`btrfs subvolume list -r ${rootA}`);
    expect(refused.exitCode).toBe(126);
    expect(refused.stderr).toContain('path outside the allowed roots');
    // And sudo itself no longer lets the key's user near the old root.
    const sudo = await runCommand({
      file: 'sudo',
      args: ['-n', '-l', '-U', remote.user, '/usr/bin/btrfs', 'subvolume', 'list', '-r', rootA],
    });
    expect(sudo.exitCode).toBe(1);
  });
});

describe('the first remote verify from a client that never saw the host', () => {
  let config: string;
  let knownHosts: string;
  let fingerprint: string;

  beforeAll(async () => {
    knownHosts = join(base, 'fresh_known_hosts');
    config = join(base, 'snapkeep.yaml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}
ssh:
  identity_file: ${remote.identityFile}
  known_hosts: ${knownHosts}
targets:
  offsite:
    path: ssh://${remote.user}@127.0.0.1:${remote.port}${rootB}
subvolumes:
  data:
    path: ${join(base, 'data')}
    snapshot_dir: ${join(base, 'snapshots')}
    targets: [offsite]
`,
    );
    const hostKeyLine = (await readFile(remote.knownHostsFile, 'utf8')).trim().split(' ').slice(1).join(' ');
    const listed = await runCommand({
      file: 'ssh-keygen',
      args: ['-l', '-f', '-'],
      input: `${hostKeyLine}\n`,
    });
    fingerprint = /(SHA256:\S+)/.exec(listed.stdout)![1]!;
  });

  it('setup printed the host key fingerprint and the exact verify command', () => {
    expect(setupOutput).toContain(fingerprint);
    expect(setupOutput).toContain(`snapkeep remote verify <target> --host-key ${fingerprint}`);
  });

  it('without a pin: refused, showing what the host presents and how to pin it; nothing recorded', async () => {
    const result = await snapkeep(['remote', 'verify', 'offsite', '--config', config]);
    expectExit(result, 10);
    expect(result.stdout).toContain(`FAIL host key: no key for [127.0.0.1]:${remote.port}`);
    expect(result.stdout).toContain(fingerprint);
    expect(result.stdout).toContain('snapkeep remote verify offsite --host-key <that fingerprint>');
    expect(await readFile(knownHosts, 'utf8').catch(() => '')).toBe('');
  });

  it('a wrong pin: refused, nothing recorded', async () => {
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const result = await snapkeep(['remote', 'verify', 'offsite', '--config', config, '--host-key', wrong]);
    expectExit(result, 10);
    expect(result.stdout).toContain(`not ${wrong}: nothing recorded`);
    expect(await readFile(knownHosts, 'utf8').catch(() => '')).toBe('');
  });

  it('the fingerprint setup printed: recorded, and every check passes', async () => {
    const result = await snapkeep([
      'remote',
      'verify',
      'offsite',
      '--config',
      config,
      '--host-key',
      fingerprint,
    ]);
    expectExit(result, 0);
    expect(result.stdout).toContain('offsite: ready');
    const recorded = await readFile(knownHosts, 'utf8');
    expect(recorded.trim().split('\n')).toHaveLength(1);
    // A later verify needs no pin: ssh itself now knows the host.
    const again = await snapkeep(['remote', 'verify', 'offsite', '--config', config]);
    expectExit(again, 0);
    expect(await readFile(knownHosts, 'utf8')).toBe(recorded);
  });
});
