// The configuration schema: the single source of truth for the config's types, its validation,
// the committed JSON Schema (schema/snapkeep.schema.json) and `snapkeep config show`.
// Top-level sections are named maps so later capabilities (ssh targets, restic repositories,
// database sources, schedules, notify) add sections without reshaping existing ones.
// Validation messages read "<what is wrong>; expected <what is accepted>": the loader
// (load-config.ts) prints them as `<file>:<line>:<col>: <key>: <what is wrong> (got <value>; expected …)`.
import { z } from 'zod';
import { snapshotBasenamePattern } from '../snapshot-name.js';
import { isSshUrl, parseSshUrl, remotePathProblem } from '../remote/ssh-url.js';
import { daysOfWeek, parsePreserveMatrix, parsePreserveMinimum } from '../retention/preserve-policy.js';
import { absolutePath, itemName } from './common-schema.js';
import { infraSchema } from './infra-schema.js';
import { metricsSchema } from './metrics-schema.js';
import { notifyReferenceIssues, notifySchema, timeSpan } from './notify-schema.js';
import { backupSetSchema, repositorySchema, sourceSchema } from './restic-schema.js';
import { scheduleJobSchema, scheduleReferenceIssues, sleepSchema } from './schedule-schema.js';

const withExpected = (message: string, expected: string): string =>
  message.includes('; expected ') ? message : `${message}; expected ${expected}`;

const preserveMatrix = z.string().superRefine((value, context) => {
  const parsed = parsePreserveMatrix(value);
  if (!parsed.ok) {
    context.addIssue({
      code: 'custom',
      message: withExpected(
        parsed.error,
        'a preserve matrix like "24h 7d 4w 6m 2y" with each unit at most once',
      ),
    });
  }
});

const preserveMinimum = z.string().superRefine((value, context) => {
  const parsed = parsePreserveMinimum(value);
  if (!parsed.ok) {
    context.addIssue({
      code: 'custom',
      message: withExpected(parsed.error, 'all, latest, no, or a count and unit like 2d'),
    });
  }
});

const retentionFields = {
  preserve_min: preserveMinimum
    .optional()
    .describe('Keep everything within this span regardless of the matrix: all | latest | no | N[hdwmy]'),
  preserve: preserveMatrix
    .optional()
    .describe(
      'Preserve matrix like "24h 7d 4w 6m 2y" (first snapshot of each hour/day/week/month/year); * = all; "no" = none',
    ),
  preserve_day_of_week: z.enum(daysOfWeek).optional().describe('Weeks (and months, years) start on this day'),
  preserve_hour_of_day: z.number().int().min(0).max(23).optional().describe('Days start at this hour'),
};

export const retentionSchema = z.strictObject(retentionFields);
export type RetentionConfig = z.infer<typeof retentionSchema>;

export const timestampFormatSchema = z
  .enum(['short', 'long', 'long-iso'])
  .describe('Snapshot name timestamp: short YYYYMMDD, long YYYYMMDDThhmm, long-iso YYYYMMDDThhmmss±hhmm');

export const snapshotCreateSchema = z
  .enum(['always', 'onchange'])
  .describe(
    'always: a snapshot every run; onchange: only when the subvolume changed since the newest snapshot',
  );

/** Defaults a person expects (btrbk's own defaults delete nothing, a frequent surprise). */
export const builtInDefaults = {
  timestamp_format: 'long',
  snapshot_create: 'always',
  snapshot_retention: {
    preserve_min: '2d',
    preserve: '14d',
    preserve_day_of_week: 'sunday',
    preserve_hour_of_day: 0,
  },
  target_retention: {
    preserve_min: 'latest',
    preserve: '14d 8w 12m 3y',
    preserve_day_of_week: 'sunday',
    preserve_hour_of_day: 0,
  },
} as const;

const defaultsSchema = z
  .strictObject({
    timestamp_format: timestampFormatSchema.optional(),
    snapshot_create: snapshotCreateSchema.optional(),
    snapshot_retention: retentionSchema.optional().describe('Retention of local snapshots'),
    target_retention: retentionSchema.optional().describe('Retention of the copies on targets'),
  })
  .describe('Defaults for every subvolume and target');

// Targets and subvolumes are named like every other item (common-schema.ts's itemName).
const targetName = itemName;

