// `snapkeep doctor` as a user runs it, against the loopback "remote host" of the SSH work (its own
// sshd in its own mount namespace, a loop-mounted btrfs image, snapkeep's filter as the forced
// command): healthy first, then each way it breaks — sshd stopped, wrong key, unknown host key,
// volume unmounted, non-btrfs volume, volume over 90 % full, filter missing — each a FAIL with the
// right fix. The AWS checks run the real AWS SDK against an EC2 stub on 127.0.0.1
// (test/helpers/ec2-stub.ts; the SDK's endpoint is the only thing replaced), since no AWS is
// reachable here.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { startEc2Stub, type Ec2Stub } from '../helpers/ec2-stub.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { startRemoteHost, type RemoteHost } from '../helpers/remote-host.js';

let remote: RemoteHost;
let source: LoopBtrfs;
let base: string;
let configPath: string;
let targetPath: string;

interface Check {
  group: string;
  subject?: string;
  check: string;
  status: string;
  detail: string;
  cause?: string;
  fix?: string[];
}

function checksOf(stdout: string): Check[] {
  return events(stdout)
    .filter((event) => event.type === 'check')
    .map((event) => event as unknown as Check);
}

function find(checks: readonly Check[], group: string, check: string): Check {
  const found = checks.find((candidate) => candidate.group === group && candidate.check === check);
  if (!found) throw new Error(`no ${group}/${check} check in ${JSON.stringify(checks, null, 1)}`);
  return found;
}

async function writeConfig(path: string, ssh: { identityFile: string; knownHosts: string }): Promise<void> {
  await writeFile(
    path,
    `state_dir: ${join(base, 'state')}
ssh:
  identity_file: ${ssh.identityFile}
  known_hosts: ${ssh.knownHosts}
targets:
  offsite:
    path: ssh://${remote.user}@127.0.0.1:${remote.port}${targetPath}
subvolumes:
  data:
    path: ${join(source.mountPoint, 'data')}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
    targets: [offsite]
`,
  );
}

beforeAll(async () => {
  await requireTools([
    'btrfs',
    'mkfs.btrfs',
    'mkfs.ext4',
    'sshd',
    'ssh',
    'ssh-keygen',
    'unshare',
    'nsenter',
    'sudo',
    'visudo',
    'fallocate',
  ]);
  remote = await startRemoteHost();
  source = await createLoopBtrfs('doctor-src', 512);
  base = await makeTempDir('doctor');
  configPath = join(base, 'snapkeep.yaml');
  targetPath = `${remote.root}/laptop`;
  await createSubvolume(join(source.mountPoint, 'data'));
  await writeRandomData(join(source.mountPoint, 'data'), 2);
  await writeConfig(configPath, { identityFile: remote.identityFile, knownHosts: remote.knownHostsFile });
  await runChecked({ file: 'chmod', args: ['600', remote.identityFile] });
});

afterAll(async () => {
  await source?.cleanup();
  await remote?.stop();
  if (base) await runCommand({ file: 'rm', args: ['-rf', base] });
});

/** The target directory, created on the host (as an admin would) if the volume lacks it. */
async function ensureTargetDirectory(): Promise<void> {
  const made = await remote.run(['mkdir', '-p', targetPath]);
  expect(made.exitCode, made.stderr).toBe(0);
}

