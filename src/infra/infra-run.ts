// `infra init | plan | apply | destroy | output`: the AWS target (infra/aws) through OpenTofu or
// Terraform. The module is copied into a working directory beside snapkeep's state (default
// <state_dir>/infra/aws; its terraform.tfstate is what knows the resources: back it up), the
// variables come from the config's `infra.aws`, and nothing reaches AWS before the prerequisites
// pass. apply shows the plan and a monthly cost, asks (or takes `yes`), waits until the instance
// answers over SSH, records its host key, runs the smoke tests and writes the new target into the
// config. destroy says that the backups go with the volume and wants its name.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AwsInfraConfig } from '../config/infra-schema.js';
import { loadConfig } from '../config/load-config.js';
import { probeTcp } from '../doctor/tcp-probe.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { runCommand, type CommandResult, type CommandSpec } from '../exec/command.js';
import { parseSshUrl } from '../remote/ssh-url.js';
import type { Journal } from '../state/journal.js';
import { withRun, type RunRequest } from '../state/run-lifecycle.js';
import {
  connectionEnv,
  moduleVariables,
  monthlyCost,
  parseModuleOutputs,
  publicKeyProblem,
  withTarget,
  type AwsTargetOutputs,
  type CostEstimate,
} from './aws-target.js';
import { smokeTestTarget, type SmokeTestEvent } from './smoke-tests.js';
import {
  applyCommand,
  copyModule,
  detectInfraTool,
  filterScriptPath,
  initCommand,
  outputCommand,
  planCommand,
  planFileName,
  variablesFileName,
  type InfraTool,
} from './terraform.js';

export type InfraAction = 'init' | 'plan' | 'apply' | 'destroy' | 'output';

/** What `infra` reports as it goes (the command renders text or JSON from these). */
export type InfraEvent =
  | {
      /** The module and its variables are in the working directory; `init` is next. */
      readonly type: 'infra-module';
      readonly workingDir: string;
      readonly variablesFile: string;
      readonly tool: InfraTool['name'];
    }
  | { readonly type: 'infra-init'; readonly workingDir: string; readonly tool: InfraTool['name'] }
  | {
      readonly type: 'infra-plan';
      readonly destroy: boolean;
      /** The plan's "Plan: …" (or "No changes.") line. */
      readonly summary: string;
      /** The tool's plan, as it printed it. */
      readonly plan: string;
    }
  | ({ readonly type: 'infra-cost' } & CostEstimate)
  | { readonly type: 'infra-applying'; readonly tool: InfraTool['name'] }
  | ({ readonly type: 'infra-outputs' } & AwsTargetOutputs)
  | {
      readonly type: 'infra-ssh-wait';
      readonly host: string;
      readonly port: number;
      readonly waitSeconds: number;
    }
  | {
      readonly type: 'infra-ssh';
      readonly host: string;
      readonly port: number;
      readonly knownHosts: string;
      readonly attempts: number;
      /** `ssh-keygen -l` of the recorded host keys. */
      readonly fingerprints: string;
    }
  | SmokeTestEvent
  | {
      /** The new host failed its smoke tests: the config was not changed. */
      readonly type: 'infra-smoke-failed';
      readonly failed: readonly string[];
    }
  | {
      readonly type: 'infra-config';
      readonly target: string;
      readonly path: string;
      readonly configPath: string;
      /** The seed scripts' connection details. */
      readonly connectionEnv: string;
    }
  | {
      /** What destroy deletes, said before its plan. */
      readonly type: 'infra-destroy-warning';
      readonly instance: string;
      readonly volume: string;
      readonly volumeName: string;
      readonly region: string;
      readonly bucket?: string;
    }
  | {
      readonly type: 'infra-destroyed';
      readonly instance: string;
      readonly volume: string;
      /** The target still in the config, to remove by hand. */
      readonly target: string;
      readonly configPath: string;
    }
  | {
      /** apply or destroy under --dry-run: the plan was shown, nothing changed. */
      readonly type: 'summary';
      readonly command: 'infra-apply' | 'infra-destroy';
      readonly dryRun: true;
      readonly exitCode: number;
    };

export interface InfraRequest {
  readonly config?: string;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** destroy without a terminal: the volume's name, typed ahead. */
  readonly confirmVolume?: string;
  /** Seconds to wait for the new instance to answer over SSH. */
  readonly waitSeconds: number;
  /** Asks a person (on a terminal) and returns the answer; absent: apply needs `yes`, destroy `confirmVolume`. */
  readonly ask?: (question: string) => Promise<string>;
}

