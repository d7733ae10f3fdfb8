// The AWS target's boot script (infra/aws/modules/user-data), rendered by `terraform console` from
// the real template, then run as root against loop devices standing in for the EBS volume.
//
// It runs in a private mount namespace (unshare -m --propagation private) where /etc, /home,
// /usr/local/bin, /srv, /var/log and /var/mail are bind mounts of this test's throwaway
// directories, so useradd, fstab, sudoers and the filter land there and never on this machine
// (the wrapper refuses to start unless the sandbox /etc is in place). The /etc copy holds only
// what the tools need, with system accounts only and blank shadow entries.
//
// Stubbed, by name:
//   - apt-get: a recorder first on PATH (packages are not installed; their names are checked);
//   - the volume's discovery: SNAPKEEP_DEV_BY_ID is a directory holding the
//     nvme-Amazon_Elastic_Block_Store_<serial> link to the loop device (first run); `lsblk` is a
//     wrapper that answers only the `-d -n -o NAME,SERIAL` query with the loop device and the
//     volume's serial and runs the real lsblk for everything else (second run);
//     SNAPKEEP_FALLBACK_DEVICES names a /dev/sdh stand-in linked to the loop device (third run);
//     SNAPKEEP_DEVICE_WAIT_SECONDS=0 where the volume never appears;
//   - BLKID_FILE points libblkid's cache into the sandbox.
// Everything else is real: blkid, wipefs, mkfs.btrfs, mount through the fstab line, useradd,
// visudo, and, at the end, snapkeep's forced command run as the new user through sudo.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand, type CommandResult } from '../../src/exec/command.js';
import {
  authorizedKeysLine,
  filterScript,
  sudoersFileName,
  sudoersRule,
} from '../../src/remote/remote-setup.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import {
  createTerraformSandbox,
  evaluateInModule,
  requireTerraform,
  userDataDirectory,
  type TerraformSandbox,
} from '../helpers/terraform.js';

const sshKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr test';
const volumeId = 'vol-0123456789abcdef0';
const serial = 'vol0123456789abcdef0';

interface Rendered {
  readonly content: string;
  readonly sudoers: string;
  readonly sudoers_file: string;
  readonly authorized_keys: string;
}

interface RenderOptions {
  readonly user: string;
  readonly mountPoint: string;
  readonly appendOnly: boolean;
}

let terraform: TerraformSandbox | undefined;

function sandboxTerraform(): TerraformSandbox {
  if (!terraform) throw new Error('terraform sandbox not created (see beforeAll)');
  return terraform;
}

async function render(options: RenderOptions): Promise<Rendered> {
  return (await evaluateInModule(
    sandboxTerraform(),
    userDataDirectory,
    '{ content = local.content, sudoers = local.sudoers, sudoers_file = local.sudoers_file, authorized_keys = local.authorized_keys }',
    {
      volume_id: volumeId,
      backup_user: options.user,
      mount_point: options.mountPoint,
      backup_root: `${options.mountPoint}/backups`,
      fs_label: 'snapkeep-backups',
      ssh_public_key: sshKey,
      append_only: options.appendOnly,
      filter_script: filterScript(),
    },
  )) as Rendered;
}

beforeAll(async () => {
  await requireTerraform();
  terraform = await createTerraformSandbox();
});

afterAll(async () => {
  await terraform?.cleanup();
});

