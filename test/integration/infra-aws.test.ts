// infra/aws without AWS: no provider can be downloaded here, so what is checked is what Terraform
// can check offline (fmt, validate, `terraform test` on the provider-free modules) and the module's
// structure, parsed with @cdktf/hcl2json. The AWS API itself is never called; how the resources
// behave in AWS rests on the provider's documented semantics. The boot script runs for real in
// infra-user-data.test.ts.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTerraformSandbox,
  evaluateInModule,
  infraDirectory,
  isObject,
  parseHclFile,
  parseModule,
  requireTerraform,
  settingsDirectory,
  userDataDirectory,
  type HclObject,
  type TerraformSandbox,
} from '../helpers/terraform.js';

const sshKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEFDo1gLMX5eH0FIi/8+CAK++VgDMqTPa9fHZWrQRxPr test';

let sandbox: TerraformSandbox | undefined;
let root: HclObject;
let settings: HclObject;
let userData: HclObject;

function terraform(): TerraformSandbox {
  if (!sandbox) throw new Error('terraform sandbox not created (see beforeAll)');
  return sandbox;
}

beforeAll(async () => {
  await requireTerraform();
  sandbox = await createTerraformSandbox();
  root = await parseModule(infraDirectory);
  settings = await parseModule(settingsDirectory);
  userData = await parseModule(userDataDirectory);
  // Installs the local submodules into the sandbox's data directory (no network, no provider).
  const got = await terraform().run(infraDirectory, ['get', '-no-color']);
  expect(got.exitCode, got.stderr).toBe(0);
});

afterAll(async () => {
  await sandbox?.cleanup();
});

/** The bodies of `<kind> "<type>" "<name>"` blocks (kind: resource or data). */
function blocks(document: HclObject, kind: string, type: string): Map<string, HclObject> {
  const byType = document[kind];
  const found = new Map<string, HclObject>();
  if (!isObject(byType) || !isObject(byType[type])) return found;
  for (const [name, bodies] of Object.entries(byType[type])) {
    if (Array.isArray(bodies) && isObject(bodies[0])) found.set(name, bodies[0]);
  }
  return found;
}

function one(document: HclObject, kind: string, type: string): HclObject {
  const found = [...blocks(document, kind, type).values()];
  expect(found, `${kind} ${type}`).toHaveLength(1);
  return found[0]!;
}

/** A nested block's first body, e.g. metadata_options. */
function nested(body: HclObject, name: string): HclObject {
  const value = body[name];
  if (!Array.isArray(value) || !isObject(value[0])) throw new Error(`no ${name} block`);
  return value[0];
}

function named(document: HclObject, kind: 'variable' | 'output' | 'module'): Map<string, HclObject> {
  const found = new Map<string, HclObject>();
  const entries = document[kind];
  if (!isObject(entries)) return found;
  for (const [name, bodies] of Object.entries(entries)) {
    if (Array.isArray(bodies) && isObject(bodies[0])) found.set(name, bodies[0]);
  }
  return found;
}

function allStrings(value: unknown, into: string[] = []): string[] {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) allStrings(item, into);
  else if (isObject(value)) for (const [key, item] of Object.entries(value)) allStrings([key, item], into);
  return into;
}