type Report = (event: InfraEvent) => void;

interface Context {
  readonly report: Report;
  readonly tool: InfraTool;
  readonly aws: AwsInfraConfig;
  readonly configPath: string;
  readonly stateDir: string;
  readonly workingDir: string;
  readonly privateKey: string;
  readonly sshOptions: Record<string, unknown>;
}

/** Where doctor and later runs find what apply made. */
export const outputsFile = (stateDir: string): string => join(stateDir, 'infra', 'aws', 'outputs.json');

function awsCredentialsSource(): string | undefined {
  const env = process.env;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return 'AWS_ACCESS_KEY_ID';
  if (env.AWS_PROFILE) return `AWS_PROFILE=${env.AWS_PROFILE}`;
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE) return 'AWS_WEB_IDENTITY_TOKEN_FILE';
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI)
    return 'the container credentials endpoint';
  for (const file of [
    env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials'),
    env.AWS_CONFIG_FILE ?? join(homedir(), '.aws', 'config'),
  ])
    if (existsSync(file)) return file;
  return undefined;
}

/** Everything checked before anything runs; all problems at once, each with its fix. */
async function prepare(
  configPath: string | undefined,
  action: InfraAction,
  report: Report,
): Promise<Context> {
  const loaded = await loadConfig(configPath);
  const aws = loaded.config.infra?.aws;
  if (!aws)
    throw new UsageError(
      `${loaded.path}: no infra.aws section; add one (snapkeep config init prints a commented example) with at least region, ssh_public_key_file and allowed_ssh_cidrs`,
    );
  const problems: string[] = [];
  const tool = await detectInfraTool();
  if (!tool)
    problems.push(
      'neither tofu nor terraform is installed: install OpenTofu (https://opentofu.org/docs/intro/install/deb/) or Terraform, or set SNAPKEEP_TOFU to its path',
    );
  if (action !== 'output' && !awsCredentialsSource())
    problems.push(
      'no AWS credentials: set AWS_PROFILE (after `aws configure --profile NAME`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, for an IAM identity allowed to manage EC2 (and S3/IAM with offsite_bucket)',
    );
  const privateKey = aws.ssh_private_key_file ?? aws.ssh_public_key_file.replace(/\.pub$/, '');
  if (action === 'plan' || action === 'apply' || action === 'init') {
    let publicKey = '';
    try {
      publicKey = await readFile(aws.ssh_public_key_file, 'utf8');
    } catch {
      problems.push(
        `infra.aws.ssh_public_key_file: ${aws.ssh_public_key_file} cannot be read; create a key with: ssh-keygen -t ed25519 -f ${aws.ssh_public_key_file.replace(/\.pub$/, '')} -N ''`,
      );
    }
    const keyProblem = publicKey ? publicKeyProblem(publicKey) : undefined;
    if (keyProblem) problems.push(`infra.aws.ssh_public_key_file: ${aws.ssh_public_key_file} ${keyProblem}`);
    if (!existsSync(privateKey))
      problems.push(
        `the private key ${privateKey} is missing (snapkeep logs in with it); set infra.aws.ssh_private_key_file or create the pair with ssh-keygen`,
      );
  }
  if (problems.length > 0)
    throw new UsageError(
      `infra ${action}: prerequisites missing (nothing was changed):\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
    );
  const stateDir = loaded.config.state_dir;
  return {
    report,
    tool: tool!,
    aws,
    configPath: loaded.path,
    stateDir,
    workingDir: aws.working_dir ?? join(stateDir, 'infra', 'aws'),
    privateKey,
    sshOptions: (loaded.input.ssh as Record<string, unknown> | undefined) ?? {},
  };
}

async function run(context: Context, spec: CommandSpec, what: string): Promise<CommandResult> {
  const result = await runCommand(spec);
  if (result.exitCode !== 0)
    throw new SnapkeepError(
      `${context.tool.name} ${what} failed (exit ${result.exitCode ?? result.signal}):\n${(result.stderr || result.stdout).trim()}`,
    );
  return result;
}

/** Module copy, variables and `init`: safe to repeat, never touches AWS resources. */
async function initialise(context: Context): Promise<void> {
  const { aws, workingDir, report } = context;
  await copyModule(workingDir);
  const publicKey = await readFile(aws.ssh_public_key_file, 'utf8');
  await writeFile(
    join(workingDir, variablesFileName),
    `${JSON.stringify(moduleVariables(aws, publicKey, filterScriptPath), null, 2)}\n`,
    { mode: 0o600 },
  );
  report({ type: 'infra-module', workingDir, variablesFile: variablesFileName, tool: context.tool.name });
  await run(context, initCommand(context.tool, workingDir), 'init');
  report({ type: 'infra-init', workingDir, tool: context.tool.name });
}

async function plan(context: Context, destroy: boolean): Promise<string> {
  const result = await run(context, planCommand(context.tool, context.workingDir, destroy), 'plan');
  const text = result.stdout.trim();
  const summary = /^(Plan: .*|No changes\..*)$/m.exec(text)?.[1] ?? '(no summary line in the plan)';
  context.report({ type: 'infra-plan', destroy, summary, plan: text });
  return summary;
}

async function readOutputs(context: Context): Promise<AwsTargetOutputs> {
  const result = await run(context, outputCommand(context.tool, context.workingDir), 'output');
  const parsed = parseModuleOutputs(result.stdout);
  if (!parsed.ok)
    throw new SnapkeepError(
      `${context.tool.name} output: ${parsed.problem} (was the module applied? run snapkeep infra apply)`,
    );
  return parsed.value;
}

/** Until the port answers and the host key can be read; the key is recorded for every later run. */
async function waitForSsh(context: Context, outputs: AwsTargetOutputs, waitSeconds: number): Promise<string> {
  const parsed = parseSshUrl(outputs.targetUrl);
  if (!parsed.ok) throw new SnapkeepError(`output target_url ${outputs.targetUrl}: ${parsed.error}`);
  const { host, port = 22 } = parsed.value;
  const deadline = Date.now() + waitSeconds * 1000;
  const knownHosts = join(context.workingDir, 'known_hosts');
  context.report({ type: 'infra-ssh-wait', host, port, waitSeconds });
  for (let attempt = 1; ; attempt++) {
    const probe = await probeTcp(host, port, 5000);
    if (probe.kind === 'open') {
      const scan = await runCommand({
        file: 'ssh-keyscan',
        args: ['-T', '10', '-p', String(port), '-t', 'ed25519,ecdsa,rsa', host],
      });
      if (scan.exitCode === 0 && scan.stdout.trim() !== '') {
        await writeFile(knownHosts, scan.stdout, { mode: 0o644 });
        const fingerprints = await runCommand({ file: 'ssh-keygen', args: ['-l', '-f', knownHosts] });
        context.report({
          type: 'infra-ssh',
          host,
          port,
          knownHosts,
          attempts: attempt,
          fingerprints: fingerprints.stdout.trim(),
        });
        return knownHosts;
      }
    }
    if (Date.now() >= deadline)
      throw new SnapkeepError(
        `${host}:${port} did not answer over SSH within ${waitSeconds} s (last: ${probe.kind === 'open' ? 'no host key' : probe.message}); check the security group's allowed_ssh_cidrs against your public address, then: snapkeep doctor`,
        ExitCode.targetUnreachable,
      );
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, Math.max(0, deadline - Date.now()))));
  }
}

