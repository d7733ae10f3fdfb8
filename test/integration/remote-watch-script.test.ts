// The target-side watch script (share/snapkeep-target-watch.sh) run by dash, as cron runs it on a
// target, against a fixture snapshot directory and real HTTP receivers on 127.0.0.1: one alert
// per state change and channel, reminders, recovery, failed and hanging receivers, curl and GNU
// wget, and no secret in any process's argv.
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/command.js';
import {
  channelValues,
  watchConfig,
  watchScript,
  type TargetWatchPlan,
  type WatchChannel,
} from '../../src/remote/target-watch.js';
import type { SshSettings } from '../../src/remote/ssh-host.js';
import { formatTimestamp, parseSnapshotName } from '../../src/snapshot-name.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { startHttpReceiver, type HttpReceiver } from '../helpers/notify-receivers.js';

const cleanups = useCleanups(afterAll);
let receiver: HttpReceiver;
/** dash by its path: a test's PATH may leave out curl and the rest. */
let dash: string;

beforeAll(async () => {
  await requireTools(['dash', 'curl', 'wget', 'shellcheck']);
  dash = (await runCommand({ file: 'sh', args: ['-c', 'command -v dash'] })).stdout.trim();
  receiver = await startHttpReceiver(cleanups);
});

const unusedSsh: SshSettings = {
  location: { user: 'u', host: 'h' },
  strictHostKeyChecking: 'yes',
  options: [],
  sudo: false,
  connectTimeoutSeconds: 10,
  compression: 'none',
};

interface Fixture {
  readonly directory: string;
  readonly snapshots: string;
  run(env?: Record<string, string>): Promise<CommandResult>;
}

/** A watch directory (watch.sh, watch.conf) watching `home` and `data` in a snapshot directory. */
async function fixture(
  channels: readonly WatchChannel[],
  settings: Partial<TargetWatchPlan> = {},
  entries: readonly string[] = ['home.20200101T0000', 'data.20200101T0000'],
): Promise<Fixture> {
  const base = await cleanups.tempDir('watch-script');
  const directory = join(base, 'watch');
  const snapshots = join(base, 'snapshots');
  await mkdir(directory, { recursive: true });
  await mkdir(snapshots, { recursive: true });
  for (const entry of entries) await mkdir(join(snapshots, entry));
  const plan: TargetWatchPlan = {
    target: 'offsite',
    ssh: unusedSsh,
    devices: [
      { subvolume: 'home', directory: snapshots, name: 'home' },
      { subvolume: 'data', directory: snapshots, name: 'data' },
    ],
    channels,
    thresholdSeconds: 26 * 3600,
    remindSeconds: 24 * 3600,
    timeoutSeconds: 5,
    zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    minute: 7,
    ...settings,
  };
  await writeFile(join(directory, 'watch.sh'), watchScript(), { mode: 0o700 });
  await writeFile(
    join(directory, 'watch.conf'),
    watchConfig(plan, (channel, key) => channelValues(channel)[key] ?? ''),
    { mode: 0o600 },
  );
  return {
    directory,
    snapshots,
    run: (env = {}) =>
      runCommand({ file: dash, args: [join(directory, 'watch.sh')], env, timeoutMs: 60_000 }),
  };
}

/** A copy named as snapkeep names one made now (local time, the default long format). */
const freshName = (base: string): string => `${base}.${formatTimestamp(new Date(), 'long')}`;

const requestsTo = (path: string): HttpReceiver['requests'] =>
  receiver.requests.filter((request) => request.url.startsWith(path));

const webhook = (name: string, path: string, headers: Record<string, string> = {}): WatchChannel => ({
  type: 'webhook',
  name,
  url: `${receiver.url}${path}`,
  method: 'POST',
  headers,
});

