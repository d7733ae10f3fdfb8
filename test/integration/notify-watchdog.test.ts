// Absence is an alert: a job whose last success is older than its schedule allows is told by the
// watchdog job even though no backup runs at all (a disabled timer, a machine that was off); a
// channel that refused is told again the next time; a scheduled run the lock refused is told
// once. The schedules install the watchdog as a job of its own.
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import {
  parseMail,
  startHttpReceiver,
  startSmtp,
  type HttpRequestSeen,
} from '../helpers/notify-receivers.js';
import { killAndReap, waitUntil } from '../helpers/processes.js';

const cleanups = useCleanups();

const hours = (count: number): string => new Date(Date.now() - count * 3_600_000).toISOString();

interface World {
  readonly base: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly env: Record<string, string>;
  readonly smtp: Awaited<ReturnType<typeof startSmtp>>;
  readonly ntfy: Awaited<ReturnType<typeof startHttpReceiver>>;
  readonly hc: Awaited<ReturnType<typeof startHttpReceiver>>;
}

async function world(extra = ''): Promise<World> {
  const base = await cleanups.tempDir('notify-watchdog');
  const stateDir = join(base, 'state');
  for (const directory of ['data', 'snapshots', 'nas', 'state']) await mkdir(join(base, directory));
  const smtp = await startSmtp(cleanups);
  const ntfy = await startHttpReceiver(cleanups);
  const hc = await startHttpReceiver(cleanups);
  const configPath = join(base, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${stateDir}
targets:
  nas: { path: ${join(base, 'nas')} }
subvolumes:
  data: { path: ${join(base, 'data')}, snapshot_dir: ${join(base, 'snapshots')}, targets: [nas] }
schedules:
  nightly: { command: run, when: daily }
notify:
  email:
    mail: { host: 127.0.0.1, port: ${smtp.port}, security: none, from: snapkeep@example.com, to: [ops@example.com] }
  ntfy:
    phone: { server: "${ntfy.url}", topic: backups }
  healthchecks:
    hc: { url: env:HC_URL }
${extra}`,
  );
  return { base, configPath, stateDir, env: { HC_URL: `${hc.url}/ping/hc-Secret-1` }, smtp, ntfy, hc };
}

const logs = (requests: readonly HttpRequestSeen[]): HttpRequestSeen[] =>
  requests.filter((request) => request.url.startsWith('/ping/hc-Secret-1/log'));

describe('the watchdog', () => {
  it('tells about a stale job although no backup ran; a channel that refused is told again next time', async () => {
    const w = await world();
    // The last good run, three days ago (a daily job is stale after 26 h and its random delay).
    await writeFile(
      join(w.stateDir, 'journal.ndjson'),
      [
        { v: 1, time: hours(72), run: 'r1', event: 'run-start', command: 'run', job: 'nightly' },
        {
          v: 1,
          time: hours(71.9),
          run: 'r1',
          event: 'run-end',
          command: 'run',
          exitCode: 0,
          jobs: [{ subvolume: 'data', target: 'nas', status: 'ok' }],
        },
      ]
        .map((line) => JSON.stringify(line))
        .join('\n') + '\n',
    );
    const watchdog = (...flags: string[]) =>
      snapkeep(['notify', 'watchdog', '--config', w.configPath, ...flags], { env: w.env });

    // --dry-run: the decisions and why; nothing sent, nothing remembered.
    const preview = await watchdog('--dry-run');
    expectExit(preview, 0);
    expect(preview.stdout).toContain('mail: would send: stale data → nas (new)');
    expect(preview.stdout).toContain('hc: would send: stale data → nas (new)');
    expect(w.smtp.mails).toHaveLength(0);
    await expect(stat(join(w.stateDir, 'notify-state.json'))).rejects.toThrow();

    // ntfy answers 500 this time.
    w.ntfy.answer = () => ({ status: 500, body: 'down for maintenance' });
    expectExit(await watchdog(), 0);
    expect(w.smtp.mails).toHaveLength(1);
    const mail = await parseMail(w.smtp.mails[0]!.raw);
    expect(mail.subject).toMatch(/STALE data → nas$/);
    expect(mail.body).toMatch(/no success since \S+ \(71\.9 h ago; threshold [\d.]+ h\)/);
    expect(mail.body).toContain("systemctl list-timers 'snapkeep*'");
    expect(w.ntfy.requests).toHaveLength(1);
    expect(logs(w.hc.requests)).toHaveLength(1);
    expect(logs(w.hc.requests)[0]!.body).toContain('STALE');
    // A watchdog never pings success or fail: only scheduled runs do (a dead man's switch).
    expect(w.hc.requests).toHaveLength(1);

    // Next time ntfy answers: it gets the stale job now; the others were told already.
    w.ntfy.answer = () => ({ status: 200 });
    const second = await watchdog('--json');
    expectExit(second, 0);
    expect(w.smtp.mails).toHaveLength(1);
    expect(w.ntfy.requests).toHaveLength(2);
    expect(JSON.parse(w.ntfy.requests[1]!.body)).toMatchObject({ priority: 4, tags: ['hourglass'] });
    expect(events(second.stdout)).toEqual([
      expect.objectContaining({
        type: 'notification',
        channel: 'phone',
        ok: true,
        kinds: ['stale'],
        trigger: 'watchdog',
      }),
      expect.objectContaining({ type: 'summary', command: 'notify watchdog', exitCode: 0 }),
    ]);
    expectExit(await watchdog(), 0);
    expect(w.smtp.mails).toHaveLength(1);
    expect(w.ntfy.requests).toHaveLength(2);
    expect(w.hc.requests).toHaveLength(1);
  });

  it('a scheduled run the lock refused is journaled and told once; one started by hand is not', async () => {
    const w = await world();
    const lockFile = join(w.stateDir, 'snapkeep.lock');
    const holder = spawn('flock', [lockFile, 'sleep', '600'], { stdio: 'ignore' });
    cleanups.push(() => killAndReap([holder.pid!]));
    await waitUntil(
      'the lock to be held',
      async () =>
        (await runCommand({ file: 'flock', args: ['--nonblock', lockFile, 'true'] })).exitCode !== 0,
    );
    expectExit(await snapkeep(['prune', '--config', w.configPath], { env: w.env }), 11);
    expect(w.smtp.mails).toHaveLength(0);
    const refused = await snapkeep(['prune', '--config', w.configPath], {
      env: { ...w.env, SNAPKEEP_JOB: 'nightly', INVOCATION_ID: 'inv-refused' },
    });
    expectExit(refused, 11);
    const journal = (await readFile(join(w.stateDir, 'journal.ndjson'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(journal.filter((line) => line.event === 'run-refused')).toEqual([
      expect.objectContaining({ command: 'prune', exitCode: 11 }),
      expect.objectContaining({ command: 'prune', exitCode: 11, job: 'nightly', invocation: 'inv-refused' }),
    ]);
    expect(w.smtp.mails).toHaveLength(1);
    const mail = await parseMail(w.smtp.mails[0]!.raw);
    expect(mail.subject).toMatch(/NOT RUN scheduled job nightly \(snapkeep prune\) \(\+1 more\)$/);
    // The other: the job that never ran at all.
    expect(mail.body).toContain('STALE       data → nas');
    expect(mail.body).toContain('another snapkeep run holds the lock');
    expect(mail.body).toContain('lock_wait');
    expect(logs(w.hc.requests)).toHaveLength(1);
    // The unit failed (exit 11): its OnFailure= handler finds the refusal told already.
    expectExit(
      await snapkeep(['notify-failure', '--config', w.configPath, 'snapkeep-job-nightly.service'], {
        env: { ...w.env, MONITOR_INVOCATION_ID: 'inv-refused' },
      }),
      0,
    );
    expect(w.smtp.mails).toHaveLength(1);
    expect(logs(w.hc.requests)).toHaveLength(1);
    // status and doctor logs list it among the failures.
    const doctor = events((await snapkeep(['doctor', 'logs', '--json', '--config', w.configPath])).stdout);
    expect(String(doctor.find((event) => event.check === 'recent-failures')?.detail)).toContain(
      'snapkeep prune: not run: another snapkeep run holds the lock',
    );
  });

  it('schedule install adds the watchdog job (hourly) unless notify.watchdog: false', async () => {
    const w = await world();
    const units = join(w.base, 'units');
    expectExit(await snapkeep(['schedule', 'install', '--config', w.configPath, '--unit-dir', units]), 0);
    const service = await readFile(join(units, 'snapkeep-job-notify-watchdog.service'), 'utf8');
    expect(service).toMatch(/^ExecStart=\S+ \S+ notify watchdog --config \S+$/m);
    expect(service).toContain('OnFailure=snapkeep-failure@%n.service');
    expect(await readFile(join(units, 'snapkeep-job-notify-watchdog.timer'), 'utf8')).toContain(
      'OnCalendar=hourly\n',
    );
    const cron = join(w.base, 'cron');
    expectExit(
      await snapkeep([
        'schedule',
        'install',
        '--config',
        w.configPath,
        '--backend',
        'cron',
        '--cron-file',
        cron,
      ]),
      0,
    );
    expect(await readFile(cron, 'utf8')).toMatch(
      /^0 \* \* \* \* root .*SNAPKEEP_JOB=notify-watchdog .* notify watchdog --config /m,
    );

    const off = await world('  watchdog: false\n');
    const offUnits = join(off.base, 'units');
    expectExit(
      await snapkeep(['schedule', 'install', '--config', off.configPath, '--unit-dir', offUnits]),
      0,
    );
    await expect(stat(join(offUnits, 'snapkeep-job-notify-watchdog.service'))).rejects.toThrow();
  });
});