async function apply(context: Context, request: InfraRequest): Promise<number> {
  const { report } = context;
  await initialise(context);
  const summary = await plan(context, false);
  report({ type: 'infra-cost', ...monthlyCost(context.aws) });
  if (request.dryRun) {
    report({ type: 'summary', command: 'infra-apply', dryRun: true, exitCode: ExitCode.ok });
    return ExitCode.ok;
  }
  if (!request.yes) {
    if (!request.ask)
      throw new UsageError(
        'infra apply: not applied; confirm on a terminal, or pass --yes (for automation) after reading the plan (snapkeep infra plan)',
      );
    const answer = await request.ask(`${summary} Create these resources in your AWS account? Type yes: `);
    if (answer !== 'yes') throw new UsageError('infra apply: not confirmed; nothing was changed');
  }
  const runRequest: RunRequest = {
    stateDir: context.stateDir,
    command: 'infra-apply',
    fields: { workingDir: context.workingDir },
  };
  return withRun(runRequest, ({ journal }) => applyConfirmed(context, request, journal));
}

/** apply after the confirmation, as one run. */
async function applyConfirmed(context: Context, request: InfraRequest, journal: Journal): Promise<number> {
  const { report } = context;
  report({ type: 'infra-applying', tool: context.tool.name });
  await run(context, applyCommand(context.tool, context.workingDir), 'apply');
  const outputs = await readOutputs(context);
  await mkdir(dirname(outputsFile(context.stateDir)), { recursive: true });
  const outputsText = (await run(context, outputCommand(context.tool, context.workingDir), 'output')).stdout;
  await writeFile(outputsFile(context.stateDir), outputsText, { mode: 0o600 });
  await journal.append('infra-applied', { instance: outputs.instanceId, volume: outputs.volumeId });
  report({ type: 'infra-outputs', ...outputs });

  const knownHosts = await waitForSsh(context, outputs, request.waitSeconds);
  const target = { path: outputs.targetUrl, identityFile: context.privateKey, knownHosts };
  const smoke = await smokeTestTarget(
    context.aws.target,
    target,
    context.sshOptions,
    outputs.mountPoint ?? context.aws.mount_point,
    request.waitSeconds,
    report,
  );
  await journal.append('infra-smoke', { ok: smoke.ok, failed: smoke.failed });

  // The config gets the target only when it works; a copy of the previous file stays beside it.
  const env = join(context.workingDir, 'aws_connection.env');
  await writeFile(env, connectionEnv(outputs, context.privateKey, new Date()), { mode: 0o600 });
  if (!smoke.ok) {
    report({ type: 'infra-smoke-failed', failed: smoke.failed });
    return ExitCode.fatal;
  }
  const before = await readFile(context.configPath, 'utf8');
  const after = withTarget(before, context.aws.target, target);
  if (after !== before) {
    await writeFile(`${context.configPath}.before-infra`, before, { mode: 0o600 });
    await writeFile(`${context.configPath}.tmp`, after, { mode: 0o600 });
    await rename(`${context.configPath}.tmp`, context.configPath);
  }
  report({
    type: 'infra-config',
    target: context.aws.target,
    path: outputs.targetUrl,
    configPath: context.configPath,
    connectionEnv: env,
  });
  return ExitCode.ok;
}

