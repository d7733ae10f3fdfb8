import { defaultResticRetention } from '../../../src/config/restic-schema.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { renderResolvedYaml, runConfigShow, runConfigValidate } from '../../../src/cli/config-command.js';
import { ConfigError, parseConfigText } from '../../../src/config/load-config.js';

// Overrides win in this order (resolve.ts): for a subvolume's own settings
//   the subvolume's value > defaults: > built-in default;
// for the copies on a target
//   subvolume.target_retention > targets.<name>.retention > defaults.target_retention > built-in.
const text = `state_dir: /srv/state
defaults:
  timestamp_format: short
  snapshot_retention:
    preserve: 7d
  target_retention:
    preserve_min: 1d
    preserve: 4w
targets:
  usb:
    path: /mnt/usb
    retention:
      preserve: 12m
      preserve_day_of_week: monday
  nas:
    path: /mnt/nas
subvolumes:
  home:
    path: /home
    snapshot_create: onchange
    snapshot_retention:
      preserve_hour_of_day: 3
    target_retention:
      preserve_day_of_week: friday
    targets: [usb, nas]
  data:
    path: /data
    snapshot_dir: /snaps
    snapshot_name: data-btrbk
    timestamp_format: long-iso
`;

const loaded = parseConfigText(text, '/etc/snapkeep/show.yaml');

describe('resolution (what config show prints)', () => {
  const [home, data] = loaded.resolved.subvolumes;

  it('applies schema defaults and keeps file values', () => {
    expect(loaded.resolved.stateDir).toBe('/srv/state');
    expect(loaded.resolved.parallel).toBe(4);
    expect(data).toMatchObject({
      name: 'data',
      snapshotDir: '/snaps',
      snapshotName: 'data-btrbk',
      snapshotCreate: 'always',
      timestampFormat: 'long-iso',
      targets: [],
    });
    expect(home).toMatchObject({
      snapshotDir: '/home/.snapshots',
      snapshotName: 'home',
      snapshotCreate: 'onchange',
      timestampFormat: 'short',
    });
  });

  it('snapshot retention: subvolume > defaults: > built-in', () => {
    expect(home!.snapshotRetention).toEqual({
      preserve_min: '2d',
      preserve: '7d',
      preserve_day_of_week: 'sunday',
      preserve_hour_of_day: 3,
    });
  });

  it('target retention: subvolume.target_retention > target > defaults.target_retention > built-in', () => {
    const [usb, nas] = home!.targets;
    expect(usb!.retention).toEqual({
      preserve_min: '1d',
      preserve: '12m',
      preserve_day_of_week: 'friday',
      preserve_hour_of_day: 0,
    });
    expect(nas!.retention).toEqual({
      preserve_min: '1d',
      preserve: '4w',
      preserve_day_of_week: 'friday',
      preserve_hour_of_day: 0,
    });
  });
});

describe('renderResolvedYaml', () => {
  const yaml = renderResolvedYaml(loaded);
  const lines = yaml.split('\n').map((line) => line.trim());

  it('is YAML holding exactly the resolved values, in the file’s key names', () => {
    const parsed = parse(yaml) as {
      state_dir: string;
      parallel: number;
      subvolumes: Record<string, Record<string, unknown>>;
    };
    expect(parsed.state_dir).toBe(loaded.resolved.stateDir);
    expect(parsed.parallel).toBe(loaded.resolved.parallel);
    for (const subvolume of loaded.resolved.subvolumes) {
      expect(parsed.subvolumes[subvolume.name]).toEqual({
        path: subvolume.path,
        snapshot_dir: subvolume.snapshotDir,
        snapshot_name: subvolume.snapshotName,
        snapshot_create: subvolume.snapshotCreate,
        timestamp_format: subvolume.timestampFormat,
        snapshot_retention: subvolume.snapshotRetention,
        targets: Object.fromEntries(
          subvolume.targets.map((target) => [
            target.name,
            { path: target.path, retention: target.retention },
          ]),
        ),
      });
    }
  });

  it('marks where each inherited value comes from and leaves values set in place unmarked', () => {
    expect(yaml.startsWith('# Resolved configuration from /etc/snapkeep/show.yaml\n')).toBe(true);
    expect(lines).toContain('state_dir: /srv/state');
    expect(lines).toContain('parallel: 4 # built-in default');
    expect(lines).toContain('snapshot_dir: /home/.snapshots # default: <path>/.snapshots');
    expect(lines).toContain('snapshot_name: home # default: the name of this entry');
    expect(lines).toContain('snapshot_name: data-btrbk');
    expect(lines).toContain('snapshot_create: onchange');
    expect(lines).toContain('timestamp_format: short # from defaults:');
    expect(lines).toContain('snapshot_create: always # built-in default');
    expect(lines).toContain('preserve: 7d # from defaults.snapshot_retention');
    expect(lines).toContain('preserve_hour_of_day: 3');
    expect(lines).toContain('preserve_min: 2d # built-in default');
    expect(lines).toContain('preserve: 12m # from targets.usb.retention');
    expect(lines).toContain('preserve_day_of_week: friday # from subvolumes.home.target_retention');
    expect(lines).toContain('preserve: 4w # from defaults.target_retention');
    expect(lines).toContain('path: /mnt/usb # from targets.usb');
  });
});

