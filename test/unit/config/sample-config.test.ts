import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { sampleConfig } from '../../../src/config/sample-config.js';
import { builtInDefaults, configSchema } from '../../../src/config/schema.js';

describe('sampleConfig', () => {
  const text = sampleConfig();

  it('validates against the schema', () => {
    expect(configSchema.safeParse(parseDocument(text).toJS()).success).toBe(true);
    expect(() => parseConfigText(text, '/sample.yaml')).not.toThrow();
  });

  it('shows the built-in defaults as they are', () => {
    const loaded = parseConfigText(text, '/sample.yaml');
    const schemaDefaults = configSchema.parse({});
    expect(loaded.input.state_dir).toBe(schemaDefaults.state_dir);
    expect(loaded.input.parallel).toBe(schemaDefaults.parallel);
    expect(loaded.input.defaults).toEqual(builtInDefaults);
  });

  it('changes nothing compared to leaving every default out', () => {
    const sample = parseConfigText(text, '/sample.yaml');
    const bare = parseConfigText(
      `targets:\n  usb-disk:\n    path: /mnt/backup-disk/snapkeep\nsubvolumes:\n  home:\n    path: /mnt/btrfs-root/@home\n    snapshot_dir: /mnt/btrfs-root/.snapshots\n    targets: [usb-disk]\n`,
      '/bare.yaml',
    );
    // Its schedules are examples (schedules have no defaults to change): all else is equal.
    const { schedules, ...rest } = sample.resolved;
    const { schedules: bareSchedules, ...bareRest } = bare.resolved;
    expect(rest).toEqual(bareRest);
    expect(bareSchedules).toEqual([]);
    expect(schedules.map((schedule) => schedule.command)).toContain('verify --drill');
  });

  it('mentions every key of the schema, and the sections still to come', () => {
    const keys = [
      'state_dir',
      'parallel',
      'defaults',
      'timestamp_format',
      'snapshot_create',
      'snapshot_retention',
      'target_retention',
      'preserve_min',
      'preserve',
      'preserve_day_of_week',
      'preserve_hour_of_day',
      'ssh',
      'identity_file',
      'known_hosts',
      'cipher',
      'options',
      'sudo',
      'connect_timeout',
      'compression',
      'targets',
      'retention',
      'subvolumes',
      'path',
      'snapshot_dir',
      'snapshot_name',
      'repositories',
      'url',
      'password',
      'sources',
      'type',
      'databases',
      'paths',
      'backup_sets',
      'repository',
      'stop',
      'start',
      'infra',
      'aws',
      'region',
      'ssh_public_key_file',
      'allowed_ssh_cidrs',
      'instance_type',
      'volume_size_gb',
      'schedules',
      'command',
      'when',
      'every',
      'only',
      'on_ac_power',
      'sleep',
      'snapshot',
      'sync_on_wake',
      'metrics',
      'textfile_dir',
      'textfile_runs',
      'notify',
      'events',
      'remind_every',
      'timeout',
      'email',
      'host',
      'security',
      'user',
      'from',
      'to',
      'ntfy',
      'server',
      'topic',
      'token',
      'webhook',
      'template',
      'healthchecks',
    ];
    for (const key of keys) expect(text).toMatch(new RegExp(`^\\s*#?\\s*${key}:`, 'm'));
    for (const key of Object.keys(configSchema.shape)) expect(keys).toContain(key);
    expect(text).toContain('btrbk');
    for (const future of ['ssh://', 'restic', 'PostgreSQL', 'schedules', 'notifications', 'watchdog'])
      expect(text).toContain(future);
  });

  it('every commented-out example is itself valid when uncommented', () => {
    const uncommented = text
      .split('\n')
      .map((line) => line.replace(/^(\s*)# ((?:[a-z_]+:|\s+[a-z_]+:).*)$/, '$1$2'))
      .join('\n');
    expect(uncommented).not.toBe(text);
    const loaded = parseConfigText(uncommented, '/uncommented.yaml');
    const home = loaded.config.subvolumes.home!;
    expect(home.snapshot_name).toBe('home');
    expect(home.snapshot_create).toBe('onchange');
    expect(loaded.config.targets['usb-disk']!.retention).toEqual({ preserve: '7d 4w 12m' });
    expect(loaded.resolved.subvolumes).toHaveLength(1);
    expect(loaded.config.targets.offsite!.path).toBe('ssh://snapkeep@backup.example.org/mnt/backup/laptop');
    expect(loaded.config.ssh?.compression).toBe('none');
    expect(loaded.config.schedules.nightly_backup).toMatchObject({ command: 'backup', only: ['app'] });
    expect(loaded.config.schedules['weekly-drill']!.command).toBe('verify --drill');
    expect(loaded.resolved.metrics).toEqual({
      textfileDir: '/var/lib/prometheus/node-exporter',
      textfileRuns: 'scheduled',
    });
    expect(loaded.resolved.notify.channels.map((channel) => `${channel.type} ${channel.name}`)).toEqual([
      'email admin',
      'ntfy phone',
      'webhook chat',
      'healthchecks deadman',
    ]);
    expect(loaded.resolved.notify.watchdog).toBe('hourly');
  });
});
