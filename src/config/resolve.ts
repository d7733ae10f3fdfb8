// Validated config → the effective settings every engine uses, with defaults applied in one place
// (subvolume/target value, else `defaults:`, else built-in). `config show` prints this.
import { join } from 'node:path';
import type { TimestampFormat } from '../btrfs/snapshot-name.js';
import {
  parsePreserveMatrix,
  parsePreserveMinimum,
  type DayOfWeek,
  type PreservePolicy,
} from '../retention/preserve-policy.js';
import { isSshUrl, parseSshUrl } from '../remote/ssh-url.js';
import type { SshSettings } from '../remote/ssh-host.js';
import { builtInDefaults, type Config, type RetentionConfig, type SshConfig } from './schema.js';

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

export interface ResolvedConfig {
  readonly stateDir: string;
  readonly parallel: number;
  /** The top-level `ssh:` settings, for locations given on the command line (pull). */
  readonly ssh: SshConfig;
  readonly subvolumes: readonly ResolvedSubvolume[];
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
  if (!isSshUrl(path)) return { path };
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
      return { name: targetName, ...location, retention, policy: toPreservePolicy(retention) };
    });
    const location = resolveLocation(subvolume.path, { ...config.ssh, ...subvolume.ssh });
    return {
      name,
      ...location,
      snapshotDir: subvolume.snapshot_dir ?? join(location.path, '.snapshots'),
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
  return { stateDir: config.state_dir, parallel: config.parallel, ssh: config.ssh ?? {}, subvolumes };
}
