// `snapkeep infra` end to end, with one stand-in: `tofu` is a small script (SNAPKEEP_TOFU) that
// records its argv and answers `output -json` with recorded outputs, because no AWS (and no AWS
// provider) is reachable here. Everything after apply is real: the "instance" is the loopback
// remote host (own sshd on 127.0.0.1 in its own mount namespace, loop-mounted btrfs, snapkeep's
// filter as forced command), so waiting for SSH, recording the host key and the smoke tests run
// against a real host.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCommand } from '../../src/exec/command.js';
import { cliPath, events, expectExit, snapkeep } from '../helpers/cli.js';
import { startRemoteHost, type RemoteHost } from '../helpers/remote-host.js';

const standInTofu = `#!/usr/bin/env node
// Stand-in for tofu: records argv, keeps the files a real run keeps, prints recorded outputs.
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.STANDIN_LOG, JSON.stringify({ cwd: process.cwd(), args }) + '\\n');
if (args[0] === 'init') console.log('OpenTofu has been successfully initialized!');
else if (args[0] === 'plan') {
  const out = args.find((arg) => arg.startsWith('-out=')).slice(5);
  fs.writeFileSync(out, 'plan');
  console.log(args.includes('-destroy') ? 'Plan: 0 to add, 0 to change, 9 to destroy.' : '  + aws_instance.target\\nPlan: 9 to add, 0 to change, 0 to destroy.');
} else if (args[0] === 'apply') {
  if (!fs.existsSync(args.at(-1))) { console.error('Error: no saved plan ' + args.at(-1)); process.exit(1); }
  fs.writeFileSync('applied', '');
  console.log('Apply complete! Resources: 9 added, 0 changed, 0 destroyed.');
} else if (args[0] === 'output') {
  process.stdout.write(fs.existsSync('applied') ? fs.readFileSync(process.env.STANDIN_OUTPUTS) : '{}\\n');
} else { console.error('stand-in tofu: unexpected ' + args.join(' ')); process.exit(1); }
`;

let host: RemoteHost;
let directory: string;
let configPath: string;
let log: string;
let env: Record<string, string>;

function config(publicKeyFile: string, extra = ''): string {
  return `# my backup config
state_dir: ${join(directory, 'state')}
targets:
  usb:
    path: ${join(directory, 'usb')}   # keep this comment
infra:
  aws:
    region: eu-central-1
    ssh_public_key_file: ${publicKeyFile}
    allowed_ssh_cidrs: [203.0.113.7/32]
    volume_size_gb: 50
${extra}`;
}

const calls = async (): Promise<string[][]> =>
  existsSync(log)
    ? (await readFile(log, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { args: string[] }).args)
    : [];

beforeAll(async () => {
  host = await startRemoteHost();
  directory = await mkdtemp(join(tmpdir(), 'snapkeep-infra-'));
  const tofu = join(directory, 'tofu');
  await writeFile(tofu, standInTofu, { mode: 0o755 });
  log = join(directory, 'tofu.log');
  const outputs = join(directory, 'outputs.json');
  const value = (text: string) => ({ sensitive: false, type: 'string', value: text });
  await writeFile(
    outputs,
    JSON.stringify({
      host: value('127.0.0.1'),
      user: value(host.user),
      target_url: value(`ssh://${host.user}@127.0.0.1:${host.port}${host.root}`),
      region: value('eu-central-1'),
      instance_id: value('i-0123456789abcdef0'),
      volume_id: value('vol-0123456789abcdef0'),
      volume_name: value('snapkeep-backups'),
      bucket: value(''),
      mount_point: value(host.mountPoint),
    }),
  );
  configPath = join(directory, 'snapkeep.yaml');
  env = {
    SNAPKEEP_TOFU: tofu,
    STANDIN_LOG: log,
    STANDIN_OUTPUTS: outputs,
    HOME: directory,
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'stand-in-secret-never-used',
  };
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (directory) await rm(directory, { recursive: true, force: true });
});

