// The AWS side as `snapkeep infra apply` leaves it: `<stateDir>/infra/aws/outputs.json`, an object
// with host, user, target_url, region, instance_id, volume_id, volume_name, bucket, mount_point.
// doctor reads what it needs; flags override each value.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface AwsOutputs {
  readonly host?: string;
  readonly user?: string;
  readonly targetUrl?: string;
  readonly region?: string;
  readonly instanceId?: string;
  readonly volumeId?: string;
  readonly mountPoint?: string;
}

export const defaultOutputsPath = (stateDir: string): string =>
  join(stateDir, 'infra', 'aws', 'outputs.json');

export type ParsedOutputs = { ok: true; value: AwsOutputs } | { ok: false; error: string };

/** Pure: the file's text → the values doctor uses (strings only; Terraform's {value: …} wrapping too). */
export function parseAwsOutputs(text: string): ParsedOutputs {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `is not JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return { ok: false, error: 'is not a JSON object of outputs' };
  const record = parsed as Record<string, unknown>;
  const field = (key: string): string | undefined => {
    let value = record[key];
    // `terraform output -json` wraps each value as {"value": …, "type": …}.
    if (typeof value === 'object' && value !== null && 'value' in value) value = value.value;
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  return {
    ok: true,
    value: {
      host: field('host'),
      user: field('user'),
      targetUrl: field('target_url'),
      region: field('region'),
      instanceId: field('instance_id'),
      volumeId: field('volume_id'),
      mountPoint: field('mount_point'),
    },
  };
}

export type OutputsFile =
  | { readonly state: 'found'; readonly path: string; readonly value: AwsOutputs }
  | { readonly state: 'missing'; readonly path: string }
  | { readonly state: 'invalid'; readonly path: string; readonly error: string };

export async function readAwsOutputs(path: string): Promise<OutputsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing', path };
    return { state: 'invalid', path, error: (error as Error).message };
  }
  const parsed = parseAwsOutputs(text);
  return parsed.ok
    ? { state: 'found', path, value: parsed.value }
    : { state: 'invalid', path, error: parsed.error };
}