describe('target-side watch script under dash', () => {
  it('passes shellcheck as POSIX sh', async () => {
    const base = await cleanups.tempDir('watch-shellcheck');
    const script = join(base, 'watch.sh');
    await writeFile(script, watchScript());
    const result = await runCommand({ file: 'shellcheck', args: ['-s', 'sh', script] });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('webhook: one stale alert, no repeat, one recovered when a copy arrives', async () => {
    receiver.answer = () => ({ status: 200, body: 'OK' });
    const watch = await fixture([webhook('hook', '/hook-1', { Authorization: 'Bearer hook-token-1' })]);
    const first = await watch.run();
    expect(first.exitCode, first.stderr).toBe(1);
    const stale = requestsTo('/hook-1');
    expect(stale).toHaveLength(1);
    expect(stale[0]!.headers.authorization).toBe('Bearer hook-token-1');
    expect(stale[0]!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(stale[0]!.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      version: 'snapkeep-target-watch/1',
      kind: 'stale',
      target: 'offsite',
      staleDevices: 2,
    });
    expect(body.devices).toEqual([
      expect.objectContaining({ name: 'home', newest: 'home.20200101T0000', stale: true }),
      expect.objectContaining({ name: 'data', newest: 'data.20200101T0000', stale: true }),
    ]);
    expect(body.message).toMatch(/home in .*: newest home\.20200101T0000, \d+ d \d+ h ago \(stale\)\n/);

    const second = await watch.run();
    expect(second.exitCode).toBe(1);
    expect(requestsTo('/hook-1')).toHaveLength(1);

    // One device recovers: still stale (the other has stopped) — nothing new is said.
    await mkdir(join(watch.snapshots, freshName('home')));
    await watch.run();
    expect(requestsTo('/hook-1')).toHaveLength(1);

    await mkdir(join(watch.snapshots, freshName('data')));
    const recovered = await watch.run();
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(requestsTo('/hook-1')).toHaveLength(2);
    const message = JSON.parse(requestsTo('/hook-1')[1]!.body) as Record<string, unknown>;
    expect(message).toMatchObject({ kind: 'recovered', staleDevices: 0 });
    await watch.run();
    expect(requestsTo('/hook-1')).toHaveLength(2);
  });

  it('webhook: valid JSON when a device directory has quotes, backslashes and a tab in its name', async () => {
    receiver.answer = () => ({ status: 200, body: 'OK' });
    const base = await cleanups.tempDir('watch-odd-names');
    const odd = join(base, 'we"ird\\dir\tname');
    await mkdir(join(odd, 'home.20200101T0000'), { recursive: true });
    const watch = await fixture([webhook('hook', '/hook-odd')], {
      devices: [{ subvolume: 'home', directory: odd, name: 'home' }],
    });
    expect((await watch.run()).exitCode).toBe(1);
    const [sent] = requestsTo('/hook-odd');
    const body = JSON.parse(sent!.body) as { devices: { directory: string }[]; message: string };
    expect(body.devices).toEqual([expect.objectContaining({ directory: odd, stale: true })]);
    expect(body.message).toContain(`home in ${odd}: newest home.20200101T0000`);
  });

  it('a copy named in the future does not keep a device fresh: it alerts, naming the clock', async () => {
    receiver.answer = () => ({ status: 200, body: 'OK' });
    const watch = await fixture([webhook('hook', '/hook-future')], {}, [
      'home.20991231T0000',
      freshName('data'),
    ]);
    expect((await watch.run()).exitCode).toBe(1);
    const [sent] = requestsTo('/hook-future');
    const body = JSON.parse(sent!.body) as { staleDevices: number; message: string };
    expect(body.staleDevices).toBe(1);
    expect(body.message).toContain('home in ');
    expect(body.message).toContain(
      "no copy dated before now (1 named in the future: is the sender's clock right?)",
    );
  });

  it('ntfy: publishes to server/topic with Title, Priority, Tags and the token; once per change', async () => {
    receiver.answer = () => ({ status: 200, body: '{"id":"x"}' });
    const watch = await fixture([
      {
        type: 'ntfy',
        name: 'phone',
        server: `${receiver.url}/ntfy`,
        topic: 'backups-1',
        token: 'tk_ntfy_secret_1',
        priority: { stale: 4, recovered: 3 },
        tags: { stale: ['warning', 'floppy_disk'], recovered: ['white_check_mark'] },
      },
    ]);
    await watch.run();
    await watch.run();
    const stale = requestsTo('/ntfy/backups-1');
    expect(stale).toHaveLength(1);
    expect(stale[0]!.method).toBe('POST');
    expect(stale[0]!.headers.title).toMatch(/^snapkeep: no new copy on .* \(offsite\) for 2 of 2 devices$/);
    expect(stale[0]!.headers.priority).toBe('4');
    expect(stale[0]!.headers.tags).toBe('warning,floppy_disk');
    expect(stale[0]!.headers.authorization).toBe('Bearer tk_ntfy_secret_1');
    expect(stale[0]!.body).toMatch(/^home in .*: newest home\.20200101T0000, .* ago \(stale\)\ndata in /);

    await mkdir(join(watch.snapshots, freshName('home')));
    await mkdir(join(watch.snapshots, freshName('data')));
    await watch.run();
    await watch.run();
    const all = requestsTo('/ntfy/backups-1');
    expect(all).toHaveLength(2);
    expect(all[1]!.headers.title).toMatch(/copies arrive again/);
    expect(all[1]!.headers.priority).toBe('3');
    expect(all[1]!.headers.tags).toBe('white_check_mark');
  });

  it('healthchecks: /fail once when stale, a success ping on every healthy run', async () => {
    receiver.answer = () => ({ status: 200, body: 'OK' });
    const watch = await fixture([{ type: 'healthchecks', name: 'hc', url: `${receiver.url}/hc-1/uuid-1` }]);
    await watch.run();
    await watch.run();
    expect(requestsTo('/hc-1/').map((request) => request.url)).toEqual(['/hc-1/uuid-1/fail']);
    expect(requestsTo('/hc-1/')[0]!.body).toMatch(/^snapkeep: no new copy/);

    await mkdir(join(watch.snapshots, freshName('home')));
    await mkdir(join(watch.snapshots, freshName('data')));
    await watch.run();
    await watch.run();
    expect(requestsTo('/hc-1/').map((request) => request.url)).toEqual([
      '/hc-1/uuid-1/fail',
      '/hc-1/uuid-1',
      '/hc-1/uuid-1',
    ]);
    expect(requestsTo('/hc-1/')[1]!.body).toMatch(/^snapkeep: copies arrive again/);
  });

  it('reminds after remind seconds, not before; never when remind is 0', async () => {
    receiver.answer = () => ({ status: 200 });
    const reminding = await fixture([webhook('hook', '/remind-1')], { remindSeconds: 3600 });
    const now = Math.floor(Date.now() / 1000);
    await reminding.run({ SNAPKEEP_WATCH_NOW: String(now) });
    await reminding.run({ SNAPKEEP_WATCH_NOW: String(now + 3599) });
    await reminding.run({ SNAPKEEP_WATCH_NOW: String(now + 3600) });
    await reminding.run({ SNAPKEEP_WATCH_NOW: String(now + 3700) });
    const kinds = requestsTo('/remind-1').map(
      (request) => (JSON.parse(request.body) as { kind: string }).kind,
    );
    expect(kinds).toEqual(['stale', 'reminder']);

    const silent = await fixture([webhook('hook', '/remind-2')], { remindSeconds: 0 });
    await silent.run({ SNAPKEEP_WATCH_NOW: String(now) });
    await silent.run({ SNAPKEEP_WATCH_NOW: String(now + 10 * 86400) });
    expect(requestsTo('/remind-2')).toHaveLength(1);
  });

  it('a receiver answering 500 is not recorded: exit 2, and the next run sends the alert again', async () => {
    receiver.answer = (request) =>
      request.url.startsWith('/err-1') ? { status: 500, body: 'internal trouble' } : { status: 200 };
    const watch = await fixture([webhook('hook', '/err-1'), webhook('good', '/err-ok-1')]);
    const failed = await watch.run();
    expect(failed.exitCode).toBe(2);
    expect(failed.stderr).toMatch(/channel hook: HTTP 500: internal trouble/);
    expect(requestsTo('/err-1')).toHaveLength(1);
    expect(requestsTo('/err-ok-1')).toHaveLength(1);

    receiver.answer = () => ({ status: 200 });
    const retried = await watch.run();
    expect(retried.exitCode, retried.stderr).toBe(1);
    expect(requestsTo('/err-1')).toHaveLength(2);
    expect((JSON.parse(requestsTo('/err-1')[1]!.body) as { kind: string }).kind).toBe('stale');
    // The channel that got it the first time is not told twice.
    expect(requestsTo('/err-ok-1')).toHaveLength(1);
  });

  it('a receiver that never answers: curl gives up after the timeout and the run ends (exit 2)', async () => {
    receiver.answer = (request) => (request.url.startsWith('/hang-1') ? 'never' : { status: 200 });
    const watch = await fixture([webhook('hook', '/hang-1')], { timeoutSeconds: 1 });
    const result = await watch.run();
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/channel hook: curl: .*(timed out|Timeout).*\(exit 28\)/);
    expect(await readFile(join(watch.directory, 'state'), 'utf8')).toBe('hook ok 0\n');
  });

  it('GNU wget sends when curl is missing; neither is a clear setup error', async () => {
    receiver.answer = (request) =>
      request.url.startsWith('/wget-hang') ? 'never' : { status: 200, body: 'OK' };
    const bin = await cleanups.tempDir('watch-bin');
    const tools = ['date', 'sed', 'tr', 'head', 'mktemp', 'rm', 'mv', 'cat', 'uname', 'dirname', 'grep'];
    for (const tool of tools) {
      const found = await runCommand({ file: 'sh', args: ['-c', 'command -v "$1"', 'x', tool] });
      await symlink(found.stdout.trim(), join(bin, tool));
    }
    const path = { PATH: bin };
    const watch = await fixture([webhook('hook', '/wget-1', { 'X-Token': 'wget-header-secret' })]);
    const none = await watch.run(path);
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toMatch(/neither curl nor GNU wget is installed on this host/);

    await symlink('/usr/bin/wget', join(bin, 'wget'));
    const sent = await watch.run(path);
    expect(sent.exitCode, sent.stderr).toBe(1);
    const requests = requestsTo('/wget-1');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers['x-token']).toBe('wget-header-secret');
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect((JSON.parse(requests[0]!.body) as { kind: string }).kind).toBe('stale');

    const hanging = await fixture([webhook('hook', '/wget-hang')], { timeoutSeconds: 1 });
    const timedOut = await hanging.run(path);
    expect(timedOut.exitCode).toBe(2);
    expect(timedOut.stderr).toMatch(/channel hook: wget: exit 4/);
  });

  it('secrets reach curl on stdin, never in its argv', async () => {
    receiver.answer = () => ({ status: 200 });
    const bin = await cleanups.tempDir('watch-argv');
    const log = join(bin, 'argv.log');
    await writeFile(
      join(bin, 'curl'),
      `#!/bin/sh\nprintf '%s\\n' "$@" >>'${log}'\nexec /usr/bin/curl "$@"\n`,
    );
    await chmod(join(bin, 'curl'), 0o755);
    const watch = await fixture([
      webhook('hook', '/argv-1/hook-url-secret', { Authorization: 'Bearer argv-token-secret' }),
      { type: 'healthchecks', name: 'hc', url: `${receiver.url}/argv-1/ping-url-secret` },
    ]);
    const result = await watch.run({ PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` });
    expect(result.exitCode, result.stderr).toBe(1);
    expect(requestsTo('/argv-1/')).toHaveLength(2);
    const argv = await readFile(log, 'utf8');
    expect(argv).toMatch(/--max-time/);
    expect(argv).not.toMatch(/secret/);
  });

  it('reads every timestamp form of the name grammar as parseSnapshotName does', async () => {
    receiver.answer = () => ({ status: 200 });
    const now = Math.floor(Date.UTC(2026, 11, 3, 12, 0, 0) / 1000);
    // Zones without daylight saving time: the script applies the zone's offset of today.
    for (const zone of ['Asia/Tokyo', 'America/Bogota']) {
      for (const name of [
        'home.20261201',
        'home.20261201T0930',
        'home.20261201T0930_3',
        'home.20261202T235959Z',
        'home.20261202T235959+0530',
        'home.20261202T235959-0800',
      ]) {
        const path = `/grammar/${zone}/${name}`;
        const watch = await fixture([webhook('hook', path)], { zone, thresholdSeconds: 60 }, [name]);
        await watch.run({ SNAPKEEP_WATCH_NOW: String(now) });
        const [request] = requestsTo(path);
        const devices = (JSON.parse(request!.body) as { devices: { name: string; ageSeconds?: number }[] })
          .devices;
        const saved = process.env.TZ;
        process.env.TZ = zone;
        const expected = now - parseSnapshotName(name)!.date.epochSeconds;
        if (saved === undefined) delete process.env.TZ;
        else process.env.TZ = saved;
        expect({ zone, name, age: devices[0]!.ageSeconds }).toEqual({ zone, name, age: expected });
        expect(devices[1]).toEqual({ directory: watch.snapshots, name: 'data', stale: true });
      }
    }
  });
});
