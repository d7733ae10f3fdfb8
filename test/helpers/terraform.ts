// Terraform for offline tests of infra/aws: an empty CLI configuration (no credentials helpers, no
// plugin cache), no update check, and a data directory in a temporary folder, so a test writes
// nothing into the repository and never reaches the network. The AWS provider cannot be
// downloaded here (FACTS §3); tests use what works without it (fmt, validate, test and console on
// the provider-free modules, get for local modules).
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { runCommand, type CommandResult } from '../../src/exec/command.js';

export const infraDirectory = fileURLToPath(new URL('../../infra/aws/', import.meta.url));
export const settingsDirectory = join(infraDirectory, 'modules/settings');
export const userDataDirectory = join(infraDirectory, 'modules/user-data');
export const filterScriptPath = fileURLToPath(
  new URL('../../share/snapkeep-target-filter.sh', import.meta.url),
);

export interface TerraformSandbox {
  /** Runs terraform in `cwd` with its own data directory per working directory. */
  run(cwd: string, args: readonly string[], input?: string): Promise<CommandResult>;
  readonly directory: string;
  cleanup(): Promise<void>;
}

/** Fails (never skips) when terraform is missing: these tests are the module's only checks here. */
export async function requireTerraform(): Promise<void> {
  const found = await runCommand({ file: 'terraform', args: ['version'] }).catch(() => undefined);
  if (!found || found.exitCode !== 0)
    throw new Error(
      'terraform is not installed or does not run: the infra/aws tests need it (Terraform 1.6+ on PATH, /usr/local/bin/terraform on this machine)',
    );
}

export async function createTerraformSandbox(): Promise<TerraformSandbox> {
  const directory = await mkdtemp(join(tmpdir(), 'snapkeep-terraform-'));
  const cliConfig = join(directory, 'empty.tfrc');
  await writeFile(cliConfig, '');
  const dataDirectories = new Map<string, string>();
  return {
    directory,
    run(cwd, args, input) {
      let dataDirectory = dataDirectories.get(cwd);
      if (!dataDirectory) {
        dataDirectory = join(directory, `data-${dataDirectories.size}`);
        dataDirectories.set(cwd, dataDirectory);
      }
      return runCommand({
        file: 'terraform',
        args,
        cwd,
        input,
        timeoutMs: 120_000,
        env: {
          TF_CLI_CONFIG_FILE: cliConfig,
          TF_DATA_DIR: dataDirectory,
          CHECKPOINT_DISABLE: '1',
          TF_IN_AUTOMATION: '1',
          TF_INPUT: '0',
        },
      });
    },
    async cleanup() {
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Evaluates an expression in a provider-free module with `terraform console` (the module's own
 * locals, its real templates). The value travels as base64 of JSON: console prints strings in HCL
 * syntax, which would otherwise need unescaping (`$${`, `%%{`).
 */
export async function evaluateInModule(
  sandbox: TerraformSandbox,
  moduleDirectory: string,
  expression: string,
  variables: Readonly<Record<string, unknown>>,
): Promise<unknown> {
  const variablesFile = join(sandbox.directory, `vars-${Date.now()}-${Math.random()}.tfvars.json`);
  await writeFile(variablesFile, JSON.stringify(variables));
  const result = await sandbox.run(
    moduleDirectory,
    ['console', '-no-color', `-var-file=${variablesFile}`],
    `base64encode(jsonencode(${expression}))\n`,
  );
  if (result.exitCode !== 0)
    throw new Error(`terraform console failed (exit ${result.exitCode}): ${result.stderr || result.stdout}`);
  const encoded = /^"([A-Za-z0-9+/=]*)"$/m.exec(result.stdout)?.[1];
  if (encoded === undefined) throw new Error(`unexpected terraform console output: ${result.stdout}`);
  return JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as unknown;
}

/** hcl2json's shape: block type → (labels →)* list of bodies; expressions as "${…}" strings. */
export type HclObject = Record<string, unknown>;

function mergeInto(target: HclObject, source: HclObject): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (Array.isArray(existing) && Array.isArray(value)) existing.push(...(value as unknown[]));
    else if (isObject(existing) && isObject(value)) mergeInto(existing, value);
    else target[key] = value;
  }
}

export function isObject(value: unknown): value is HclObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every .tf file of a directory (not its subdirectories), parsed and merged into one document. */
export async function parseModule(directory: string): Promise<HclObject> {
  const merged: HclObject = {};
  const names = (await readdir(directory)).filter((name) => name.endsWith('.tf')).sort();
  for (const name of names) {
    const parsed = (await parse(name, await readFile(join(directory, name), 'utf8'))) as HclObject;
    mergeInto(merged, parsed);
  }
  return merged;
}

export async function parseHclFile(path: string): Promise<HclObject> {
  return (await parse(path, await readFile(path, 'utf8'))) as HclObject;
}
