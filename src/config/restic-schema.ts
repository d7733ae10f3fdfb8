// The application-data part of the configuration: restic repositories, the sources backed up
// into them (directories, PostgreSQL databases) and backup sets (sources captured together in one
// run and restored as one point). Secrets are never values here, only references to them.
import { z } from 'zod';
import { absolutePathProblem } from '../local-path.js';
import { absolutePath, itemName } from './common-schema.js';
import { secretReferencePattern } from './secret-reference.js';

/** A secret reference (secret-reference.ts), as a schema. */
export const secretReference = z
  .string()
  .regex(
    secretReferencePattern,
    'is not a secret reference; expected env:NAME, file:/absolute/path or op://vault/item/field (never the secret itself)',
  );

/** restic repository locations snapkeep supports (credentials never in the URL: use `env:`). */
const repositoryUrl = z.string().superRefine((value, context) => {
  if (value.startsWith('/')) {
    // A local repository is a path like any other (restic creates and deletes files below it).
    const problem = absolutePathProblem(value);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
    return;
  }
  const ok =
    /^s3:https?:\/\/[^\s@]+$/.test(value) ||
    /^rest:https?:\/\/[^\s@]+$/.test(value) ||
    /^sftp:(?:\/\/)?[^\s]+$/.test(value);
  if (!ok)
    context.addIssue({
      code: 'custom',
      message:
        'is not a supported repository; expected /absolute/path, s3:https://host/bucket/path, rest:https://host:port/path or sftp:user@host:/path, with no user:password in it (put credentials in env:)',
    });
});

/** `--keep-within` style durations: 2d, 1y6m, 12h. */
const resticDuration = z
  .string()
  .regex(/^(?:\d+[yYmwdh])+$/, 'is not a duration; expected a number and unit (y m w d h), e.g. 30d or 1y6m');

const count = z.number().int().min(0);

export const resticRetentionSchema = z
  .strictObject({
    keep_last: count.optional(),
    keep_hourly: count.optional(),
    keep_daily: count.optional(),
    keep_weekly: count.optional(),
    keep_monthly: count.optional(),
    keep_yearly: count.optional(),
    keep_within: resticDuration.optional().describe('Keep every backup within this span of the newest'),
    keep_within_daily: resticDuration.optional(),
    keep_within_weekly: resticDuration.optional(),
    keep_within_monthly: resticDuration.optional(),
  })
  .describe('restic forget policy for this repository (per backup set)');
export type ResticRetentionConfig = z.infer<typeof resticRetentionSchema>;

/**
 * What a repository without `retention:` keeps, so that it does not grow forever (the btrfs side
 * ships a default too): every run of the last 2 days, then the newest of each of the last 14 days,
 * 8 weeks, 12 months and 3 years — the copies' default on btrfs targets. `retention: {}` keeps
 * every run.
 */
export const defaultResticRetention: ResticRetentionConfig = {
  keep_within: '2d',
  keep_daily: 14,
  keep_weekly: 8,
  keep_monthly: 12,
  keep_yearly: 3,
};

export const repositorySchema = z
  .strictObject({
    url: repositoryUrl.describe('restic repository: /path, s3:https://…, rest:https://…, sftp:…'),
    password: secretReference.describe(
      'The repository password: env:NAME, file:/path or op://vault/item/field',
    ),
    env: z
      .record(
        z
          .string()
          .regex(
            /^[A-Z_][A-Z0-9_]*$/,
            'is not an environment variable name; expected e.g. AWS_ACCESS_KEY_ID',
          ),
        secretReference,
      )
      .optional()
      .describe('Backend credentials as secret references, e.g. AWS_ACCESS_KEY_ID: env:OFFSITE_KEY_ID'),
    cacert: absolutePath
      .optional()
      .describe('CA certificate for a TLS endpoint with a private CA (restic --cacert)'),
    append_only: z
      .boolean()
      .optional()
      .describe(
        'The server refuses deletes (rest-server/rclone --append-only, S3 Object Lock): no forget from this identity',
      ),
    retention: resticRetentionSchema
      .optional()
      .describe(
        'Which runs prune keeps (restic forget --keep-*); default: keep_within 2d, keep_daily 14, keep_weekly 8, keep_monthly 12, keep_yearly 3; {} keeps every run',
      ),
  })
  .describe('A restic repository');

const directorySourceSchema = z.strictObject({
  type: z.literal('directory'),
  paths: z.array(absolutePath).min(1).describe('Absolute paths to back up'),
  exclude: z.array(z.string()).optional().describe('restic --exclude patterns'),
});

const postgresSourceSchema = z.strictObject({
  type: z.literal('postgres'),
  databases: z
    .union([z.literal('all'), z.array(itemName).min(1)])
    .describe('Database names, or "all" (every database that accepts connections, templates excluded)'),
  host: z.string().optional().describe('Host name, IP, or a socket directory (default: libpq default)'),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().optional(),
  password: secretReference.optional().describe('Passed as PGPASSWORD, never on argv'),
  checksums: z
    .boolean()
    .optional()
    .describe(
      'Record row counts and per-table checksums while dumping, for verify --drill (default true; costs one scan of every table alongside the dump)',
    ),
  command_prefix: z
    .array(z.string())
    .optional()
    .describe(
      'Run pg_dump/psql through this, e.g. [docker, exec, -i, db] (the container must authenticate locally)',
    ),
});

export const sourceSchema = z
  .discriminatedUnion('type', [directorySourceSchema, postgresSourceSchema])
  .describe('What a backup set captures: a directory tree or PostgreSQL databases');
export type SourceConfig = z.infer<typeof sourceSchema>;

/** A command as argv (never a shell string): the program, then its arguments. */
const commandArgv = z
  .array(z.string().min(1))
  .min(1)
  .describe('A command as a list: program then arguments (no shell)');

export const backupSetSchema = z
  .strictObject({
    sources: z
      .array(itemName)
      .min(1)
      .describe('Sources captured together in one run and restored as one point'),
    repository: itemName.describe('The primary repository (backed up first, usually local)'),
    offsite: z.array(itemName).default([]).describe('Repositories the run is copied to afterwards'),
    restore: z
      .strictObject({
        stop: z
          .array(commandArgv)
          .default([])
          .describe('Commands run before restoring over live data, e.g. [[systemctl, stop, app.service]]'),
        start: z
          .array(commandArgv)
          .default([])
          .describe(
            'Commands run afterwards, also when the restore failed, e.g. [[systemctl, start, app.service]]',
          ),
      })
      .optional()
      .describe(
        "The application's services around a restore into its original paths or databases (not around restores elsewhere or the drill)",
      ),
  })
  .describe('A named group of sources backed up and restored as one point');
