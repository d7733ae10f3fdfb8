// The `infra:` section: what `snapkeep infra` provisions. Each key becomes one variable of the
// OpenTofu/Terraform module in infra/aws (variables.tf validates them again, for anyone running
// the module by hand); the defaults here are the module's defaults, a test keeps them equal.
import { z } from 'zod';
import { absolutePath, itemName } from './common-schema.js';

const cidr = z
  .string()
  .regex(
    /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f:]+)\/\d{1,3}$/i,
    'is not a CIDR; expected a network such as 203.0.113.7/32 (your public address) or 2001:db8::/48',
  )
  .refine((value) => !value.endsWith('/0'), {
    message: 'opens SSH to the whole internet; expected a narrower network, or allow_ssh_from_anywhere: true',
  });

export const awsInfraSchema = z
  .strictObject({
    region: z
      .string()
      .regex(/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/, 'is not an AWS region; expected e.g. eu-central-1')
      .describe('AWS region of the target (and bucket)'),
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,22}[a-z0-9]$/,
        'is not a resource name prefix; expected 2-24 of a-z 0-9 -, starting with a letter',
      )
      .default('snapkeep')
      .describe('Prefix of every resource name and Name tag'),
    instance_type: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'is not an EC2 instance type; expected e.g. t4g.nano')
      .default('t4g.nano')
      .describe('EC2 instance type (t4g.nano: the cheapest that runs btrfs receive behind sshd)'),
    volume_size_gb: z
      .number()
      .int()
      .min(1)
      .max(16384)
      .default(100)
      .describe('Size of the encrypted gp3 backup volume in GiB (can grow later, never shrink)'),
    ssh_public_key_file: absolutePath.describe(
      'The .pub file of the key snapkeep logs in with (installed behind the target filter)',
    ),
    ssh_private_key_file: absolutePath
      .optional()
      .describe('Its private key (default: the public key file without .pub)'),
    allowed_ssh_cidrs: z
      .array(cidr)
      .default([])
      .describe('Networks allowed to reach SSH, e.g. [203.0.113.7/32]'),
    allow_ssh_from_anywhere: z
      .boolean()
      .default(false)
      .describe('Open SSH to 0.0.0.0/0 (only the filter-confined key can log in, but bots will try)'),
    backup_user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'is not a POSIX user name; expected e.g. snapkeep')
      .default('snapkeep')
      .describe('The account snapkeep logs in as on the target'),
    mount_point: absolutePath
      .default('/srv/snapkeep')
      .describe('Where the volume is mounted (backups go to <mount_point>/backups)'),
    append_only: z
      .boolean()
      .default(false)
      .describe(
        'The filter refuses deletes: a stolen key cannot remove backups; pruning becomes an admin task',
      ),
    offsite_bucket: z
      .strictObject({
        name: z
          .string()
          .regex(
            /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
            'is not an S3 bucket name; expected 3-63 of a-z 0-9 - (globally unique, no dots)',
          ),
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'is not one folder name; expected e.g. restic')
          .default('restic'),
        object_lock_days: z.number().int().min(1).max(36500).default(30),
        object_lock_mode: z.enum(['GOVERNANCE', 'COMPLIANCE']).default('GOVERNANCE'),
      })
      .optional()
      .describe(
        'Also create an S3 bucket for restic offsite: versioning, Object Lock, least-privilege identity',
      ),
    target: itemName
      .default('aws')
      .describe('Name of the target `infra apply` writes into targets: (path ssh://…, key, known_hosts)'),
    working_dir: absolutePath
      .optional()
      .describe("Where the module's copy and its state live (default <state_dir>/infra/aws); back it up"),
  })
  .superRefine((value, context) => {
    if (value.allowed_ssh_cidrs.length === 0 && !value.allow_ssh_from_anywhere)
      context.addIssue({
        code: 'custom',
        path: ['allowed_ssh_cidrs'],
        message:
          'is empty, so nothing could reach the target; expected at least one network (your public address as a.b.c.d/32), or allow_ssh_from_anywhere: true',
      });
  })
  .describe('An EC2 instance with an encrypted EBS volume as a btrfs target, made by OpenTofu/Terraform');
export type AwsInfraConfig = z.infer<typeof awsInfraSchema>;

export const infraSchema = z
  .strictObject({ aws: awsInfraSchema.optional() })
  .describe('Infrastructure `snapkeep infra` provisions');