describe('terraform, offline', () => {
  it('fmt -check -recursive finds nothing to change', async () => {
    const result = await terraform().run(infraDirectory, ['fmt', '-check', '-recursive', '-no-color', '.']);
    expect(result.exitCode, `not formatted: ${result.stdout}${result.stderr}`).toBe(0);
  });

  it('validate: the root module lacks only its provider; the provider-free modules are valid', async () => {
    const rootResult = await terraform().run(infraDirectory, ['validate', '-json', '-no-color']);
    const report = JSON.parse(rootResult.stdout) as { diagnostics: { severity: string; summary: string }[] };
    // Without the AWS provider validate stops after parsing: anything but the missing provider
    // is a syntax or structure error of ours.
    const ours = report.diagnostics.filter(
      (diagnostic) => diagnostic.summary !== 'Missing required provider',
    );
    expect(ours).toEqual([]);
    for (const directory of [settingsDirectory, userDataDirectory]) {
      const result = await terraform().run(directory, ['validate', '-json', '-no-color']);
      const moduleReport = JSON.parse(result.stdout) as { valid: boolean; diagnostics: unknown[] };
      expect(moduleReport, directory).toMatchObject({ valid: true, diagnostics: [] });
    }
  });

  it('terraform test: every validation and cross-check of the inputs, the rendered user data', async () => {
    const result = await terraform().run(infraDirectory, ['test', '-no-color']);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const summary = /Success! (\d+) passed, 0 failed\./.exec(result.stdout);
    expect(summary, result.stdout).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThanOrEqual(50);
  });

  it('leaves nothing in the module directory (state, lock file, .terraform)', () => {
    for (const name of ['.terraform', 'terraform.tfstate', '.terraform.lock.hcl', 'terraform.tfstate.d'])
      expect(existsSync(join(infraDirectory, name)), name).toBe(false);
  });
});

