// The pure parts of `snapkeep infra`: placeholder keys refused, the module's variables, the cost,
// the target written into a config with its comments kept, and the config's defaults equal to
// the module's (parsed from infra/aws/variables.tf, so the two cannot drift apart).
import { readFile } from 'node:fs/promises';
import { parse as parseHcl } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { awsInfraSchema } from '../../../src/config/infra-schema.js';
import {
  connectionEnv,
  moduleVariables,
  monthlyCost,
  parseModuleOutputs,
  publicKeyProblem,
  withTarget,
} from '../../../src/infra/aws-target.js';

const realKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop';

describe('public keys', () => {
  it.each([
    ['', /is empty/],
    ['ssh-rsa AAAA... user@host', /placeholder/],
    ['REPLACE_ME', /placeholder/],
    ['<your public key>', /placeholder/],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', /PRIVATE key/],
    ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyDataHere me', /too short/],
    ['ecdsa nonsense', /not an OpenSSH public key line/],
  ])('refuses %j', (line, problem) => {
    expect(publicKeyProblem(line)).toMatch(problem);
  });
  it('accepts a real key line', () => {
    expect(publicKeyProblem(`${realKey}\n`)).toBeUndefined();
  });
});

const aws = awsInfraSchema.parse({
  region: 'eu-central-1',
  ssh_public_key_file: '/root/.ssh/snapkeep.pub',
  allowed_ssh_cidrs: ['203.0.113.7/32'],
});

describe('module variables and cost', () => {
  it('passes every setting, the bucket only when configured', () => {
    expect(moduleVariables(aws, `${realKey}\n`, '/opt/share/filter.sh')).toEqual({
      region: 'eu-central-1',
      name: 'snapkeep',
      instance_type: 't4g.nano',
      volume_size_gb: 100,
      ssh_public_key: realKey,
      allowed_ssh_cidrs: ['203.0.113.7/32'],
      allow_ssh_from_anywhere: false,
      backup_user: 'snapkeep',
      mount_point: '/srv/snapkeep',
      append_only: false,
      create_offsite_bucket: false,
      target_filter_path: '/opt/share/filter.sh',
    });
    const withBucket = awsInfraSchema.parse({ ...aws, offsite_bucket: { name: 'my-restic-offsite' } });
    expect(moduleVariables(withBucket, realKey, '/f')).toMatchObject({
      create_offsite_bucket: true,
      bucket_name: 'my-restic-offsite',
      bucket_prefix: 'restic',
      object_lock_days: 30,
      object_lock_mode: 'GOVERNANCE',
    });
  });

  it('estimates the month: instance, volumes, public IPv4 (the seed said $3-5 for 100 GB; it is ~$15)', () => {
    const estimate = monthlyCost(aws);
    expect(estimate.lines.map((line) => [line.what, line.usdPerMonth?.toFixed(2)])).toEqual([
      ['EC2 t4g.nano, on demand, always on', '3.07'],
      ['EBS gp3 100 GiB (encrypted)', '8.00'],
      ['EBS root volume 8 GiB gp3', '0.64'],
      ['public IPv4 address', '3.65'],
    ]);
    expect(estimate.totalUsdPerMonth.toFixed(2)).toBe('15.36');
    const unknown = monthlyCost({ ...aws, instance_type: 'x9.mega' });
    expect(unknown.lines[0]!.usdPerMonth).toBeUndefined();
    expect(unknown.notes.join('\n')).toMatch(/no price known for x9\.mega/);
  });

  it("keeps the config's defaults equal to the module's", async () => {
    const text = await readFile(new URL('../../../infra/aws/variables.tf', import.meta.url), 'utf8');
    const parsed = (await parseHcl('variables.tf', text)) as {
      variable: Record<string, { default?: unknown }[]>;
    };
    const moduleDefault = (name: string): unknown => parsed.variable[name]![0]!.default;
    const defaults = awsInfraSchema.parse({
      region: 'eu-central-1',
      ssh_public_key_file: '/k.pub',
      allow_ssh_from_anywhere: false,
      allowed_ssh_cidrs: ['203.0.113.7/32'],
      offsite_bucket: { name: 'bucket-name' },
    });
    expect(defaults.name).toBe(moduleDefault('name'));
    expect(defaults.instance_type).toBe(moduleDefault('instance_type'));
    expect(defaults.volume_size_gb).toBe(moduleDefault('volume_size_gb'));
    expect(defaults.backup_user).toBe(moduleDefault('backup_user'));
    expect(defaults.mount_point).toBe(moduleDefault('mount_point'));
    expect(defaults.append_only).toBe(moduleDefault('append_only'));
    expect(defaults.offsite_bucket!.prefix).toBe(moduleDefault('bucket_prefix'));
    expect(defaults.offsite_bucket!.object_lock_days).toBe(moduleDefault('object_lock_days'));
    expect(defaults.offsite_bucket!.object_lock_mode).toBe(moduleDefault('object_lock_mode'));
    // Every variable snapkeep writes exists in the module.
    for (const name of Object.keys(moduleVariables(defaults, realKey, '/f')))
      expect(parsed.variable, name).toHaveProperty(name);
  });
});