describe('rendered user data', () => {
  it('carries the sudoers rule and authorized_keys line that remote setup generates, byte for byte', async () => {
    await requireTools(['visudo']);
    const cases: RenderOptions[] = [
      { user: 'snapkeep', mountPoint: '/srv/snapkeep', appendOnly: false },
      { user: 'backup_2', mountPoint: '/mnt/backup-1', appendOnly: true },
      // `.` and `+` are regular-expression operators in the sudoers patterns: escaped alike.
      { user: 'backup_3', mountPoint: '/srv/snap.keep+1', appendOnly: false },
    ];
    for (const options of cases) {
      const rendered = await render(options);
      const root = `${options.mountPoint}/backups`;
      const filter = { roots: [root], noDelete: options.appendOnly, noSnapshot: true };
      expect(rendered.sudoers).toBe(sudoersRule({ user: options.user, ...filter }));
      expect(rendered.authorized_keys).toBe(authorizedKeysLine(filter, sshKey));
      expect(rendered.sudoers_file).toBe(sudoersFileName(options.user));
      expect(rendered.content).toContain(`\n${rendered.sudoers}SNAPKEEP_END_OF_SUDOERS\n`);
      expect(rendered.content).toContain(`\n${rendered.authorized_keys}\nSNAPKEEP_END_OF_KEY\n`);
      expect(rendered.content).toContain(`\n${filterScript()}SNAPKEEP_END_OF_FILTER\n`);
      // EC2 takes at most 16 KiB of user data: the plain script is larger, gzip (what the
      // instance gets, base64gzip) is well below.
      expect(gzipSync(rendered.content).length).toBeLessThan(16384);
      const directory = await mkdtemp(join(tmpdir(), 'snapkeep-user-data-sudoers-'));
      try {
        await writeFile(join(directory, 'rule'), rendered.sudoers);
        const checked = await runCommand({
          file: 'visudo',
          args: ['-c', '-q', '-f', join(directory, 'rule')],
        });
        expect(checked.exitCode, checked.stderr).toBe(0);
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    }
  });
});

describe('the boot script on a loop device', () => {
  let sandbox = '';
  let script = '';
  let rendered: Rendered;
  const loopDevices: string[] = [];
  let volume = '';
  let stubs = '';
  let byId = '';
  const mounted: string[] = [];

  // The system files the tools in the script read (useradd, visudo, sudo, setpriv, dynamic
  // linking, awk through alternatives). Nothing with secrets: shadow files are made up below.
  const etcEntries = [
    'passwd',
    'group',
    'login.defs',
    'default',
    'skel',
    'nsswitch.conf',
    'ld.so.cache',
    'ld.so.conf',
    'ld.so.conf.d',
    'alternatives',
    'localtime',
    'sudoers',
    'sudo.conf',
    'pam.conf',
    'pam.d',
    'security',
    'hostname',
    'hosts',
  ];
  const boundDirectories = ['etc', 'home', 'usr/local/bin', 'srv', 'var/log', 'var/mail'];

  const inSandbox = (...parts: string[]): string => join(sandbox, 'root', ...parts);

  async function newLoopDevice(name: string): Promise<string> {
    const image = join(sandbox, `${name}.img`);
    await runChecked({ file: 'truncate', args: ['-s', '300M', image] });
    const device = (await runChecked({ file: 'losetup', args: ['--find', '--show', image] })).stdout.trim();
    loopDevices.push(device);
    return device;
  }

  async function hostKeys(): Promise<void> {
    await rm(inSandbox('etc/ssh'), { recursive: true, force: true });
    await mkdir(inSandbox('etc/ssh'));
    await runChecked({
      file: 'ssh-keygen',
      args: ['-q', '-t', 'ed25519', '-N', '', '-C', 'host', '-f', inSandbox('etc/ssh/ssh_host_ed25519_key')],
    });
  }

  async function runUserData(env: Record<string, string>, ...after: string[]): Promise<CommandResult> {
    return runCommand({
      file: 'unshare',
      args: [
        '-m',
        '--propagation',
        'private',
        'sh',
        join(sandbox, 'in-namespace.sh'),
        sandbox,
        script,
        ...after,
      ],
      env: {
        PATH: `${stubs}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        SNAPKEEP_DEV_BY_ID: byId,
        SNAPKEEP_FALLBACK_DEVICES: join(sandbox, 'no-such-device'),
        BLKID_FILE: join(sandbox, 'blkid.tab'),
        ...env,
      },
      timeoutMs: 180_000,
    });
  }

  /** Mounts the volume outside the namespace for a look (and unmounts it again). */
  async function onVolume<T>(action: (mountPoint: string) => Promise<T>): Promise<T> {
    const mountPoint = join(sandbox, 'look');
    await mkdir(mountPoint, { recursive: true });
    await runChecked({ file: 'mount', args: [volume, mountPoint] });
    mounted.push(mountPoint);
    try {
      return await action(mountPoint);
    } finally {
      await runChecked({ file: 'umount', args: [mountPoint] });
      mounted.pop();
    }
  }

  const uuidOf = async (device: string): Promise<string> =>
    (await runChecked({ file: 'blkid', args: ['-p', '-o', 'value', '-s', 'UUID', device] })).stdout.trim();
  const sha256 = async (path: string): Promise<string> =>
    createHash('sha256')
      .update(await readFile(path))
      .digest('hex');

  beforeAll(async () => {
    await requireTools([
      'unshare',
      'losetup',
      'mkfs.btrfs',
      'mkfs.ext4',
      'blkid',
      'wipefs',
      'lsblk',
      'findmnt',
      'visudo',
      'useradd',
      'setpriv',
      'sudo',
      'ssh-keygen',
    ]);
    sandbox = await mkdtemp(join(tmpdir(), 'snapkeep-user-data-'));
    for (const directory of boundDirectories) await mkdir(inSandbox(directory), { recursive: true });
    for (const entry of etcEntries.filter((name) => existsSync(join('/etc', name))))
      await cp(join('/etc', entry), inSandbox('etc', entry), { recursive: true, verbatimSymlinks: true });
    // System accounts only (a snapkeep user other tests made on this machine must not leak in).
    const system = (line: string): boolean => {
      const id = Number(line.split(':')[2]);
      return line !== '' && (id < 1000 || id === 65534);
    };
    const passwd = (await readFile('/etc/passwd', 'utf8')).split('\n').filter(system);
    const group = (await readFile('/etc/group', 'utf8')).split('\n').filter(system);
    await writeFile(inSandbox('etc/passwd'), `${passwd.join('\n')}\n`);
    await writeFile(inSandbox('etc/group'), `${group.join('\n')}\n`);
    const names = (lines: string[]): string[] => lines.map((line) => line.split(':')[0]!);
    await writeFile(
      inSandbox('etc/shadow'),
      names(passwd)
        .map((name) => `${name}:*:19000:0:99999:7:::\n`)
        .join(''),
      {
        mode: 0o640,
      },
    );
    await writeFile(
      inSandbox('etc/gshadow'),
      names(group)
        .map((name) => `${name}:*::\n`)
        .join(''),
      {
        mode: 0o640,
      },
    );
    await writeFile(inSandbox('etc/fstab'), '# sandbox fstab\n');
    await mkdir(inSandbox('etc/sudoers.d'));
    await symlink('../proc/self/mounts', inSandbox('etc/mtab'));
    await writeFile(inSandbox('etc/.snapkeep-test-sandbox'), '');
    await hostKeys();

    await writeFile(
      join(sandbox, 'in-namespace.sh'),
      [
        '#!/bin/sh',
        '# In a private mount namespace: the sandbox directories over the real ones, then the scripts.',
        'set -eu',
        'sandbox=$1',
        'shift',
        ...boundDirectories.map((directory) => `mount --bind "$sandbox/root/${directory}" "/${directory}"`),
        "[ -e /etc/.snapkeep-test-sandbox ] || { echo 'the sandbox /etc is not in place: refusing to run' >&2; exit 99; }",
        'for script in "$@"; do sh "$script"; done',
        '',
      ].join('\n'),
    );

    stubs = join(sandbox, 'stubs');
    byId = join(sandbox, 'by-id');
    await mkdir(stubs);
    await mkdir(byId);
    await writeFile(
      join(stubs, 'apt-get'),
      `#!/bin/sh\nprintf '%s\\n' "$*" >>'${join(sandbox, 'apt-get.log')}'\n`,
      { mode: 0o755 },
    );

    rendered = await render({ user: 'snapkeep', mountPoint: '/srv/snapkeep', appendOnly: false });
    script = join(sandbox, 'user-data.sh');
    await writeFile(script, rendered.content);
    volume = await newLoopDevice('volume');
  });

  afterAll(async () => {
    for (const mountPoint of mounted.reverse())
      await runCommand({ file: 'umount', args: ['-l', mountPoint] });
    for (const device of loopDevices) await runCommand({ file: 'losetup', args: ['-d', device] });
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  });

  it('fails naming the volume when it never appears, with nothing installed', async () => {
    const result = await runUserData({ SNAPKEEP_DEVICE_WAIT_SECONDS: '0' });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`volume ${volumeId} did not appear`);
    await expect(stat(inSandbox('home/snapkeep'))).rejects.toThrow();
    await expect(stat(inSandbox('usr/local/bin/snapkeep-target-filter'))).rejects.toThrow();
  });

  it('refuses to format a volume that holds another filesystem, and leaves it as it was', async () => {
    const other = await newLoopDevice('ext4');
    await runChecked({ file: 'mkfs.ext4', args: ['-q', '-F', other] });
    const link = join(byId, `nvme-Amazon_Elastic_Block_Store_${serial}`);
    await symlink(other, link);
    try {
      const result = await runUserData({});
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('not btrfs: not formatting it');
      const type = await runChecked({ file: 'blkid', args: ['-p', '-o', 'value', '-s', 'TYPE', other] });
      expect(type.stdout.trim()).toBe('ext4');
      expect(await readFile(inSandbox('etc/fstab'), 'utf8')).toBe('# sandbox fstab\n');
      await expect(stat(inSandbox('home/snapkeep'))).rejects.toThrow();
    } finally {
      await unlink(link);
    }
  });

  it('first boot (NVMe by-id link): formats the empty volume, mounts it by UUID, installs user, filter, sudoers and key', async () => {
    await symlink(volume, join(byId, `nvme-Amazon_Elastic_Block_Store_${serial}`));
    // After the script, in the same namespace: snapkeep's forced command, run as the new user
    // the way sshd runs it (through the login shell), reaches btrfs through sudo.
    const asUser = join(sandbox, 'as-user.sh');
    await writeFile(
      asUser,
      [
        'command=$(sed -n \'s/^command="\\([^"]*\\)".*/\\1/p\' /home/snapkeep/.ssh/authorized_keys)',
        'request() {',
        '  SSH_ORIGINAL_COMMAND=$2 setpriv --reuid=snapkeep --regid=snapkeep --init-groups sh -c "$command" >/dev/null',
        '  echo "$1 exit=$?"',
        '}',
        "request mkdir 'mkdir -p /srv/snapkeep/backups/laptop'",
        "request list 'btrfs subvolume list -r /srv/snapkeep/backups'",
        "request usage 'btrfs filesystem usage -b /srv/snapkeep/backups'",
        "request snapshot 'btrfs subvolume snapshot -r /srv/snapkeep/backups/laptop /srv/snapkeep/backups/copy'",
        "request outside 'btrfs subvolume list -r /srv/snapkeep'",
        '',
      ].join('\n'),
    );
    const result = await runUserData({}, asUser);
    expect(result.exitCode, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toContain(`volume ${volumeId} is ${volume}`);
    expect(result.stdout).toContain('is empty: creating a btrfs filesystem');
    expect(result.stdout).toContain(
      'mkdir exit=0\nlist exit=0\nusage exit=0\nsnapshot exit=126\noutside exit=126\n',
    );

    const apt = await readFile(join(sandbox, 'apt-get.log'), 'utf8');
    expect(apt).toContain('install -y --no-install-recommends btrfs-progs sudo zstd unattended-upgrades\n');

    const uuid = await uuidOf(volume);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await readFile(inSandbox('etc/fstab'), 'utf8')).toBe(
      `# sandbox fstab\nUUID=${uuid} /srv/snapkeep btrfs defaults,noatime,compress=zstd:1,nofail 0 0\n`,
    );

    const passwd = (await readFile(inSandbox('etc/passwd'), 'utf8')).split('\n');
    const account = passwd.find((line) => line.startsWith('snapkeep:'))?.split(':');
    expect(account?.[5]).toBe('/home/snapkeep');
    expect(account?.[6]).toBe('/bin/sh');
    const shadow = await readFile(inSandbox('etc/shadow'), 'utf8');
    expect(shadow).toMatch(/^snapkeep:\*:/m);

    const filter = inSandbox('usr/local/bin/snapkeep-target-filter');
    expect(await readFile(filter, 'utf8')).toBe(filterScript());
    expect((await stat(filter)).mode & 0o777).toBe(0o755);

    const sudoers = inSandbox('etc/sudoers.d', sudoersFileName('snapkeep'));
    expect(await readFile(sudoers, 'utf8')).toBe(
      sudoersRule({ user: 'snapkeep', roots: ['/srv/snapkeep/backups'], noSnapshot: true }),
    );
    expect((await stat(sudoers)).mode & 0o777).toBe(0o440);

    const keys = inSandbox('home/snapkeep/.ssh/authorized_keys');
    expect(await readFile(keys, 'utf8')).toBe(
      `${authorizedKeysLine({ roots: ['/srv/snapkeep/backups'], noSnapshot: true }, sshKey)}\n`,
    );
    const uid = Number(account?.[2]);
    expect(await stat(keys)).toMatchObject({ uid, mode: 0o100600 });
    expect(await stat(inSandbox('home/snapkeep/.ssh'))).toMatchObject({ uid, mode: 0o40700 });

    // The host keys went onto the volume; the directory the filter created is there too.
    const hostKey = await sha256(inSandbox('etc/ssh/ssh_host_ed25519_key'));
    await onVolume(async (mountPoint) => {
      expect(await sha256(join(mountPoint, '.snapkeep-host/ssh/ssh_host_ed25519_key'))).toBe(hostKey);
      expect((await stat(join(mountPoint, 'backups/laptop'))).isDirectory()).toBe(true);
    });
  });

  it('a second run (lsblk serial, a new instance) keeps the filesystem and the data, restores the host keys', async () => {
    const uuid = await uuidOf(volume);
    const firstHostKey = await onVolume(async (mountPoint) => {
      await writeFile(join(mountPoint, 'backups/laptop/precious'), 'backup data\n');
      return sha256(join(mountPoint, '.snapkeep-host/ssh/ssh_host_ed25519_key'));
    });
    await unlink(join(byId, `nvme-Amazon_Elastic_Block_Store_${serial}`));
    const loopName = volume.replace('/dev/', '');
    await writeFile(
      join(stubs, 'lsblk'),
      [
        '#!/bin/sh',
        '# Loop devices have no serial: answer the serial query as a Nitro instance would.',
        `if [ "$*" = '-d -n -o NAME,SERIAL' ]; then printf 'nvme0n1 vol00000000000000000\\n${loopName} ${serial}\\n'; exit 0; fi`,
        'exec /usr/bin/lsblk "$@"',
        '',
      ].join('\n'),
    );
    await chmod(join(stubs, 'lsblk'), 0o755);
    await hostKeys(); // the new instance generated its own
    try {
      const result = await runUserData({});
      expect(result.exitCode, result.stderr + result.stdout).toBe(0);
      expect(result.stdout).toContain(`volume ${volumeId} is ${volume}`);
      expect(result.stdout).toContain('already holds a btrfs filesystem: keeping it');
      expect(result.stdout).toContain('restoring the SSH host keys kept on the volume');
    } finally {
      await unlink(join(stubs, 'lsblk'));
    }
    expect(await uuidOf(volume)).toBe(uuid);
    expect(await sha256(inSandbox('etc/ssh/ssh_host_ed25519_key'))).toBe(firstHostKey);
    const fstab = (await readFile(inSandbox('etc/fstab'), 'utf8'))
      .split('\n')
      .filter((line) => line.includes('UUID='));
    expect(fstab).toEqual([`UUID=${uuid} /srv/snapkeep btrfs defaults,noatime,compress=zstd:1,nofail 0 0`]);
    await onVolume(async (mountPoint) => {
      expect(await readFile(join(mountPoint, 'backups/laptop/precious'), 'utf8')).toBe('backup data\n');
    });
  });

  it('a third run through the Xen-style device name keeps the data too', async () => {
    const uuid = await uuidOf(volume);
    const standIn = join(sandbox, 'sdh');
    await symlink(volume, standIn);
    const result = await runUserData({ SNAPKEEP_FALLBACK_DEVICES: `${join(sandbox, 'xvdh')} ${standIn}` });
    expect(result.exitCode, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toContain(`volume ${volumeId} is ${volume}`);
    expect(result.stdout).toContain('keeping it and its backups');
    expect(await uuidOf(volume)).toBe(uuid);
    await onVolume(async (mountPoint) => {
      expect(await readFile(join(mountPoint, 'backups/laptop/precious'), 'utf8')).toBe('backup data\n');
    });
  });
});
