// Validated config → the effective settings every engine uses, with defaults applied in one place
// (subvolume/target value, else `defaults:`, else built-in). `config show` prints this. Local
// paths come out in one spelling (local-path.ts's normalisePath): `/a/./b/` is `/a/b`.
import { calendarOf, randomDelayOf, type JobCommand } from './schedule-schema.js';
import { join } from 'node:path';
import type { TimestampFormat } from '../snapshot-name.js';
import {
  parsePreserveMatrix,
  parsePreserveMinimum,
  type DayOfWeek,
  type PreservePolicy,
} from '../retention/preserve-policy.js';
import { normalisePath } from '../local-path.js';
import { isSshUrl, parseSshUrl } from '../remote/ssh-url.js';
import type { SshSettings } from '../remote/ssh-host.js';
import {
  builtInDefaults,
  type Config,
  type RetentionConfig,
  type SshConfig,
  type TargetConfig,
} from './schema.js';
import { defaultResticRetention, type ResticRetentionConfig } from './restic-schema.js';
import { resolveMetrics, type ResolvedMetrics } from './metrics-schema.js';
import {
  defaultHealthchecksEvents,
  defaultNotifyEvents,
  type NotifyConfig,
  type NotifyEventKind,
} from './notify-schema.js';
import { parseTimeSpan } from '../calendar/time-span.js';

export interface ResolvedRetention {
  readonly preserve_min: string;
  readonly preserve: string;
  readonly preserve_day_of_week: DayOfWeek;
  readonly preserve_hour_of_day: number;
}

export interface ResolvedTarget {
  readonly name: string;
  /** The directory on its host. */
  readonly path: string;
  /** Set for ssh:// targets: how to reach the host. */
  readonly ssh?: SshSettings;
  readonly retention: ResolvedRetention;
  readonly policy: PreservePolicy;
  /** The target-side watch's settings as written (remote/target-watch.ts reads them). */
  readonly watch?: TargetConfig['watch'];
}

export interface ResolvedSubvolume {
  readonly name: string;
  /** The subvolume on its host. */
  readonly path: string;
  /** Set for ssh:// subvolumes (pull mode): how to reach the host they and their snapshots are on. */
  readonly ssh?: SshSettings;
  readonly snapshotDir: string;
  readonly snapshotName: string;
  readonly snapshotCreate: 'always' | 'onchange';
  readonly timestampFormat: TimestampFormat;
  readonly snapshotRetention: ResolvedRetention;
  readonly snapshotPolicy: PreservePolicy;
  readonly targets: readonly ResolvedTarget[];
}

export interface ResolvedRepository {
  readonly name: string;
  readonly url: string;
  /** A secret reference (env:, file:, op://), resolved only when a command needs it. */
  readonly password: string;
  /** Backend environment: variable name → secret reference. */
  readonly env: Readonly<Record<string, string>>;
  readonly cacert?: string;
  readonly appendOnly: boolean;
  /** Which runs prune keeps; `{}` keeps every run. */
  readonly retention: ResticRetentionConfig;
  /** True when the config sets none and defaultResticRetention applies. */
  readonly retentionIsDefault: boolean;
  /** sftp: repositories connect with the top-level `ssh:` settings (key, known_hosts, options). */
  readonly ssh?: SshConfig;
}

export type ResolvedSource =
  | {
      readonly name: string;
      readonly type: 'directory';
      readonly paths: readonly string[];
      readonly exclude: readonly string[];
    }
  | {
      readonly name: string;
      readonly type: 'postgres';
      readonly databases: readonly string[] | 'all';
      readonly host?: string;
      readonly port?: number;
      readonly user?: string;
      /** A secret reference. */
      readonly password?: string;
      readonly commandPrefix: readonly string[];
      /** Record table checksums while dumping (for the restore drill). */
      readonly checksums: boolean;
    };

export interface ResolvedBackupSet {
  readonly name: string;
  readonly sources: readonly ResolvedSource[];
  readonly repository: ResolvedRepository;
  readonly offsite: readonly ResolvedRepository[];
  /** Commands around a restore over live data (argv lists). */
  readonly restoreHooks: {
    readonly stop: readonly (readonly string[])[];
    readonly start: readonly (readonly string[])[];
  };
}

