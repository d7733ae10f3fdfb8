// Pure pieces of `snapkeep infra` for AWS: the module's variables from the config, the refusal of
// placeholder keys, a monthly cost estimate, the target entry written back into the config and
// the seed-compatible aws_connection.env.
import { parseDocument } from 'yaml';
import type { AwsInfraConfig } from '../config/infra-schema.js';
import { publicKeyPattern } from '../remote/remote-setup.js';

/**
 * Why a public key line cannot be used, or undefined. Placeholders from templates and docs
 * ("ssh-rsa AAAA...", "REPLACE_ME", "<your key>") are refused before anything reaches AWS: an
 * instance made with them cannot be logged into.
 */
export function publicKeyProblem(line: string): string | undefined {
  const key = line.trim();
  if (key === '') return 'is empty';
  if (/REPLACE|CHANGE_?ME|YOUR[_ ]KEY|\.\.\.|…|<[^>]*>/i.test(key))
    return 'is a placeholder, not a key; expected the whole .pub line, e.g. from ssh-keygen -t ed25519 -f ~/.ssh/snapkeep';
  if (key.includes('PRIVATE KEY'))
    return 'is a PRIVATE key; expected the .pub file (never give the private key to anything)';
  if (!publicKeyPattern.test(key))
    return 'is not an OpenSSH public key line; expected "ssh-ed25519 AAAA… comment" (the .pub file)';
  const data = key.split(' ')[1] ?? '';
  // Real keys: ed25519 68 base64 characters, RSA 2048+ bits about 372; shorter is cut or made up.
  if (data.length < 68) return 'is too short to be a real key (cut off?); expected the whole .pub line';
  return undefined;
}

/** The module's variables (infra/aws/variables.tf), as written to snapkeep.auto.tfvars.json. */
export function moduleVariables(
  aws: AwsInfraConfig,
  publicKey: string,
  filterScriptPath: string,
): Record<string, unknown> {
  return {
    region: aws.region,
    name: aws.name,
    instance_type: aws.instance_type,
    volume_size_gb: aws.volume_size_gb,
    ssh_public_key: publicKey.trim(),
    allowed_ssh_cidrs: aws.allowed_ssh_cidrs,
    allow_ssh_from_anywhere: aws.allow_ssh_from_anywhere,
    backup_user: aws.backup_user,
    mount_point: aws.mount_point,
    append_only: aws.append_only,
    create_offsite_bucket: aws.offsite_bucket !== undefined,
    ...(aws.offsite_bucket
      ? {
          bucket_name: aws.offsite_bucket.name,
          bucket_prefix: aws.offsite_bucket.prefix,
          object_lock_days: aws.offsite_bucket.object_lock_days,
          object_lock_mode: aws.offsite_bucket.object_lock_mode,
        }
      : {}),
    // The working copy is not beside share/, so the filter's path is given explicitly.
    target_filter_path: filterScriptPath,
  };
}

/**
 * On-demand Linux prices in us-east-1 (USD, 2025). Other regions differ by up to ~30 %; this is
 * for "what will this cost me", not for billing. Unknown types show no instance price.
 */
const hourlyPrice: Readonly<Record<string, number>> = {
  't4g.nano': 0.0042,
  't4g.micro': 0.0084,
  't4g.small': 0.0168,
  't4g.medium': 0.0336,
  't3a.nano': 0.0047,
  't3a.micro': 0.0094,
  't3a.small': 0.0188,
  't3.nano': 0.0052,
  't3.micro': 0.0104,
  't3.small': 0.0208,
  't3.medium': 0.0416,
};
const hoursPerMonth = 730;
const gp3PerGbMonth = 0.08;
/** Every public IPv4 address is billed since February 2024. */
const publicIpv4PerHour = 0.005;
const s3StandardPerGbMonth = 0.023;

export interface CostEstimate {
  readonly lines: readonly { readonly what: string; readonly usdPerMonth: number | undefined }[];
  readonly totalUsdPerMonth: number;
  readonly notes: readonly string[];
}