describe('structure of the root module', () => {
  it('the backup volume is encrypted gp3; the instance takes its zone from the volume', () => {
    const volume = one(root, 'resource', 'aws_ebs_volume');
    expect(volume).toMatchObject({ type: 'gp3', encrypted: true, size: '${var.volume_size_gb}' });
    expect(nested(volume, 'lifecycle')).toMatchObject({ ignore_changes: ['${availability_zone}'] });
    const instance = one(root, 'resource', 'aws_instance');
    // Seed 000 Task 1, bug 1: the zone came from the security group, which has none.
    expect(instance.availability_zone).toBe('${aws_ebs_volume.backups.availability_zone}');
    expect(JSON.stringify(instance)).not.toMatch(/aws_security_group\.[a-z_]+\.availability_zone/);
    expect(one(root, 'resource', 'aws_volume_attachment')).toMatchObject({
      volume_id: '${aws_ebs_volume.backups.id}',
      instance_id: '${aws_instance.target.id}',
      stop_instance_before_detaching: true,
    });
  });

  it('the instance requires IMDSv2, encrypts its root disk, and gets gzip-compressed user data', () => {
    const instance = one(root, 'resource', 'aws_instance');
    expect(nested(instance, 'metadata_options')).toMatchObject({
      http_tokens: 'required',
      http_endpoint: 'enabled',
      http_put_response_hop_limit: 1,
    });
    expect(nested(instance, 'root_block_device')).toMatchObject({ encrypted: true, volume_type: 'gp3' });
    expect(instance.user_data_base64).toBe('${base64gzip(module.user_data.content)}');
    expect(instance.user_data_replace_on_change).toBe(true);
    expect(instance).not.toHaveProperty('user_data');
    // volume_tags would also rewrite the Name of the attached backup volume.
    expect(instance).not.toHaveProperty('volume_tags');
    expect(nested(instance, 'lifecycle')).toMatchObject({ ignore_changes: ['${ami}'] });
  });

  it('opens SSH only to the allowed networks; 0.0.0.0/0 and ::/0 only through allow_ssh_from_anywhere', () => {
    const group = one(root, 'resource', 'aws_security_group');
    expect(group).not.toHaveProperty('ingress');
    expect(group).not.toHaveProperty('egress');
    const ingress = one(root, 'resource', 'aws_vpc_security_group_ingress_rule');
    expect(ingress).toMatchObject({
      for_each: '${toset(module.settings.ssh_cidrs)}',
      from_port: 22,
      to_port: 22,
      ip_protocol: 'tcp',
    });
    // The only open-world literals of the root module are the egress rules (HTTP/S for apt).
    const egress = one(root, 'resource', 'aws_vpc_security_group_egress_rule');
    expect(JSON.stringify(egress.for_each)).not.toContain('"port":22');
    const withoutEgress = {
      ...root,
      variable: undefined, // descriptions and messages may name them
      resource: { ...(root.resource as HclObject), aws_vpc_security_group_egress_rule: undefined },
    };
    expect(allStrings(withoutEgress).filter((text) => /0\.0\.0\.0\/0|::\/0/.test(text))).toEqual([]);
    // In the settings module the open world is behind the boolean, and nowhere else.
    const openWorld = allStrings(settings.locals).filter((text) => /0\.0\.0\.0\/0|::\/0/.test(text));
    expect(openWorld).toEqual([
      '${distinct(concat(var.allowed_ssh_cidrs, var.allow_ssh_from_anywhere ? ["0.0.0.0/0", "::/0"] : []))}',
    ]);
    const anywhere = named(root, 'variable').get('allow_ssh_from_anywhere');
    expect(anywhere).toMatchObject({ type: '${bool}', default: false, nullable: false });
  });

  it("the admin key pair exists only on request and never from snapkeep's key", () => {
    const keyPair = one(root, 'resource', 'aws_key_pair');
    expect(keyPair.count).toBe('${module.settings.admin_ssh_public_key == "" ? 0 : 1}');
    expect(keyPair.public_key).toBe('${module.settings.admin_ssh_public_key}');
    expect(JSON.stringify(keyPair)).not.toContain('var.ssh_public_key');
  });

  it('the bucket: Object Lock from creation, versioning, default retention, no public access, encryption', () => {
    const bucket = one(root, 'resource', 'aws_s3_bucket');
    expect(bucket).toMatchObject({ object_lock_enabled: true, force_destroy: false });
    expect(nested(one(root, 'resource', 'aws_s3_bucket_versioning'), 'versioning_configuration')).toEqual({
      status: 'Enabled',
    });
    const lock = nested(one(root, 'resource', 'aws_s3_bucket_object_lock_configuration'), 'rule');
    expect(nested(lock, 'default_retention')).toEqual({
      mode: '${var.object_lock_mode}',
      days: '${var.object_lock_days}',
    });
    expect(one(root, 'resource', 'aws_s3_bucket_public_access_block')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    const encryption = nested(
      one(root, 'resource', 'aws_s3_bucket_server_side_encryption_configuration'),
      'rule',
    );
    expect(nested(encryption, 'apply_server_side_encryption_by_default')).toEqual({
      sse_algorithm: 'AES256',
    });
    // Lifecycle only ever removes noncurrent versions: current restic packs never expire.
    const lifecycle = nested(one(root, 'resource', 'aws_s3_bucket_lifecycle_configuration'), 'rule');
    expect(Object.keys(lifecycle).sort()).toEqual([
      'filter',
      'id',
      'noncurrent_version_expiration',
      'status',
    ]);
    // No access key resource: no secret in the state file.
    expect(blocks(root, 'resource', 'aws_iam_access_key').size).toBe(0);
  });

  it('the IAM policies grant what docs/aws-backup-policy.json grants and nothing destructive', async () => {
    const variables = {
      region: 'eu-central-1',
      ssh_public_key: sshKey,
      allowed_ssh_cidrs: ['203.0.113.7/32'],
      create_offsite_bucket: true,
      bucket_name: 'snapkeep-offsite-test',
      bucket_prefix: 'repo',
    };
    const policies = (await evaluateInModule(
      terraform(),
      settingsDirectory,
      '{ backup = jsondecode(local.backup_policy), admin = jsondecode(local.admin_policy) }',
      variables,
    )) as Record<'backup' | 'admin', Policy>;
    const documented = JSON.parse(
      (await readFile(join(infraDirectory, '../../docs/aws-backup-policy.json'), 'utf8'))
        .replaceAll('BUCKET', 'snapkeep-offsite-test')
        .replaceAll('PREFIX', 'repo'),
    ) as Policy;
    expect(grants(policies.backup).sort()).toEqual(grants(documented).sort());

    for (const [who, policy] of Object.entries(policies)) {
      const allowed = grants(policy).filter((grant) => grant.startsWith('Allow '));
      for (const grant of allowed) {
        const [, action] = grant.split(' ');
        expect(action, `${who}: ${grant}`).not.toMatch(
          /^s3:(\*|DeleteObjectVersion|BypassGovernanceRetention|PutBucket.*|PutObjectRetention|PutObjectLegalHold|PutLifecycleConfiguration|DeleteBucket)$/,
        );
      }
      const denied = new Set(
        policy.Statement.filter((s) => s.Effect === 'Deny').flatMap((s) => list(s.Action)),
      );
      for (const action of [
        's3:DeleteObjectVersion',
        's3:BypassGovernanceRetention',
        's3:PutBucketVersioning',
      ])
        expect(denied.has(action), `${who} denies ${action}`).toBe(true);
    }
    const backupDeletes = grants(policies.backup).filter((grant) =>
      grant.startsWith('Allow s3:DeleteObject '),
    );
    expect(backupDeletes).toEqual([
      'Allow s3:DeleteObject arn:aws:s3:::snapkeep-offsite-test/repo/locks/* -',
    ]);
  });

  it('every input has a validation block (booleans: type bool, not nullable); settings carries a copy', async () => {
    const variables = named(root, 'variable');
    expect(variables.size).toBeGreaterThanOrEqual(12);
    for (const [name, body] of variables) {
      if (body.type === '${bool}') {
        expect(body, name).toMatchObject({ nullable: false });
        continue;
      }
      expect(
        Array.isArray(body.validation) && body.validation.length > 0,
        `${name} has a validation block`,
      ).toBe(true);
    }
    const [rootFile, copy] = await Promise.all([
      readFile(join(infraDirectory, 'variables.tf'), 'utf8'),
      readFile(join(settingsDirectory, 'variables.tf'), 'utf8'),
    ]);
    expect(
      copy,
      'modules/settings/variables.tf must equal variables.tf (cp variables.tf modules/settings/)',
    ).toBe(rootFile);
    // Every variable reaches the settings module, so its validations and cross-checks run.
    const passed = Object.keys(named(root, 'module').get('settings') ?? {});
    expect([...variables.keys()].filter((name) => !passed.includes(name))).toEqual([]);
  });

  it('offers the variables and outputs `snapkeep infra` relies on', () => {
    const variables = named(root, 'variable');
    const contract: Record<string, string> = {
      region: '${string}',
      name: '${string}',
      instance_type: '${string}',
      volume_size_gb: '${number}',
      ssh_public_key: '${string}',
      allowed_ssh_cidrs: '${list(string)}',
      allow_ssh_from_anywhere: '${bool}',
      backup_user: '${string}',
      mount_point: '${string}',
      create_offsite_bucket: '${bool}',
      bucket_name: '${string}',
      object_lock_days: '${number}',
    };
    for (const [name, type] of Object.entries(contract)) expect(variables.get(name)?.type, name).toBe(type);
    expect(variables.get('name')?.default).toBe('snapkeep');
    expect(variables.get('backup_user')?.default).toBe('snapkeep');
    expect(variables.get('mount_point')?.default).toBe('/srv/snapkeep');
    expect(variables.get('allowed_ssh_cidrs')?.default).toEqual([]);
    expect(variables.get('create_offsite_bucket')?.default).toBe(false);
    expect(variables.get('bucket_name')?.default).toBe('');
    const outputs = named(root, 'output');
    for (const name of [
      'host',
      'user',
      'target_url',
      'region',
      'instance_id',
      'volume_id',
      'volume_name',
      'bucket',
      'mount_point',
    ])
      expect(outputs.has(name), `output ${name}`).toBe(true);
    expect(outputs.get('target_url')?.value).toBe(
      'ssh://${var.backup_user}@${aws_eip.target.public_ip}${module.settings.backup_root}',
    );
    expect(outputs.get('instance_id')?.value).toBe('${aws_instance.target.id}');
    // "none" is "" (a null output is missing from `output -json`).
    for (const [name, body] of outputs) expect(String(body.value), name).not.toMatch(/:\s*null\s*\}$/);
  });

  it('every reference resolves (validate cannot check this without the provider)', () => {
    const problems = [
      ...unresolved(root, { modules: { settings, user_data: userData } }),
      ...unresolved(settings, { modules: {} }),
      ...unresolved(userData, { modules: {} }),
    ];
    expect(problems).toEqual([]);
  });

  it('terraform.tfvars.example: declared names only; its placeholder key is refused, everything else passes', async () => {
    const example = await parseHclFile(join(infraDirectory, 'terraform.tfvars.example'));
    const declared = [...named(root, 'variable').keys()];
    expect(Object.keys(example).filter((name) => !declared.includes(name))).toEqual([]);
    // terraform's own reader on the file itself, through the settings module (all validations
    // and cross-checks; plan writes no state).
    const plan = [
      'plan',
      '-no-color',
      '-input=false',
      '-lock=false',
      '-var-file=../../terraform.tfvars.example',
    ];
    const refused = await terraform().run(settingsDirectory, plan);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('still a placeholder');
    const accepted = await terraform().run(settingsDirectory, [...plan, '-var', `ssh_public_key=${sshKey}`]);
    expect(accepted.exitCode, accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(/backup_root\s+=\s+"\/srv\/snapkeep\/backups"/);
  });
});

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: unknown;
}
interface Policy {
  readonly Statement: Statement[];
}