export interface ResolvedConfig {
  readonly stateDir: string;
  readonly parallel: number;
  /** The top-level `ssh:` settings, for locations given on the command line (pull). */
  readonly ssh: SshConfig;
  readonly subvolumes: readonly ResolvedSubvolume[];
  readonly backupSets: readonly ResolvedBackupSet[];
  /** `schedules:`, as far as status needs them (when a job is stale); schedule/ renders units. */
  readonly schedules: readonly ResolvedSchedule[];
  /** `metrics:`: where runs write the Prometheus textfile. */
  readonly metrics: ResolvedMetrics;
  readonly notify: ResolvedNotify;
}

interface ChannelBase {
  readonly name: string;
  readonly events: readonly NotifyEventKind[];
}

/** Values that are secret references (env:, file:, op://) are resolved only when sent. */
export type ResolvedChannel =
  | (ChannelBase & {
      readonly type: 'email';
      readonly from: string;
      readonly to: readonly string[];
      readonly transport:
        | {
            readonly kind: 'smtp';
            readonly host: string;
            readonly port: number;
            readonly security: 'starttls' | 'tls' | 'none';
            readonly user?: string;
            readonly password?: string;
            readonly caFile?: string;
          }
        | { readonly kind: 'sendmail'; readonly path: string };
    })
  | (ChannelBase & {
      readonly type: 'ntfy';
      readonly server: string;
      readonly topic: string;
      readonly token?: string;
      readonly priority: Readonly<Record<NotifyEventKind, number>>;
      readonly tags: Readonly<Record<NotifyEventKind, readonly string[]>>;
    })
  | (ChannelBase & {
      readonly type: 'webhook';
      readonly url: string;
      readonly method: 'POST' | 'PUT' | 'PATCH';
      readonly headers: Readonly<Record<string, string>>;
      readonly template?: unknown;
    })
  | (ChannelBase & {
      readonly type: 'healthchecks';
      readonly url: string;
      /** Scheduled jobs whose runs it pings; empty: every scheduled run. */
      readonly schedules: readonly string[];
    });

export interface ResolvedNotify {
  /** In the order of the config: e-mail, ntfy, webhooks, healthchecks. */
  readonly channels: readonly ResolvedChannel[];
  /** Runs started by hand notify too. */
  readonly interactive: boolean;
  /** Tell again while a problem lasts, after this long; 0: never. */
  readonly remindSeconds: number;
  /** The longest a channel may take. */
  readonly timeoutSeconds: number;
  readonly fullBelowPercent: number;
  readonly fullWithinDays: number;
  /** The watchdog job's calendar event (schedule/jobs.ts adds it); undefined: none. */
  readonly watchdog?: string;
}

const ntfyPriorities: Readonly<Record<NotifyEventKind, number>> = {
  failure: 5,
  killed: 5,
  partial: 4,
  interrupted: 4,
  stale: 4,
  'drill-failed': 4,
  'target-full': 4,
  'lock-conflict': 3,
  recovered: 3,
  success: 2,
};

const ntfyTags: Readonly<Record<NotifyEventKind, readonly string[]>> = {
  failure: ['rotating_light'],
  killed: ['skull'],
  partial: ['warning'],
  interrupted: ['warning'],
  stale: ['hourglass'],
  'drill-failed': ['test_tube'],
  'target-full': ['floppy_disk'],
  'lock-conflict': ['lock'],
  recovered: ['white_check_mark'],
  success: ['heavy_check_mark'],
};

const seconds = (span: string): number => {
  const parsed = parseTimeSpan(span);
  // The schema validated it: a failure here is a programming error.
  if (!parsed.ok) throw new Error(`invalid time span reached resolve: ${span}`);
  return parsed.seconds;
};

const defaultPorts = { starttls: 587, tls: 465, none: 25 } as const;