async function destroy(context: Context, request: InfraRequest): Promise<number> {
  const { report } = context;
  const outputs = await readOutputs(context);
  report({
    type: 'infra-destroy-warning',
    instance: outputs.instanceId,
    volume: outputs.volumeId,
    volumeName: outputs.volumeName,
    region: outputs.region,
    ...(outputs.bucket ? { bucket: outputs.bucket } : {}),
  });
  await plan(context, true);
  if (request.dryRun) {
    report({ type: 'summary', command: 'infra-destroy', dryRun: true, exitCode: ExitCode.ok });
    return ExitCode.ok;
  }
  let typed = request.confirmVolume;
  if (typed === undefined) {
    if (!request.ask)
      throw new UsageError(
        `infra destroy: not destroyed; type the volume name on a terminal, or pass --confirm-volume ${outputs.volumeName}`,
      );
    typed = await request.ask(`Type the volume name (${outputs.volumeName}) to destroy it and its backups: `);
  }
  if (typed !== outputs.volumeName)
    throw new UsageError(
      `infra destroy: "${typed}" is not the volume's name (${outputs.volumeName}); nothing was destroyed`,
    );
  const runRequest: RunRequest = {
    stateDir: context.stateDir,
    command: 'infra-destroy',
    fields: { instance: outputs.instanceId, volume: outputs.volumeId },
  };
  await withRun(runRequest, async () => {
    await run(context, applyCommand(context.tool, context.workingDir), 'apply (destroy)');
    await rm(outputsFile(context.stateDir), { force: true });
    return ExitCode.ok;
  });
  report({
    type: 'infra-destroyed',
    instance: outputs.instanceId,
    volume: outputs.volumeId,
    target: context.aws.target,
    configPath: context.configPath,
  });
  return ExitCode.ok;
}

export async function infra(action: InfraAction, request: InfraRequest, report: Report): Promise<number> {
  const context = await prepare(request.config, action, report);
  switch (action) {
    case 'init':
      await initialise(context);
      return ExitCode.ok;
    case 'plan':
      await initialise(context);
      await plan(context, false);
      report({ type: 'infra-cost', ...monthlyCost(context.aws) });
      await rm(join(context.workingDir, planFileName), { force: true });
      return ExitCode.ok;
    case 'apply':
      return apply(context, request);
    case 'destroy':
      return destroy(context, request);
    case 'output':
      report({ type: 'infra-outputs', ...(await readOutputs(context)) });
      return ExitCode.ok;
  }
}