function list(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

/** "Effect action resource condition" for every action × resource of a policy. */
function grants(policy: Policy): string[] {
  return policy.Statement.flatMap((statement) =>
    list(statement.Action).flatMap((action) =>
      list(statement.Resource).map(
        (resource) =>
          `${statement.Effect} ${action} ${resource} ${statement.Condition ? JSON.stringify(statement.Condition) : '-'}`,
      ),
    ),
  );
}

/** References to variables, locals, module outputs, resources and data sources nobody declares. */
function unresolved(document: HclObject, context: { modules: Record<string, HclObject> }): string[] {
  const variables = named(document, 'variable');
  const locals = new Set(
    (Array.isArray(document.locals) ? document.locals : []).flatMap((body) =>
      isObject(body) ? Object.keys(body) : [],
    ),
  );
  const problems: string[] = [];
  const expressions = allStrings({ ...document, variable: undefined }).filter((text) => text.includes('${'));
  // Validation conditions may only name their own variable: check them separately.
  for (const [name, body] of variables)
    for (const text of allStrings(body.validation))
      for (const match of text.matchAll(/\bvar\.([A-Za-z_][\w-]*)/g))
        if (match[1] !== name) problems.push(`variable ${name}: validation refers to var.${match[1]}`);
  for (const text of expressions) {
    for (const match of text.matchAll(/\bvar\.([A-Za-z_][\w-]*)/g))
      if (!variables.has(match[1]!)) problems.push(`var.${match[1]} (${text})`);
    for (const match of text.matchAll(/\blocal\.([A-Za-z_][\w-]*)/g))
      if (!locals.has(match[1]!)) problems.push(`local.${match[1]} (${text})`);
    for (const match of text.matchAll(/\bmodule\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)/g)) {
      const target = context.modules[match[1]!];
      if (!target || !named(target, 'output').has(match[2]!)) problems.push(`module.${match[1]}.${match[2]}`);
    }
    for (const match of text.matchAll(/\bdata\.(aws_\w+)\.(\w+)/g))
      if (!blocks(document, 'data', match[1]!).has(match[2]!)) problems.push(`data.${match[1]}.${match[2]}`);
    for (const match of text.matchAll(/(?<![\w.])(aws_\w+)\.(\w+)/g))
      if (!blocks(document, 'resource', match[1]!).has(match[2]!)) problems.push(`${match[1]}.${match[2]}`);
  }
  return problems;
}
