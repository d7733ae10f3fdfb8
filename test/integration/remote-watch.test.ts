// `snapkeep remote setup --watch` against a real remote host (own sshd on 127.0.0.1 in its own
// mount namespace, test/helpers/remote-host.ts): installed into the target user's real crontab,
// the installed line run as cron runs it alerts a real HTTP receiver when the device's newest
// copy is old, says "recovered" once a new copy arrives, and --unwatch leaves the user's other
// crontab lines as they were.
import { readFile, stat, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { startHttpReceiver, type HttpReceiver } from '../helpers/notify-receivers.js';
import { sshConfig, sshUrl, type RemoteHost } from '../helpers/remote-host.js';
import { startSshWorld } from '../helpers/ssh-world.js';

const cleanups = useCleanups(afterAll);
let remote: RemoteHost;
let base: string;
let configPath: string;
let receiver: HttpReceiver;
/** A key of the target's user without the filter: what installs the watch. */
let adminKey: string;
let targetDirectory: string;

const userLines = 'MAILTO=""\n# the user\'s own job, kept as it is\n30 2 * * * /usr/bin/true keep-me\n';
const secrets = {
  WATCH_HOOK_URL: '',
  WATCH_HOOK_AUTH: 'Bearer hook-secret-token-1',
  WATCH_HC_URL: '',
};

const crontabOf = async (user: string): Promise<string> =>
  (await runCommand({ file: 'crontab', args: ['-l', '-u', user] })).stdout;

beforeAll(async () => {
  ({ remote, base, configPath } = await startSshWorld(cleanups, 'watch', ['crontab', 'setpriv']));
  receiver = await startHttpReceiver(cleanups);
  secrets.WATCH_HOOK_URL = `${receiver.url}/hook/secret-path-1`;
  secrets.WATCH_HC_URL = `${receiver.url}/hc/ping-secret-1`;
  const source = await cleanups.loopBtrfs('watch-src', 256);
  const data = join(source.mountPoint, 'data');
  await createSubvolume(data);
  await writeRandomData(data, 1);
  adminKey = join(base, 'admin_key');
  await runChecked({
    file: 'ssh-keygen',
    args: ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin', '-f', adminKey],
  });
  await appendFile(
    join(remote.directory, 'authorized_keys', remote.user),
    await readFile(`${adminKey}.pub`, 'utf8'),
  );
  await runChecked({ file: 'crontab', args: ['-u', remote.user, '-'], input: userLines });
  // Before the user goes (remote.stop, registered earlier, runs later): userdel keeps crontabs.
  cleanups.push(async () => {
    await runCommand({ file: 'crontab', args: ['-r', '-u', remote.user] });
  });
  targetDirectory = `${remote.root}/laptop`;
  await remote.run(['mkdir', '-p', targetDirectory]);
  await writeFile(
    configPath,
    `state_dir: ${join(base, 'state')}
${sshConfig(remote)}targets:
  offsite:
    path: ${sshUrl(remote, targetDirectory)}
    watch:
      notify: [hook, hc]
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
    targets: [offsite]
notify:
  webhook:
    hook:
      url: env:WATCH_HOOK_URL
      headers:
        Authorization: env:WATCH_HOOK_AUTH
  healthchecks:
    hc:
      url: env:WATCH_HC_URL
`,
  );
  expectExit(await snapkeep(['run', '--config', configPath]), 0);
});

const watchCli = (args: readonly string[]) =>
  snapkeep(['remote', 'setup', ...args, '--config', configPath], { env: secrets });

/** The watch's crontab line, run as cron runs it: as the user, cron's environment, sh -c. */
async function runAsCron(): Promise<{ exitCode: number | null; stderr: string }> {
  const line = (await crontabOf(remote.user)).split('\n').find((entry) => /^\d+ \* \* \* \* /.test(entry));
  expect(line).toBeDefined();
  const command = line!.split(' ').slice(5).join(' ');
  const id = await runChecked({ file: 'id', args: ['-u', remote.user] });
  const gid = await runChecked({ file: 'id', args: ['-g', remote.user] });
  // Inside the host's mount namespace: the target directory is mounted only there.
  return remote.run([
    'setpriv',
    `--reuid=${id.stdout.trim()}`,
    `--regid=${gid.stdout.trim()}`,
    '--init-groups',
    'env',
    '-i',
    `HOME=${remote.home}`,
    `LOGNAME=${remote.user}`,
    'SHELL=/bin/sh',
    'PATH=/usr/bin:/bin',
    '/bin/sh',
    '-c',
    command,
  ]);
}

const seen = () => receiver.requests.map((request) => `${request.method} ${request.url}`);

describe('target-side watch on a real sshd-hosted target', () => {
  it("the target's own key runs only the filter: installing through it is refused with what to do", async () => {
    const refused = await watchCli(['--watch', 'offsite']);
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(/confined to snapkeep's target filter.*give --identity FILE/);
    expect(await crontabOf(remote.user)).toBe(userLines);
  });

  it('--dry-run shows what would be installed, secrets masked, and installs nothing', async () => {
    const dry = await watchCli(['--watch', 'offsite', '--identity', adminKey, '--dry-run', '--json']);
    expectExit(dry, 0);
    const [plan] = events(dry.stdout).filter((event) => event.type === 'watch-plan');
    expect(plan).toMatchObject({
      target: 'offsite',
      dryRun: true,
      devices: [{ subvolume: 'data', directory: targetDirectory, name: 'data' }],
      channels: [
        { name: 'hook', type: 'webhook' },
        { name: 'hc', type: 'healthchecks' },
      ],
      thresholdSeconds: 26 * 3600,
    });
    expect(plan!.config).toMatch(/^webhook 'hook' '\*\*\*' 'POST' 'Authorization: \*\*\*'$/m);
    const text = await watchCli(['--watch', 'offsite', '--identity', adminKey, '--dry-run']);
    for (const output of [dry.stdout, dry.stderr, text.stdout, text.stderr])
      for (const secret of ['secret-path-1', 'hook-secret-token-1', 'ping-secret-1'])
        expect(output).not.toContain(secret);
    expect(await crontabOf(remote.user)).toBe(userLines);
  });

  it("installs into the user's crontab, alerts once when the copy is old, recovers once, and --unwatch removes only its own", async () => {
    const installed = await watchCli(['--watch', 'offsite', '--identity', adminKey, '--json']);
    expectExit(installed, 0);
    for (const secret of ['secret-path-1', 'hook-secret-token-1', 'ping-secret-1'])
      expect(installed.stdout + installed.stderr).not.toContain(secret);
    const [done] = events(installed.stdout).filter((event) => event.type === 'watch-installed');
    const directory = join(remote.home, '.snapkeep-watch/offsite');
    expect(done).toMatchObject({ target: 'offsite', directory, client: 'curl' });
    expect((done!.devices as string[])[0]).toMatch(
      new RegExp(`^data in ${targetDirectory}: newest data\\.\\d{8}T\\d{4}, \\d+ min ago$`),
    );
    const crontab = await crontabOf(remote.user);
    expect(crontab.startsWith(userLines)).toBe(true);
    expect(crontab.slice(userLines.length)).toMatch(
      new RegExp(
        `^# snapkeep target watch of offsite .*\\n\\d+ \\* \\* \\* \\* /bin/sh ${directory}/watch\\.sh\\n$`,
      ),
    );
    expect((await stat(join(directory, 'watch.conf'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(directory, 'watch.sh'))).mode & 0o777).toBe(0o700);

    // Fresh: the healthchecks ping says so, the webhook says nothing.
    const fresh = await runAsCron();
    expect(fresh.exitCode, fresh.stderr).toBe(0);
    expect(seen()).toEqual(['POST /hc/ping-secret-1']);

    // The device stops sending: its newest copy on the target is old.
    const listing = await remote.run(['ls', targetDirectory]);
    const [copy] = listing.stdout.trim().split('\n');
    expect(copy).toMatch(/^data\.\d{8}T\d{4}$/);
    await remote.run(['mv', `${targetDirectory}/${copy}`, `${targetDirectory}/data.20200101T0000`]);
    const stale = await runAsCron();
    expect(stale.exitCode, stale.stderr).toBe(1);
    expect(seen()).toEqual([
      'POST /hc/ping-secret-1',
      'POST /hook/secret-path-1',
      'POST /hc/ping-secret-1/fail',
    ]);
    const alert = receiver.requests[1]!;
    expect(alert.headers.authorization).toBe('Bearer hook-secret-token-1');
    expect(JSON.parse(alert.body)).toMatchObject({
      version: 'snapkeep-target-watch/1',
      kind: 'stale',
      target: 'offsite',
      devices: [{ directory: targetDirectory, name: 'data', newest: 'data.20200101T0000', stale: true }],
    });
    expect((await runAsCron()).exitCode).toBe(1);
    expect(receiver.requests).toHaveLength(3);

    // Installed again (the same config): one line still, and the state stays — no second alert.
    expectExit(await watchCli(['--watch', 'offsite', '--identity', adminKey]), 0);
    expect(await crontabOf(remote.user)).toBe(crontab);
    expect((await runAsCron()).exitCode).toBe(1);
    expect(receiver.requests).toHaveLength(3);

    // What an interrupted receive leaves (a writable subvolume, here with the newest name) is no copy.
    const garbage = `${targetDirectory}/data.20991231T0000`;
    expect((await remote.run(['btrfs', 'subvolume', 'create', garbage])).exitCode).toBe(0);
    const stillStale = await runAsCron();
    expect(stillStale.exitCode, stillStale.stderr).toBe(1);
    expect(receiver.requests).toHaveLength(3);
    expect(await readFile(join(directory, 'last-run'), 'utf8')).toMatch(/newest data\.20200101T0000, /);
    expect((await remote.run(['btrfs', 'subvolume', 'delete', garbage])).exitCode).toBe(0);

    // Copies arrive again: one "recovered", and the ping.
    expectExit(await snapkeep(['run', '--config', configPath]), 0);
    const recovered = await runAsCron();
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(seen().slice(3)).toEqual(['POST /hook/secret-path-1', 'POST /hc/ping-secret-1']);
    expect(JSON.parse(receiver.requests[3]!.body)).toMatchObject({ kind: 'recovered', staleDevices: 0 });

    const removed = await watchCli(['--unwatch', 'offsite', '--identity', adminKey, '--json']);
    expectExit(removed, 0);
    expect(events(removed.stdout).find((event) => event.type === 'watch-removed')).toMatchObject({
      crontabLines: 2,
      files: [
        `${directory}/watch.sh`,
        `${directory}/watch.conf`,
        `${directory}/state`,
        `${directory}/last-run`,
      ],
    });
    expect(await crontabOf(remote.user)).toBe(userLines);
    await expect(stat(join(remote.home, '.snapkeep-watch'))).rejects.toThrow(/ENOENT/);
    const again = await watchCli(['--unwatch', 'offsite', '--identity', adminKey]);
    expectExit(again, 0);
    expect(again.stdout).toMatch(/nothing to remove/);
  });
});