/** A local absolute path, or ssh://user@host[:port]/path for a directory on another machine. */
const locationPath = z.string().superRefine((value, context) => {
  if (isSshUrl(value)) {
    const parsed = parseSshUrl(value);
    if (!parsed.ok) context.addIssue({ code: 'custom', message: parsed.error });
    return;
  }
  const result = absolutePath.safeParse(value);
  if (!result.success)
    for (const issue of result.error.issues)
      context.addIssue({
        code: 'custom',
        message: withExpected(issue.message, 'an absolute path or ssh://user@host[:port]/path'),
      });
});

export const sshSchema = z
  .strictObject({
    identity_file: absolutePath.optional().describe("Private key for this host (ssh -i); default: ssh's own"),
    known_hosts: absolutePath
      .optional()
      .describe('known_hosts file holding the host key (default: ~/.ssh/known_hosts); unknown keys fail'),
    cipher: z
      .string()
      .regex(/^[a-z0-9@.,-]+$/, 'is not a cipher name; expected e.g. aes128-gcm@openssh.com')
      .optional()
      .describe('ssh -c cipher (aes128-gcm@openssh.com is fastest on most CPUs)'),
    options: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z]+=[^\s]+$/,
            'is not an ssh option; expected Key=Value without spaces, e.g. ServerAliveInterval=15',
          ),
      )
      .optional()
      .describe('Extra ssh -o options as Key=Value'),
    sudo: z
      .boolean()
      .optional()
      .describe('Run btrfs through sudo -n on the host (default: true unless the user is root)'),
    connect_timeout: z
      .number()
      .int()
      .min(1)
      .max(600)
      .optional()
      .describe('Seconds to wait for a connection (default 10)'),
    compression: z
      .enum(['none', 'zstd'])
      .optional()
      .describe('Compress send streams with zstd on both ends (for slow links; needs zstd on both hosts)'),
  })
  .describe('How snapkeep connects to ssh:// hosts');
export type SshConfig = z.infer<typeof sshSchema>;

export const targetSchema = z
  .strictObject({
    path: locationPath.describe(
      'Directory on another btrfs filesystem that receives the copies: /local/path or ssh://user@host[:port]/path',
    ),
    ssh: sshSchema.optional().describe('SSH settings for this target (override the top-level ssh:)'),
    retention: retentionSchema.optional().describe('Retention of copies on this target (overrides defaults)'),
    watch: z
      .strictObject({
        notify: z
          .array(itemName)
          .min(1)
          .describe('ntfy, webhook and healthchecks channels under notify: it alerts'),
        threshold: timeSpan
          .optional()
          .describe('No new copy of a device for this long is stale (default 26h)'),
        remind_every: z
          .union([z.literal('never'), timeSpan])
          .optional()
          .describe('Alert again while it lasts (default notify.remind_every, 24h)'),
      })
      .optional()
      .describe(
        'ssh:// targets: the watch `snapkeep remote setup --watch` installs on the host (cron, POSIX sh)',
      ),
  })
  .describe('A place snapshots are sent to');
export type TargetConfig = z.infer<typeof targetSchema>;

export const subvolumeSchema = z
  .strictObject({
    path: locationPath.describe(
      'The btrfs subvolume to snapshot (/local/path, or ssh://user@host[:port]/path to pull from another machine)',
    ),
    snapshot_dir: absolutePath
      .optional()
      .describe(
        'Directory on the same filesystem (and host) for its read-only snapshots (default: <path>/.snapshots)',
      ),
    snapshot_name: z
      .string()
      .regex(
        snapshotBasenamePattern,
        'is not a valid snapshot name; expected letters, digits and _ @ + - . (no "/", no spaces)',
      )
      .optional()
      .describe(
        "Snapshot basename (default: the key of this entry); set it to btrbk's to take over its snapshots",
      ),
    targets: z.array(targetName).default([]).describe('Names of targets this subvolume is sent to'),
    snapshot_create: snapshotCreateSchema.optional(),
    timestamp_format: timestampFormatSchema.optional(),
    snapshot_retention: retentionSchema.optional(),
    target_retention: retentionSchema
      .optional()
      .describe("Retention of this subvolume's copies on its targets"),
    ssh: sshSchema.optional().describe('SSH settings for an ssh:// subvolume (override the top-level ssh:)'),
  })
  .describe('A btrfs subvolume that snapkeep snapshots and sends');
export type SubvolumeConfig = z.infer<typeof subvolumeSchema>;