describe('runConfigShow / runConfigValidate', () => {
  let dir: string;
  let file: string;
  let stdout: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapkeep-config-show-'));
    file = join(dir, 'snapkeep.yaml');
    await writeFile(file, text);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const capture = (): void => {
    stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  };
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('show prints the YAML of renderResolvedYaml', async () => {
    capture();
    expect(await runConfigShow({ config: file, json: false })).toBe(0);
    vi.restoreAllMocks();
    expect(stdout).toBe(renderResolvedYaml({ ...loaded, path: file }));
  });

  it('show --json prints one config event holding what the text shows', async () => {
    capture();
    expect(await runConfigShow({ config: file, json: true })).toBe(0);
    vi.restoreAllMocks();
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual({
      type: 'config',
      path: file,
      ...(parse(renderResolvedYaml(loaded)) as object),
    });
  });

  it('validate: text OK line with counts, no warnings when every target is used', async () => {
    capture();
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    expect(await runConfigValidate({ config: file, json: false })).toBe(0);
    vi.restoreAllMocks();
    expect(stdout).toBe(`OK: ${file}: 2 subvolumes, 2 targets, 0 backup sets, 0 repositories, 0 sources\n`);
    expect(stderr).toEqual([]);
  });

  it('validate: a bad file throws ConfigError in text mode; --json reports warnings of a valid file', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'parallel: 0\ntargets:\n  spare:\n    path: /x\n');
    await expect(runConfigValidate({ config: bad, json: false })).rejects.toBeInstanceOf(ConfigError);
    const unused = join(dir, 'unused.yaml');
    await writeFile(unused, 'targets:\n  spare:\n    path: /x\n');
    capture();
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    expect(await runConfigValidate({ config: unused, json: true })).toBe(0);
    vi.restoreAllMocks();
    expect(JSON.parse(stdout)).toMatchObject({
      type: 'config',
      valid: true,
      subvolumes: 0,
      targets: 1,
      backup_sets: 0,
      repositories: 0,
      sources: 0,
      warnings: [
        'no subvolumes are configured: a run would do nothing',
        'target "spare" is not used by any subvolume',
      ],
    });
    expect(stderr.join('')).toContain('warning:');
  });
});

// Every section of the file, with an ssh:// target and restic parts; the expectations are
// written out from this text and the documented defaults, not derived from the code under test.
const fullText = `state_dir: /srv/state/
ssh:
  identity_file: /etc/snapkeep/id_ed25519
  connect_timeout: 5
targets:
  usb:
    path: /mnt/./usb/
  offsite:
    path: ssh://backup@nas.example:2222/srv/copies
    ssh:
      sudo: false
      options: [ServerAliveInterval=15]
    watch: { notify: [phone], threshold: 2d }
subvolumes:
  home:
    path: /home
    targets: [usb, offsite]
repositories:
  local:
    url: /srv/restic
    password: env:SNAPKEEP_SHOW_TEST_PASSWORD
  s3:
    url: s3:https://s3.example/bucket
    password: file:/etc/snapkeep/s3.pw
    env:
      AWS_ACCESS_KEY_ID: env:SNAPKEEP_SHOW_TEST_KEY
    append_only: true
sources:
  uploads:
    type: directory
    paths: [/srv/uploads/]
    exclude: ['*.tmp']
  db:
    type: postgres
    databases: [app]
    user: app
    password: op://vault/db/password
backup_sets:
  app:
    sources: [db, uploads]
    repository: local
    offsite: [s3]
    restore:
      stop: [[systemctl, stop, app.service]]
schedules:
  nightly: { command: run, when: "*-*-* 01:30" }
`;

const builtInTargetRetention = {
  preserve_min: 'latest',
  preserve: '14d 8w 12m 3y',
  preserve_day_of_week: 'sunday',
  preserve_hour_of_day: 0,
};