describe('snapkeep doctor against an ssh target', () => {
  it('a healthy host: every check OK after a real run (exit 0)', async () => {
    await ensureTargetDirectory();
    expectExit(await snapkeep(['run', '--config', configPath]), 0);

    const text = await snapkeep(['doctor', '--config', configPath]);
    expectExit(text, 0);
    expect(text.stdout).toMatch(/^ssh offsite \(skt[0-9a-f]+@127\.0\.0\.1:\d+\)$/m);
    expect(text.stdout).toMatch(/OK {4}port reachable: 127\.0\.0\.1:\d+ accepts connections/);
    expect(text.stdout).toMatch(/OK {4}target filter answers/);
    expect(text.stdout).toMatch(/OK {4}forbidden requests refused/);
    expect(text.stdout).toMatch(/OK {4}on btrfs/);
    expect(text.stdout).toMatch(
      /OK {4}clock skew: the host's clock is .* measured with date -u \+%s on the host/,
    );
    expect(text.stdout).toMatch(/0 FAIL/);

    const json = await snapkeep(['doctor', '--config', configPath, '--json']);
    expectExit(json, 0);
    const checks = checksOf(json.stdout);
    const notOk = checks
      .filter((check) => ['ssh', 'volume', 'logs'].includes(check.group) && check.status !== 'ok')
      .map((check) => `${check.group}/${check.check}: ${check.status}`);
    // No backup sets in this config: nothing else may be anything but OK.
    expect(notOk).toEqual(['logs/last-backup: skip']);
    // Measured: the host's filter answers `date -u +%s` (one kernel clock here, so within a second).
    const clock = find(checks, 'ssh', 'clock-skew');
    expect(clock.status).toBe('ok');
    expect(clock.detail).toMatch(
      /^the host's clock is [01]\.\d s (ahead of|behind) this machine's \(±\d+\.\d s; measured with date -u \+%s on the host, answered in \d+ ms, in whole seconds\)$/,
    );
    expect(await readFile(remote.filterLog, 'utf8')).toMatch(/ACCEPT: date -u \+%s$/m);
    expect(find(checks, 'volume', 'garbage').detail).toMatch(/none \(1 complete copy\)/);
    expect(find(checks, 'logs', 'stale').status).toBe('ok');
    expect(find(checks, 'prereqs', 'subvolume').status).toBe('ok');
    // The run lock and the children's binding to snapkeep need util-linux's flock and setpriv.
    expect(find(checks, 'prereqs', 'flock').detail).toMatch(/^flock from util-linux/);
    expect(find(checks, 'prereqs', 'setpriv').detail).toMatch(/^setpriv from util-linux/);
    expect(find(checks, 'aws', 'outputs').status).toBe('skip');
    // A target the config does not have is a usage error, not an empty diagnosis.
    const unknown = await snapkeep(['doctor', 'ssh', '--config', configPath, '--target', 'nope']);
    expectExit(unknown, 2);
    expect(unknown.stderr).toMatch(/no subvolume sends to "nope"; targets in the config: offsite/);
    const summary = events(json.stdout).at(-1)!;
    expect(summary).toMatchObject({ type: 'summary', checks: { fail: 0 }, exitCode: 0 });
  });

  it('an older filter that refuses date: the skew estimated from the newest copy, with the upgrade (exit 0)', async () => {
    const filter = join(remote.directory, 'snapkeep-target-filter');
    const current = await readFile(filter, 'utf8');
    // The filter as it was before `date -u +%s`: the shipped script without that one request.
    const older = current.replace(/^if \[ "\$request" = 'date -u \+%s' \]; then\n[^]*?^fi\n/m, '');
    expect(older).not.toBe(current);
    expect(older).not.toContain('exec date');
    await writeFile(filter, older);
    try {
      const result = await snapkeep(['doctor', 'ssh', '--config', configPath, '--json']);
      expectExit(result, 0);
      const clock = find(checksOf(result.stdout), 'ssh', 'clock-skew');
      expect(clock.status).toBe('ok');
      expect(clock.detail).toMatch(
        new RegExp(
          `^the host's clock is \\d+ s (ahead of|behind) this machine's \\(estimated from ${targetPath}/data\\.[0-9T_]+: .*; ±2 s — the host's filter is older and refuses date -u \\+%s; upgrading the host's filter gives a direct measurement: on 127\\.0\\.0\\.1, as root: snapkeep remote setup --root ${targetPath} --user ${remote.user} --public-key ${remote.identityFile}\\.pub --install\\)$`,
        ),
      );
    } finally {
      await writeFile(filter, current);
    }
  });

  it('sshd stopped: connection refused, with the start command (exit 3)', async () => {
    await remote.stopSshd();
    try {
      const result = await snapkeep(['doctor', 'ssh', '--config', configPath]);
      expectExit(result, 3);
      expect(result.stdout).toMatch(/FAIL {2}port reachable: 127\.0\.0\.1:\d+: connection refused/);
      expect(result.stdout).toMatch(
        /cause: 127\.0\.0\.1 answered but nothing accepts connections on port \d+: sshd is not running/,
      );
      expect(result.stdout).toMatch(/fix: {3}on 127\.0\.0\.1: systemctl start ssh && systemctl enable ssh/);
      expect(result.stdout).toMatch(/SKIP {2}authentication: not tried: the port is not reachable/);
      // Alone, `doctor volume` fails too, carrying the same fix.
      const volume = await snapkeep(['doctor', 'volume', '--config', configPath, '--json']);
      expectExit(volume, 3);
      const connection = find(checksOf(volume.stdout), 'volume', 'connection');
      expect(connection.status).toBe('fail');
      expect(connection.fix?.[0]).toMatch(/systemctl start ssh/);
    } finally {
      await remote.startSshd();
    }
  });

  it('wrong key: Permission denied (publickey), with how to install the right one (exit 3)', async () => {
    const otherKey = join(base, 'other_key');
    await runChecked({ file: 'ssh-keygen', args: ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey] });
    const wrongKey = join(base, 'wrong-key.yaml');
    await writeConfig(wrongKey, { identityFile: otherKey, knownHosts: remote.knownHostsFile });
    const result = await snapkeep(['doctor', 'ssh', '--config', wrongKey, '--json']);
    expectExit(result, 3);
    const checks = checksOf(result.stdout);
    expect(find(checks, 'ssh', 'tcp').status).toBe('ok');
    expect(find(checks, 'ssh', 'host-key').status).toBe('ok');
    const authentication = find(checks, 'ssh', 'authentication');
    expect(authentication.status).toBe('fail');
    expect(authentication.detail).toMatch(/refused .*other_key \(SHA256:.*Permission denied \(publickey\)/);
    expect(authentication.fix).toEqual([
      `ssh-keygen -y -f ${otherKey}  (prints this key's public half, to compare with the host's authorized_keys)`,
      `on 127.0.0.1, as root: snapkeep remote setup --root ${targetPath} --user ${remote.user} --public-key ${otherKey}.pub --install  (or append the line \`snapkeep remote setup\` prints to ~${remote.user}/.ssh/authorized_keys)`,
      'or point ssh.identity_file at the key that is installed there',
    ]);
    expect(find(checks, 'ssh', 'filter').status).toBe('skip');
  });

  it('unknown host key: refused, with ssh-keyscan to add it (exit 3)', async () => {
    const emptyKnownHosts = join(base, 'empty_known_hosts');
    await writeFile(emptyKnownHosts, '');
    const unknown = join(base, 'unknown-host.yaml');
    await writeConfig(unknown, { identityFile: remote.identityFile, knownHosts: emptyKnownHosts });
    const result = await snapkeep(['doctor', 'ssh', '--config', unknown]);
    expectExit(result, 3);
    expect(result.stdout).toMatch(/FAIL {2}host key: no key for \[127\.0\.0\.1\]:\d+ in .*empty_known_hosts/);
    expect(result.stdout).toContain(
      `ssh-keyscan -p ${remote.port} -t ed25519 127.0.0.1 >> ${emptyKnownHosts}`,
    );
  });

  it('volume unmounted: the filter root is gone; mount it by UUID with nofail (exit 3)', async () => {
    const unmounted = await remote.run(['umount', remote.mountPoint]);
    expect(unmounted.exitCode, unmounted.stderr).toBe(0);
    try {
      const result = await snapkeep(['doctor', '--config', configPath, '--mount-point', remote.mountPoint]);
      expectExit(result, 3);
      expect(result.stdout).toMatch(
        new RegExp(
          `FAIL {2}volume mounted: ${remote.root} does not exist on 127\\.0\\.0\\.1, so the target filter refuses every request`,
        ),
      );
      expect(result.stdout).toContain(
        `fix:   on 127.0.0.1: mount the backup volume: mount /dev/disk/by-uuid/<UUID> ${remote.mountPoint}`,
      );
      expect(result.stdout).toContain(`UUID=<UUID> ${remote.mountPoint} btrfs defaults,nofail 0 0`);
      // `doctor volume` alone: one FAIL for one cause.
      const alone = await snapkeep(['doctor', 'volume', '--config', configPath, '--json']);
      expectExit(alone, 3);
      expect(
        checksOf(alone.stdout)
          .filter((check) => check.status === 'fail')
          .map((check) => check.check),
      ).toEqual(['mounted']);
      // The ssh side fails too (the filter refuses everything), pointing at the volume.
      expect(result.stdout).toMatch(
        /FAIL {2}target filter answers: the filter runs, but its root .* does not exist/,
      );
    } finally {
      // A new namespace mounts the image again.
      await remote.stopSshd();
      await remote.startSshd();
    }
  });

  it('non-btrfs volume: ext4 at the mount point; re-format as btrfs (exit 3)', async () => {
    const image = join(base, 'ext4.img');
    await runChecked({ file: 'truncate', args: ['-s', '64M', image] });
    await runChecked({ file: 'mkfs.ext4', args: ['-q', '-F', image] });
    const mounted = await remote.run(['mount', '-o', 'loop', image, remote.mountPoint]);
    expect(mounted.exitCode, mounted.stderr).toBe(0);
    try {
      await ensureTargetDirectory();
      const result = await snapkeep(['doctor', 'volume', '--config', configPath, '--json']);
      expectExit(result, 3);
      const btrfs = find(checksOf(result.stdout), 'volume', 'btrfs');
      expect(btrfs.status).toBe('fail');
      expect(btrfs.detail).toMatch(
        new RegExp(`is on ext4 /dev/loop\\d+ mounted at ${remote.mountPoint}, not btrfs`),
      );
      expect(btrfs.cause).toMatch(/btrfs receive needs a btrfs filesystem/);
      expect(btrfs.fix?.[0]).toMatch(
        new RegExp(`umount ${remote.mountPoint} && mkfs\\.btrfs -f -L snapkeep /dev/loop\\d+`),
      );
      expect(find(checksOf(result.stdout), 'volume', 'mounted').status).toBe('ok');
    } finally {
      await remote.run(['umount', remote.mountPoint]);
    }
  });

  it('volume over 90 % full: prune, or grow and resize (exit 3)', async () => {
    const usage = await remote.run(['btrfs', 'filesystem', 'usage', '-b', remote.mountPoint]);
    const free = Number(/Free \(estimated\):\s+(\d+)/.exec(usage.stdout)?.[1]);
    const used = Number(/^\s*Used:\s+(\d+)/m.exec(usage.stdout)?.[1]);
    // Leave about 5 % of the filesystem free.
    const fill = Math.floor(free - (used + free) * 0.05);
    const filled = await remote.run(['fallocate', '-l', String(fill), `${remote.root}/fill`]);
    expect(filled.exitCode, filled.stderr).toBe(0);
    try {
      const result = await snapkeep(['doctor', 'volume', '--config', configPath]);
      expectExit(result, 3);
      expect(result.stdout).toMatch(/FAIL {2}space: 9\d % used, 0\.\d\d GiB free of 0\.\d\d GiB/);
      expect(result.stdout).toContain('fix:   snapkeep prune --dry-run, then snapkeep prune');
      expect(result.stdout).toContain(`btrfs filesystem resize max ${remote.mountPoint}`);
    } finally {
      await remote.run(['rm', '-f', `${remote.root}/fill`]);
    }
  });

  it('filter missing: the forced command is not there; install it with remote setup (exit 3)', async () => {
    const filter = join(remote.directory, 'snapkeep-target-filter');
    await rename(filter, `${filter}.moved`);
    try {
      const result = await snapkeep(['doctor', 'ssh', '--config', configPath, '--json']);
      expectExit(result, 3);
      const checks = checksOf(result.stdout);
      expect(find(checks, 'ssh', 'authentication').status).toBe('ok');
      const missing = find(checks, 'ssh', 'filter');
      expect(missing.status).toBe('fail');
      expect(missing.detail).toBe(`the forced command ${filter} does not exist on 127.0.0.1 (exit 127)`);
      expect(missing.fix?.[0]).toBe(
        `on 127.0.0.1, as root: snapkeep remote setup --root ${targetPath} --user ${remote.user} --public-key ${remote.identityFile}.pub --filter-path ${filter} --install  (installs the filter at ${filter})`,
      );
      expect(missing.fix?.[1]).toContain(`install -m 755 snapkeep-target-filter ${filter}`);
    } finally {
      await rename(`${filter}.moved`, filter);
    }
    // And healthy again.
    expectExit(await snapkeep(['doctor', 'ssh', '--config', configPath]), 0);
  });
});