export const configSchema = z
  .strictObject({
    state_dir: absolutePath
      .default('/var/lib/snapkeep')
      .describe('Where the journal, lock and quickstart sandbox live'),
    parallel: z
      .number()
      .int()
      .min(1)
      .max(16)
      // 4: transfers wait on disks and networks more than on CPUs; measured on 2 cores with 4
      // subvolumes x 2 targets, 4 at once took 0.84x the time of 2 at once (bench/btrfs-local.sh).
      .default(4)
      .describe("Transfers that may run at once (a subvolume's sends to one target are always in order)"),
    defaults: defaultsSchema.default({}),
    ssh: sshSchema
      .optional()
      .describe('SSH settings for every ssh:// target (each target may override them)'),
    targets: z.record(targetName, targetSchema).default({}).describe('Where snapshots go, by name'),
    subvolumes: z.record(targetName, subvolumeSchema).default({}).describe('What is snapshotted, by name'),
    repositories: z.record(itemName, repositorySchema).default({}).describe('restic repositories, by name'),
    sources: z.record(itemName, sourceSchema).default({}).describe('Application data to back up, by name'),
    backup_sets: z
      .record(itemName, backupSetSchema)
      .default({})
      .describe('Sources backed up together into restic and restored as one point, by name'),
    infra: infraSchema.optional(),
    schedules: z
      .record(itemName, scheduleJobSchema)
      .default({})
      .describe('Jobs snapkeep runs on its own (snapkeep schedule install), by name'),
    sleep: sleepSchema.default({ snapshot: false, sync_on_wake: false }),
    metrics: metricsSchema.optional(),
    notify: notifySchema.optional(),
  })
  .superRefine((config, context) => {
    for (const [name, subvolume] of Object.entries(config.subvolumes)) {
      subvolume.targets.forEach((target, index) => {
        if (!(target in config.targets)) {
          const known = Object.keys(config.targets);
          context.addIssue({
            code: 'custom',
            path: ['subvolumes', name, 'targets', index],
            message: `unknown target "${target}"; expected ${known.length ? `one of the targets defined under "targets:": ${known.join(', ')}` : 'a target defined under "targets:" (none are defined)'}`,
          });
        }
      });
    }
    for (const [name, subvolume] of Object.entries(config.subvolumes)) {
      // On another host the snapshot directory reaches the target filter's grammar unquoted.
      const problem =
        isSshUrl(subvolume.path) && subvolume.snapshot_dir !== undefined
          ? remotePathProblem(subvolume.snapshot_dir)
          : undefined;
      if (problem)
        context.addIssue({
          code: 'custom',
          path: ['subvolumes', name, 'snapshot_dir'],
          message: `${problem} (the subvolume is on another host)`,
        });
    }
    for (const [name, set] of Object.entries(config.backup_sets)) {
      const known = (map: Record<string, unknown>, what: string, under: string): string =>
        Object.keys(map).length
          ? `one of the ${what} defined under "${under}:": ${Object.keys(map).join(', ')}`
          : `a ${what.replace(/s$/, '')} defined under "${under}:" (none are defined)`;
      set.sources.forEach((source, index) => {
        if (!(source in config.sources))
          context.addIssue({
            code: 'custom',
            path: ['backup_sets', name, 'sources', index],
            message: `unknown source "${source}"; expected ${known(config.sources, 'sources', 'sources')}`,
          });
      });
      for (const [key, repository, index] of [
        ['repository', set.repository, undefined] as const,
        ...set.offsite.map((offsite, at) => ['offsite', offsite, at] as const),
      ]) {
        if (!(repository in config.repositories))
          context.addIssue({
            code: 'custom',
            path: ['backup_sets', name, key, ...(index === undefined ? [] : [index])],
            message: `unknown repository "${repository}"; expected ${known(config.repositories, 'repositories', 'repositories')}`,
          });
      }
      if (set.offsite.includes(set.repository))
        context.addIssue({
          code: 'custom',
          path: ['backup_sets', name, 'offsite'],
          message: `"${set.repository}" is the set's own repository; expected other repositories to copy to`,
        });
      // `restore <name>` and `list` address subvolumes and backup sets by name alone.
      if (name in config.subvolumes)
        context.addIssue({
          code: 'custom',
          path: ['backup_sets', name],
          message: `"${name}" is also a subvolume; expected a name no subvolume uses`,
        });
    }
    for (const issue of scheduleReferenceIssues(config)) context.addIssue(issue);
    for (const issue of notifyReferenceIssues(config)) context.addIssue(issue);
    // Directories that coincide or nest (one subvolume's snapshots pruned by another's retention,
    // copies inside their source, …) are checked on the resolved paths: path-conflicts.ts.
  })
  .describe('snapkeep configuration');

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