export function monthlyCost(aws: AwsInfraConfig): CostEstimate {
  const instance = hourlyPrice[aws.instance_type];
  const lines = [
    {
      what: `EC2 ${aws.instance_type}, on demand, always on`,
      usdPerMonth: instance === undefined ? undefined : instance * hoursPerMonth,
    },
    {
      what: `EBS gp3 ${aws.volume_size_gb} GiB (encrypted)`,
      usdPerMonth: aws.volume_size_gb * gp3PerGbMonth,
    },
    { what: 'EBS root volume 8 GiB gp3', usdPerMonth: 8 * gp3PerGbMonth },
    { what: 'public IPv4 address', usdPerMonth: publicIpv4PerHour * hoursPerMonth },
  ];
  const notes = [
    'us-east-1 on-demand prices; other regions cost up to ~30 % more. Data into AWS is free; restores (data out) cost ~0.09 USD/GB.',
  ];
  if (instance === undefined)
    notes.push(`no price known for ${aws.instance_type}: see https://aws.amazon.com/ec2/pricing/on-demand/`);
  if (aws.offsite_bucket)
    notes.push(
      `S3 bucket ${aws.offsite_bucket.name}: ${s3StandardPerGbMonth} USD per GB-month stored, old versions included until Object Lock (${aws.offsite_bucket.object_lock_days} days) and lifecycle let them go`,
    );
  return {
    lines,
    totalUsdPerMonth: lines.reduce((total, line) => total + (line.usdPerMonth ?? 0), 0),
    notes,
  };
}

export function formatCost(estimate: CostEstimate): string[] {
  return [
    'Estimated monthly cost:',
    ...estimate.lines.map(
      (line) =>
        `  ${line.what.padEnd(44)} ${line.usdPerMonth === undefined ? '        ?' : `${line.usdPerMonth.toFixed(2).padStart(6)} USD`}`,
    ),
    `  ${'total'.padEnd(44)} ${estimate.totalUsdPerMonth.toFixed(2).padStart(6)} USD`,
    ...estimate.notes.map((note) => `  (${note})`),
  ];
}

/** The outputs of infra/aws/outputs.tf snapkeep uses after apply. */
export interface AwsTargetOutputs {
  readonly host: string;
  readonly user: string;
  readonly targetUrl: string;
  readonly region: string;
  readonly instanceId: string;
  readonly volumeId: string;
  readonly volumeName: string;
  readonly bucket?: string;
  readonly mountPoint?: string;
}

/** `tofu output -json` → the values; `problem` names the first missing one. */
export function parseModuleOutputs(
  text: string,
): { ok: true; value: AwsTargetOutputs } | { ok: false; problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'the output is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null)
    return { ok: false, problem: 'the output is not an object' };
  const record = parsed as Record<string, unknown>;
  const value = (key: string): string | undefined => {
    const entry = record[key];
    const inner = typeof entry === 'object' && entry !== null && 'value' in entry ? entry.value : entry;
    return typeof inner === 'string' && inner !== '' ? inner : undefined;
  };
  const required = ['host', 'user', 'target_url', 'region', 'instance_id', 'volume_id', 'volume_name'];
  const missing = required.filter((key) => value(key) === undefined);
  if (missing.length > 0) return { ok: false, problem: `outputs missing: ${missing.join(', ')}` };
  return {
    ok: true,
    value: {
      host: value('host')!,
      user: value('user')!,
      targetUrl: value('target_url')!,
      region: value('region')!,
      instanceId: value('instance_id')!,
      volumeId: value('volume_id')!,
      volumeName: value('volume_name')!,
      bucket: value('bucket'),
      mountPoint: value('mount_point'),
    },
  };
}

export interface TargetEntry {
  readonly path: string;
  readonly identityFile: string;
  readonly knownHosts: string;
}

/**
 * The config text with `targets.<name>` set to the new host (comments and layout of everything
 * else kept). Subvolumes are not changed: which ones go to the new target is the user's choice.
 */
export function withTarget(configText: string, name: string, entry: TargetEntry): string {
  const document = parseDocument(configText);
  document.setIn(
    ['targets', name],
    document.createNode({
      path: entry.path,
      ssh: { identity_file: entry.identityFile, known_hosts: entry.knownHosts },
    }),
  );
  return document.toString();
}

/** The seed's aws_connection.env (its variable names), for anyone still using its scripts. */
export function connectionEnv(outputs: AwsTargetOutputs, privateKey: string, now: Date): string {
  const path = outputs.targetUrl.replace(/^ssh:\/\/[^/]+/, '');
  return [
    '# AWS backup target connection details, written by snapkeep infra apply',
    `# on ${now.toISOString()}. snapkeep itself reads its config; this file is for the`,
    "# original setup's scripts: source aws_connection.env",
    `BTRBK_AWS_HOST=${outputs.host}`,
    `BTRBK_AWS_USER=${outputs.user}`,
    `BTRBK_AWS_SSH_KEY=${privateKey}`,
    `BTRBK_AWS_TARGET=${outputs.targetUrl}`,
    `BTRBK_AWS_PATH=${path}`,
    `BTRBK_AWS_INSTANCE_ID=${outputs.instanceId}`,
    `BTRBK_AWS_VOLUME_ID=${outputs.volumeId}`,
    `BTRBK_AWS_REGION=${outputs.region}`,
    '',
  ].join('\n');
}