describe('snapkeep doctor aws (real AWS SDK, EC2 stub on 127.0.0.1)', () => {
  let stub: Ec2Stub;
  let outputsPath: string;
  let awsConfig: string;
  const credentials = {
    AWS_ACCESS_KEY_ID: 'AKIDSTUBEXAMPLE1234',
    AWS_SECRET_ACCESS_KEY: 'stub-secret-never-printed',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const doctorAws = (env: Record<string, string>) =>
    snapkeep(['doctor', 'aws', '--config', awsConfig, '--outputs', outputsPath], {
      env: { SNAPKEEP_AWS_ENDPOINT: stub.url, ...env },
    });

  beforeAll(async () => {
    stub = await startEc2Stub();
    const directory = join(base, 'aws');
    await mkdir(directory, { recursive: true });
    outputsPath = join(directory, 'outputs.json');
    awsConfig = join(directory, 'snapkeep.yaml');
    await writeFile(awsConfig, `state_dir: ${join(directory, 'state')}\n`);
    await writeFile(
      outputsPath,
      JSON.stringify({
        host: '203.0.113.7',
        user: 'snapkeep',
        target_url: 'ssh://snapkeep@203.0.113.7/mnt/backup/snapkeep',
        region: 'eu-central-1',
        instance_id: 'i-0123456789abcdef0',
        volume_id: 'vol-0123456789abcdef0',
        volume_name: 'snapkeep-backup',
        bucket: 'snapkeep-offsite',
        mount_point: '/mnt/backup',
      }),
    );
  });

  afterAll(async () => {
    await stub?.stop();
  });

  it('running instance, attached volume: OK, and says the answers come from the stub (exit 0)', async () => {
    stub.instances.set('i-0123456789abcdef0', { state: 'running', publicIp: '203.0.113.7' });
    stub.volumes.set('vol-0123456789abcdef0', {
      state: 'in-use',
      sizeGiB: 100,
      attachments: [{ instanceId: 'i-0123456789abcdef0', state: 'attached', device: '/dev/sdf' }],
    });
    const result = await doctorAws(credentials);
    expectExit(result, 0);
    expect(result.stdout).toContain(
      `WARN  EC2 endpoint: requests go to ${stub.url} (SNAPKEEP_AWS_ENDPOINT), not to AWS`,
    );
    expect(result.stdout).toContain(
      'OK    EC2 instance: i-0123456789abcdef0 is running (public IP 203.0.113.7)',
    );
    expect(result.stdout).toContain('OK    EBS volume: vol-0123456789abcdef0 is in-use, 100 GiB, encrypted');
    expect(result.stdout).toContain('OK    volume attachment: attached to i-0123456789abcdef0 as /dev/sdf');
    expect(result.stdout + result.stderr).not.toContain(credentials.AWS_SECRET_ACCESS_KEY);
    expect(result.stderr).not.toMatch(/NodeVersionSupportWarning/);
    // The real SDK signed the requests with the default chain's key, for the outputs' region.
    const actions = stub.requests.map((request) => request.action).sort();
    expect(actions).toEqual(['DescribeInstances', 'DescribeVolumes']);
    for (const request of stub.requests)
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDSTUBEXAMPLE1234\/\d{8}\/eu-central-1\/ec2\/aws4_request/,
      );
  });

  it('stopped instance: FAIL with the start command (exit 3)', async () => {
    stub.instances.set('i-0123456789abcdef0', { state: 'stopped' });
    const result = await doctorAws(credentials);
    expectExit(result, 3);
    expect(result.stdout).toContain('FAIL  EC2 instance: i-0123456789abcdef0 is stopped');
    expect(result.stdout).toContain(
      'fix:   aws ec2 start-instances --region eu-central-1 --instance-ids i-0123456789abcdef0',
    );
    expect(result.stdout).toContain('OK    volume attachment: attached to i-0123456789abcdef0 as /dev/sdf');
  });

  it('detached volume: FAIL with the attach command (exit 3)', async () => {
    stub.instances.set('i-0123456789abcdef0', { state: 'running' });
    stub.volumes.set('vol-0123456789abcdef0', { state: 'available', sizeGiB: 100, attachments: [] });
    const result = await doctorAws(credentials);
    expectExit(result, 3);
    const checks = checksOf(
      (
        await snapkeep(['doctor', 'aws', '--config', awsConfig, '--outputs', outputsPath, '--json'], {
          env: { SNAPKEEP_AWS_ENDPOINT: stub.url, ...credentials },
        })
      ).stdout,
    );
    expect(find(checks, 'aws', 'instance').status).toBe('ok');
    const attachment = find(checks, 'aws', 'attachment');
    expect(attachment.status).toBe('fail');
    expect(attachment.detail).toBe('vol-0123456789abcdef0 is not attached to i-0123456789abcdef0');
    expect(attachment.fix?.[0]).toBe(
      'aws ec2 attach-volume --region eu-central-1 --volume-id vol-0123456789abcdef0 --instance-id i-0123456789abcdef0 --device /dev/sdf',
    );
    expect(result.stdout).toContain(
      'FAIL  EBS volume: vol-0123456789abcdef0 is available, 100 GiB, encrypted (attached to nothing)',
    );
  });

  it('unknown instance id: FAIL, the outputs are stale (exit 3)', async () => {
    stub.instances.clear();
    const result = await doctorAws(credentials);
    expectExit(result, 3);
    expect(result.stdout).toContain(
      'FAIL  EC2 instance: i-0123456789abcdef0 does not exist in eu-central-1 (InvalidInstanceID.NotFound)',
    );
  });

  it('no credentials: FAIL with aws configure, nothing asked (exit 3)', async () => {
    const before = stub.requests.length;
    const result = await doctorAws({
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SHARED_CREDENTIALS_FILE: join(base, 'no-credentials'),
      AWS_CONFIG_FILE: join(base, 'no-config'),
    });
    expectExit(result, 3);
    expect(result.stdout).toMatch(/FAIL {2}AWS credentials: Could not load credentials from any providers/);
    expect(result.stdout).toContain(
      'fix:   aws configure  (writes ~/.aws/credentials for the default profile)',
    );
    expect(stub.requests.length).toBe(before);
  });
});