export function resolveNotify(notify: NotifyConfig | undefined): ResolvedNotify {
  const events = notify?.events ?? defaultNotifyEvents;
  const channels: ResolvedChannel[] = [
    ...Object.entries(notify?.email ?? {}).map(([name, email]): ResolvedChannel => {
      const security = email.security ?? 'starttls';
      return {
        type: 'email',
        name,
        events: email.events ?? events,
        from: email.from,
        to: email.to,
        transport:
          email.sendmail !== undefined
            ? { kind: 'sendmail', path: email.sendmail === true ? '/usr/sbin/sendmail' : email.sendmail }
            : {
                kind: 'smtp',
                host: email.host!,
                port: email.port ?? defaultPorts[security],
                security,
                ...(email.user !== undefined ? { user: email.user } : {}),
                ...(email.password !== undefined ? { password: email.password } : {}),
                ...(email.ca_file !== undefined ? { caFile: email.ca_file } : {}),
              },
      };
    }),
    ...Object.entries(notify?.ntfy ?? {}).map(([name, ntfy]): ResolvedChannel => ({
      type: 'ntfy',
      name,
      events: ntfy.events ?? events,
      server: ntfy.server ?? 'https://ntfy.sh',
      topic: ntfy.topic,
      ...(ntfy.token !== undefined ? { token: ntfy.token } : {}),
      priority: { ...ntfyPriorities, ...ntfy.priority },
      tags: { ...ntfyTags, ...ntfy.tags },
    })),
    ...Object.entries(notify?.webhook ?? {}).map(([name, webhook]): ResolvedChannel => ({
      type: 'webhook',
      name,
      events: webhook.events ?? events,
      url: webhook.url,
      method: webhook.method ?? 'POST',
      headers: webhook.headers ?? {},
      ...(webhook.template !== undefined ? { template: webhook.template } : {}),
    })),
    ...Object.entries(notify?.healthchecks ?? {}).map(([name, healthchecks]): ResolvedChannel => ({
      type: 'healthchecks',
      name,
      events: healthchecks.events ?? defaultHealthchecksEvents,
      url: healthchecks.url,
      schedules: healthchecks.schedules ?? [],
    })),
  ];
  const remind = notify?.remind_every ?? '24h';
  return {
    channels,
    interactive: notify?.interactive ?? false,
    remindSeconds: remind === 'never' ? 0 : seconds(remind),
    timeoutSeconds: seconds(notify?.timeout ?? '10s'),
    fullBelowPercent: notify?.target_full?.free_below_percent ?? 10,
    fullWithinDays: notify?.target_full?.within_days ?? 7,
    ...(notify?.watchdog === false || channels.length === 0
      ? {}
      : { watchdog: notify?.watchdog ?? 'hourly' }),
  };
}

export interface ResolvedSchedule {
  readonly name: string;
  readonly command: JobCommand;
  /** Subvolumes or backup sets it is limited to; empty: all. */
  readonly only: readonly string[];
  /** The calendar event (`every:` expanded). */
  readonly calendar: string;
  readonly randomDelaySeconds: number;
}

function mergeRetention(...layers: (RetentionConfig | undefined)[]): ResolvedRetention {
  const merged: Record<string, unknown> = {};
  // Later layers are more general; the first defined value wins.
  for (const layer of [...layers].reverse()) {
    for (const [key, value] of Object.entries(layer ?? {})) if (value !== undefined) merged[key] = value;
  }
  return merged as unknown as ResolvedRetention;
}

export function toPreservePolicy(retention: ResolvedRetention): PreservePolicy {
  const matrix = parsePreserveMatrix(retention.preserve);
  const minimum = parsePreserveMinimum(retention.preserve_min);
  // The schema validated both; a failure here is a programming error.
  if (!matrix.ok || !minimum.ok)
    throw new Error(`invalid retention reached resolve: ${JSON.stringify(retention)}`);
  return {
    matrix: matrix.value,
    minimum: minimum.value,
    dayOfWeek: retention.preserve_day_of_week,
    hourOfDay: retention.preserve_hour_of_day,
  };
}

export function resolveLocation(path: string, ssh: SshConfig): { path: string; ssh?: SshSettings } {
  if (!isSshUrl(path)) return { path: normalisePath(path) };
  const parsed = parseSshUrl(path);
  // The schema validated the URL; a failure here is a programming error.
  if (!parsed.ok) throw new Error(`invalid ssh URL reached resolve: ${path}`);
  const { path: remotePath, ...location } = parsed.value;
  return {
    path: remotePath,
    ssh: {
      location,
      ...(ssh.identity_file ? { identityFile: ssh.identity_file } : {}),
      ...(ssh.known_hosts ? { knownHostsFile: ssh.known_hosts } : {}),
      ...(ssh.cipher ? { cipher: ssh.cipher } : {}),
      strictHostKeyChecking: 'yes',
      options: ssh.options ?? [],
      sudo: ssh.sudo ?? location.user !== 'root',
      connectTimeoutSeconds: ssh.connect_timeout ?? 10,
      compression: ssh.compression ?? 'none',
    },
  };
}