describe('outputs and the config', () => {
  const outputs = {
    host: { value: '198.51.100.4' },
    user: { value: 'snapkeep' },
    target_url: { value: 'ssh://snapkeep@198.51.100.4/srv/snapkeep/backups' },
    region: { value: 'eu-central-1' },
    instance_id: { value: 'i-0abc' },
    volume_id: { value: 'vol-0abc' },
    volume_name: { value: 'snapkeep-backups' },
    bucket: { value: '' },
  };

  it('reads `output -json` and names what is missing', () => {
    const parsed = parseModuleOutputs(JSON.stringify(outputs));
    expect(parsed).toMatchObject({ ok: true, value: { volumeName: 'snapkeep-backups', bucket: undefined } });
    expect(parseModuleOutputs('{}')).toEqual({
      ok: false,
      problem: 'outputs missing: host, user, target_url, region, instance_id, volume_id, volume_name',
    });
    expect(parseModuleOutputs('Error: no state')).toEqual({ ok: false, problem: 'the output is not JSON' });
  });

  it('writes the target into a config, keeping comments and other targets', () => {
    const before = '# mine\nstate_dir: /var/lib/snapkeep\ntargets:\n  usb: { path: /mnt/usb } # the disk\n';
    const after = withTarget(before, 'aws', {
      path: 'ssh://snapkeep@198.51.100.4/srv/snapkeep/backups',
      identityFile: '/root/.ssh/snapkeep',
      knownHosts: '/var/lib/snapkeep/infra/aws/known_hosts',
    });
    expect(after).toMatch(/^# mine\n/);
    expect(after).toMatch(/# the disk/);
    expect(parse(after)).toEqual({
      state_dir: '/var/lib/snapkeep',
      targets: {
        usb: { path: '/mnt/usb' },
        aws: {
          path: 'ssh://snapkeep@198.51.100.4/srv/snapkeep/backups',
          ssh: {
            identity_file: '/root/.ssh/snapkeep',
            known_hosts: '/var/lib/snapkeep/infra/aws/known_hosts',
          },
        },
      },
    });
    expect(
      withTarget('state_dir: /x\n', 'aws', { path: 'ssh://a@b/c', identityFile: '/k', knownHosts: '/h' }),
    ).toMatch(/targets:\n {2}aws:\n {4}path: ssh:\/\/a@b\/c/);
  });

  it("writes the seed's aws_connection.env names", () => {
    const parsed = parseModuleOutputs(JSON.stringify(outputs));
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(connectionEnv(parsed.value, '/root/.ssh/snapkeep', new Date('2026-01-02T03:04:05Z'))).toContain(
      'BTRBK_AWS_HOST=198.51.100.4\nBTRBK_AWS_USER=snapkeep\nBTRBK_AWS_SSH_KEY=/root/.ssh/snapkeep\nBTRBK_AWS_TARGET=ssh://snapkeep@198.51.100.4/srv/snapkeep/backups\nBTRBK_AWS_PATH=/srv/snapkeep/backups\nBTRBK_AWS_INSTANCE_ID=i-0abc\nBTRBK_AWS_VOLUME_ID=vol-0abc\nBTRBK_AWS_REGION=eu-central-1\n',
    );
  });
});