const fullExpected = {
  state_dir: '/srv/state',
  parallel: 4,
  ssh: { identity_file: '/etc/snapkeep/id_ed25519', connect_timeout: 5 },
  targets: {
    usb: { path: '/mnt/usb' },
    offsite: {
      path: 'ssh://backup@nas.example:2222/srv/copies',
      ssh: {
        identity_file: '/etc/snapkeep/id_ed25519',
        options: ['ServerAliveInterval=15'],
        sudo: false,
        connect_timeout: 5,
        compression: 'none',
      },
      watch: { notify: ['phone'], threshold: '2d' },
    },
  },
  subvolumes: {
    home: {
      path: '/home',
      snapshot_dir: '/home/.snapshots',
      snapshot_name: 'home',
      snapshot_create: 'always',
      timestamp_format: 'long',
      snapshot_retention: {
        preserve_min: '2d',
        preserve: '14d',
        preserve_day_of_week: 'sunday',
        preserve_hour_of_day: 0,
      },
      targets: {
        usb: { path: '/mnt/usb', retention: builtInTargetRetention },
        offsite: { path: 'ssh://backup@nas.example:2222/srv/copies', retention: builtInTargetRetention },
      },
    },
  },
  repositories: {
    local: {
      url: '/srv/restic',
      password: 'env:SNAPKEEP_SHOW_TEST_PASSWORD',
      env: {},
      append_only: false,
      retention: defaultResticRetention,
    },
    s3: {
      url: 's3:https://s3.example/bucket',
      password: 'file:/etc/snapkeep/s3.pw',
      env: { AWS_ACCESS_KEY_ID: 'env:SNAPKEEP_SHOW_TEST_KEY' },
      append_only: true,
      retention: defaultResticRetention,
    },
  },
  sources: {
    uploads: { type: 'directory', paths: ['/srv/uploads'], exclude: ['*.tmp'] },
    db: {
      type: 'postgres',
      databases: ['app'],
      user: 'app',
      password: 'op://vault/db/password',
      checksums: true,
      command_prefix: [],
    },
  },
  backup_sets: {
    app: {
      sources: ['db', 'uploads'],
      repository: 'local',
      offsite: ['s3'],
      restore: { stop: [['systemctl', 'stop', 'app.service']], start: [] },
    },
  },
  schedules: { nightly: { command: 'run', when: '*-*-* 01:30', only: [] } },
};

describe('config show: every section, secrets as references', () => {
  let dir: string;
  let file: string;
  const secret = 'hunter2-must-not-appear';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapkeep-config-show-full-'));
    file = join(dir, 'snapkeep.yaml');
    await writeFile(file, fullText);
    vi.stubEnv('SNAPKEEP_SHOW_TEST_PASSWORD', secret);
    vi.stubEnv('SNAPKEEP_SHOW_TEST_KEY', secret);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await rm(dir, { recursive: true, force: true });
  });
  const show = async (json: boolean): Promise<string> => {
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    try {
      expect(await runConfigShow({ config: file, json })).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    return stdout;
  };

  it('text: YAML of every section; ssh:// locations as URLs with their effective ssh settings', async () => {
    const text = await show(false);
    expect(parse(text)).toEqual(fullExpected);
    expect(text).not.toContain(secret);
    const lines = text.split('\n').map((line) => line.trim());
    expect(lines).toContain('identity_file: /etc/snapkeep/id_ed25519 # from ssh:');
    expect(lines).toContain('compression: none # built-in default');
    expect(lines).toContain('sudo: false');
    expect(lines).toContain('append_only: false # built-in default');
    expect(lines).toContain('keep_daily: 14 # built-in default');
    expect(lines).toContain('checksums: true # built-in default');
  });

  it('--json: the same, as one config event', async () => {
    const text = await show(true);
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(text)).toEqual({ type: 'config', path: file, ...fullExpected });
    expect(text).not.toContain(secret);
  });

  it('validate counts backup sets, repositories and sources', async () => {
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runConfigValidate({ config: file, json: false })).toBe(0);
      expect(await runConfigValidate({ config: file, json: true })).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const [textLine, jsonLine] = stdout.trim().split('\n');
    expect(textLine).toBe(`OK: ${file}: 1 subvolume, 2 targets, 1 backup set, 2 repositories, 2 sources`);
    expect(JSON.parse(jsonLine!)).toEqual({
      type: 'config',
      valid: true,
      path: file,
      subvolumes: 1,
      targets: 2,
      backup_sets: 1,
      repositories: 2,
      sources: 2,
      warnings: [],
    });
  });
});