/** A repository with its defaults (also those no backup set uses, for `config show`). */
export function resolveRepository(config: Config, name: string): ResolvedRepository {
  const repository = config.repositories[name]!;
  return {
    name,
    url: repository.url,
    password: repository.password,
    env: repository.env ?? {},
    ...(repository.cacert ? { cacert: repository.cacert } : {}),
    appendOnly: repository.append_only ?? false,
    retention: repository.retention ?? defaultResticRetention,
    retentionIsDefault: repository.retention === undefined,
    ...(repository.url.startsWith('sftp:') ? { ssh: config.ssh ?? {} } : {}),
  };
}

/** A source with its defaults (also those no backup set uses, for `config show`). */
export function resolveSource(config: Config, name: string): ResolvedSource {
  const source = config.sources[name]!;
  return source.type === 'directory'
    ? { name, type: 'directory', paths: source.paths.map(normalisePath), exclude: source.exclude ?? [] }
    : {
        name,
        type: 'postgres',
        databases: source.databases,
        ...(source.host !== undefined ? { host: source.host } : {}),
        ...(source.port !== undefined ? { port: source.port } : {}),
        ...(source.user !== undefined ? { user: source.user } : {}),
        ...(source.password !== undefined ? { password: source.password } : {}),
        commandPrefix: source.command_prefix ?? [],
        checksums: source.checksums ?? true,
      };
}

export function resolveConfig(config: Config): ResolvedConfig {
  const defaults = config.defaults;
  const subvolumes = Object.entries(config.subvolumes).map(([name, subvolume]): ResolvedSubvolume => {
    const snapshotRetention = mergeRetention(
      subvolume.snapshot_retention,
      defaults.snapshot_retention,
      builtInDefaults.snapshot_retention,
    );
    const targets = subvolume.targets.map((targetName): ResolvedTarget => {
      const target = config.targets[targetName]!;
      const retention = mergeRetention(
        subvolume.target_retention,
        target.retention,
        defaults.target_retention,
        builtInDefaults.target_retention,
      );
      const location = resolveLocation(target.path, { ...config.ssh, ...target.ssh });
      const watch = target.watch ? { watch: target.watch } : {};
      return { name: targetName, ...location, retention, policy: toPreservePolicy(retention), ...watch };
    });
    const location = resolveLocation(subvolume.path, { ...config.ssh, ...subvolume.ssh });
    return {
      name,
      ...location,
      snapshotDir: normalisePath(subvolume.snapshot_dir ?? join(location.path, '.snapshots')),
      snapshotName: subvolume.snapshot_name ?? name,
      snapshotCreate:
        subvolume.snapshot_create ?? defaults.snapshot_create ?? builtInDefaults.snapshot_create,
      timestampFormat:
        subvolume.timestamp_format ?? defaults.timestamp_format ?? builtInDefaults.timestamp_format,
      snapshotRetention,
      snapshotPolicy: toPreservePolicy(snapshotRetention),
      targets,
    };
  });
  const repositories = new Map(
    Object.keys(config.repositories).map((name) => [name, resolveRepository(config, name)] as const),
  );
  const sources = new Map(
    Object.keys(config.sources).map((name) => [name, resolveSource(config, name)] as const),
  );
  // The schema checked every reference; a miss here is a programming error.
  const lookup = <T>(map: Map<string, T>, name: string): T => {
    const found = map.get(name);
    if (!found) throw new Error(`unresolved reference "${name}" reached resolve`);
    return found;
  };
  const backupSets = Object.entries(config.backup_sets).map(([name, set]): ResolvedBackupSet => ({
    name,
    sources: set.sources.map((source) => lookup(sources, source)),
    repository: lookup(repositories, set.repository),
    offsite: set.offsite.map((repository) => lookup(repositories, repository)),
    restoreHooks: { stop: set.restore?.stop ?? [], start: set.restore?.start ?? [] },
  }));
  return {
    stateDir: normalisePath(config.state_dir),
    parallel: config.parallel,
    ssh: config.ssh ?? {},
    subvolumes,
    backupSets,
    schedules: Object.entries(config.schedules).map(([name, job]) => ({
      name,
      command: job.command,
      only: job.only,
      calendar: calendarOf(job),
      randomDelaySeconds: randomDelayOf(job),
    })),
    metrics: resolveMetrics(config.metrics),
    notify: resolveNotify(config.notify),
  };
}