describe('snapkeep infra (stand-in tofu, real loopback host)', () => {
  it('refuses placeholder keys, missing credentials and a missing tool, naming each, touching nothing', async () => {
    const placeholder = join(directory, 'placeholder.pub');
    await writeFile(placeholder, 'ssh-ed25519 AAAA... REPLACE_ME\n');
    await writeFile(configPath, config(placeholder));
    const refused = await snapkeep(['infra', 'plan', '--config', configPath], {
      env: {
        ...env,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        SNAPKEEP_TOFU: join(directory, 'missing'),
      },
    });
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(/prerequisites missing \(nothing was changed\)/);
    expect(refused.stderr).toMatch(/neither tofu nor terraform is installed: install OpenTofu/);
    expect(refused.stderr).toMatch(/no AWS credentials: set AWS_PROFILE/);
    expect(refused.stderr).toMatch(
      new RegExp(`infra\\.aws\\.ssh_public_key_file: ${placeholder} is a placeholder, not a key`),
    );
    expect(await calls()).toEqual([]);
    expect(existsSync(join(directory, 'state'))).toBe(false);

    // A config without SSH access at all is a config error with the key named.
    await writeFile(configPath, config(`${host.identityFile}.pub`).replace('[203.0.113.7/32]', '[]'));
    const closed = await snapkeep(['infra', 'plan', '--config', configPath], { env });
    expectExit(closed, 2);
    expect(closed.stderr).toMatch(
      /infra\.aws\.allowed_ssh_cidrs: is empty, so nothing could reach the target/,
    );
  });

  it('apply: plan and cost shown, refused without --yes off a terminal, then applied, waited for, smoke-tested and written into the config', async () => {
    await writeFile(configPath, config(`${host.identityFile}.pub`));
    const unconfirmed = await snapkeep(['infra', 'apply', '--config', configPath], { env });
    expectExit(unconfirmed, 2);
    expect(unconfirmed.stdout).toMatch(/Plan: 9 to add/);
    expect(unconfirmed.stdout).toMatch(/EC2 t4g\.nano, on demand, always on +3\.07 USD/);
    expect(unconfirmed.stdout).toMatch(/EBS gp3 50 GiB \(encrypted\) +4\.00 USD/);
    expect(unconfirmed.stderr).toMatch(/not applied; confirm on a terminal, or pass --yes/);
    expect((await calls()).map((args) => args[0])).toEqual(['init', 'plan']);
    // On a terminal it asks; anything but "yes" applies nothing.
    const declined = await runCommand({
      file: 'script',
      args: [
        '-qefc',
        [process.execPath, cliPath, 'infra', 'apply', '--config', configPath].join(' '),
        '/dev/null',
      ],
      env,
      input: 'y\n',
    });
    expectExit(declined, 2);
    expect(declined.stdout).toMatch(
      /Plan: 9 to add, 0 to change, 0 to destroy\. Create these resources in your AWS account\? Type yes:/,
    );
    expect(declined.stdout).toMatch(/not confirmed; nothing was changed/);
    expect((await calls()).map((args) => args[0])).toEqual(['init', 'plan', 'init', 'plan']);

    // The instance is still booting: sshd comes up a few seconds after apply returns.
    await host.stopSshd();
    const starting = new Promise((resolve) => setTimeout(resolve, 4000)).then(() => host.startSshd());
    const applied = await snapkeep(['infra', 'apply', '--yes', '--wait', '60', '--config', configPath], {
      env,
    });
    await starting;
    expectExit(applied, 0);
    expect((await calls()).map((args) => args[0])).toEqual([
      ...['init', 'plan', 'init', 'plan'],
      'init',
      'plan',
      'apply',
      'output',
      'output',
    ]);
    expect((await calls())[6]).toEqual(['apply', '-input=false', '-no-color', 'snapkeep.tfplan']);
    expect(applied.stdout).toMatch(/waiting for 127\.0\.0\.1:\d+ to answer over SSH/);
    expect(applied.stdout).toMatch(/host key recorded in .*known_hosts/);
    expect(applied.stdout).toMatch(/smoke tests:/);
    expect(applied.stdout).not.toMatch(/FAIL/);
    expect(applied.stdout).toMatch(/OK .*filter/i);

    const workingDir = join(directory, 'state', 'infra', 'aws');
    const variables = JSON.parse(
      await readFile(join(workingDir, 'snapkeep.auto.tfvars.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(variables).toMatchObject({
      region: 'eu-central-1',
      volume_size_gb: 50,
      allowed_ssh_cidrs: ['203.0.113.7/32'],
      allow_ssh_from_anywhere: false,
      create_offsite_bucket: false,
      ssh_public_key: (await readFile(`${host.identityFile}.pub`, 'utf8')).trim(),
    });
    expect(existsSync(variables.target_filter_path as string)).toBe(true);
    expect(existsSync(join(workingDir, 'main.tf'))).toBe(true);

    // The target is in the config (comments kept), with the recorded host key; it works.
    const written = await readFile(configPath, 'utf8');
    expect(written).toMatch(/# keep this comment/);
    const target = (
      parse(written) as { targets: Record<string, { path: string; ssh: Record<string, string> }> }
    ).targets.aws!;
    expect(target.path).toBe(`ssh://${host.user}@127.0.0.1:${host.port}${host.root}`);
    expect(target.ssh).toEqual({
      identity_file: host.identityFile,
      known_hosts: join(workingDir, 'known_hosts'),
    });
    expect(await readFile(join(workingDir, 'known_hosts'), 'utf8')).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${host.port} ssh-ed25519 `, 'm'),
    );
    expect(await readFile(`${configPath}.before-infra`, 'utf8')).toBe(config(`${host.identityFile}.pub`));
    const validated = await snapkeep(['config', 'validate', '--config', configPath]);
    expectExit(validated, 0);
    expect(await readFile(join(workingDir, 'aws_connection.env'), 'utf8')).toMatch(
      new RegExp(`BTRBK_AWS_USER=${host.user}\nBTRBK_AWS_SSH_KEY=${host.identityFile}\n`),
    );
    // doctor finds what apply made.
    const outputs = JSON.parse(
      await readFile(join(directory, 'state', 'infra', 'aws', 'outputs.json'), 'utf8'),
    ) as Record<string, { value: string }>;
    expect(outputs.instance_id!.value).toBe('i-0123456789abcdef0');

    const shown = await snapkeep(['infra', 'output', '--json', '--config', configPath], { env });
    expectExit(shown, 0);
    expect(events(shown.stdout).find((event) => event.type === 'infra-outputs')).toMatchObject({
      instanceId: 'i-0123456789abcdef0',
      volumeName: 'snapkeep-backups',
    });
  }, 180_000);

  it('a host that fails its smoke tests is not written into the config', async () => {
    const before = await readFile(configPath, 'utf8');
    const otherKey = join(directory, 'other_key');
    const { runChecked } = await import('../../src/exec/command.js');
    await runChecked({ file: 'ssh-keygen', args: ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey] });
    await writeFile(
      configPath,
      before.replace(`${host.identityFile}.pub`, `${otherKey}.pub`).replace(/\n {2}aws:\n( {4}.*\n)+/, '\n'),
    );
    const withoutTarget = await readFile(configPath, 'utf8');
    const failed = await snapkeep(['infra', 'apply', '--yes', '--wait', '5', '--config', configPath], {
      env,
    });
    expectExit(failed, 1);
    expect(failed.stdout).toMatch(/FAIL/);
    expect(failed.stderr).toMatch(/does not pass its smoke tests .*the config was not changed/);
    expect(await readFile(configPath, 'utf8')).toBe(withoutTarget);
    await writeFile(configPath, before);
  }, 120_000);

  it('destroy warns that the backups go, wants the volume name, then destroys', async () => {
    const unconfirmed = await snapkeep(['infra', 'destroy', '--config', configPath], { env });
    expectExit(unconfirmed, 2);
    expect(unconfirmed.stdout).toMatch(/EVERY BACKUP ON THAT VOLUME IS DELETED WITH IT/);
    expect(unconfirmed.stderr).toMatch(/pass --confirm-volume snapkeep-backups/);
    const wrong = await snapkeep(
      ['infra', 'destroy', '--confirm-volume', 'backups', '--config', configPath],
      { env },
    );
    expectExit(wrong, 2);
    expect(wrong.stderr).toMatch(
      /"backups" is not the volume's name \(snapkeep-backups\); nothing was destroyed/,
    );
    const applies = (await calls()).filter((args) => args[0] === 'apply').length;
    // On a terminal (a real pty from script(1)) snapkeep asks; a wrong name typed changes nothing.
    const typed = async (answer: string) =>
      runCommand({
        file: 'script',
        args: [
          '-qefc',
          [process.execPath, cliPath, 'infra', 'destroy', '--config', configPath].join(' '),
          '/dev/null',
        ],
        env,
        input: `${answer}\n`,
      });
    const mistyped = await typed('snapkeep-backup');
    expectExit(mistyped, 2);
    expect(mistyped.stdout).toMatch(
      /Type the volume name \(snapkeep-backups\) to destroy it and its backups:/,
    );
    expect(mistyped.stdout).toMatch(/"snapkeep-backup" is not the volume's name/);
    expect((await calls()).filter((args) => args[0] === 'apply')).toHaveLength(applies);
    const destroyed = await typed('snapkeep-backups');
    expectExit(destroyed, 0);
    const all = await calls();
    expect(all.filter((args) => args[0] === 'apply')).toHaveLength(applies + 1);
    expect(all.some((args) => args[0] === 'plan' && args.includes('-destroy'))).toBe(true);
    expect(existsSync(join(directory, 'state', 'infra', 'aws', 'outputs.json'))).toBe(false);
  }, 60_000);
});
