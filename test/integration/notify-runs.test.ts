// Notifications of scheduled runs, end to end with real receivers on 127.0.0.1: an SMTP server, an
// ntfy-shaped HTTP receiver and a healthchecks-shaped one. A scheduled run whose target is missing
// (unreachable) sends exactly one e-mail, one ntfy message and one /fail ping, each naming the
// job and the fix; the same failure again tells nobody again (only the per-run ping); a run
// killed outright is reported by what systemd's OnFailure= runs (`notify-failure`), matched by
// its invocation id; one stopped by SIGTERM tells itself (or its handler does); the next good run
// sends "recovered" once.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { diskWorld } from '../helpers/disk-world.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import {
  hangingListener,
  parseMail,
  startHttpReceiver,
  startSmtp,
  type HttpRequestSeen,
} from '../helpers/notify-receivers.js';
import { descendantsOf, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';
import { runUuid } from '../../src/notify/policy.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'python3']);
});

const secrets = { token: 'tk-ntfy-Secret-81', ping: 'ping-uuid-Secret-29f' };

async function journalLines(stateDir: string): Promise<Record<string, unknown>[]> {
  return (await readFile(join(stateDir, 'journal.ndjson'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const pingsOf = (requests: readonly HttpRequestSeen[], suffix: string): HttpRequestSeen[] =>
  requests.filter(
    (request) => new URL(request.url, 'http://x').pathname === `/ping/${secrets.ping}${suffix}`,
  );

describe('notifications of scheduled runs', () => {
  it('failure, the same failure again, a killed run, recovery: each told once, with the job and the fix', async () => {
    const world = await diskWorld(cleanups, 'notify', 256);
    const smtp = await startSmtp(cleanups);
    const ntfy = await startHttpReceiver(cleanups);
    const hc = await startHttpReceiver(cleanups);
    const hang = await hangingListener(cleanups);
    await writeFile(join(world.base, 'id_ed25519'), '');
    await writeFile(join(world.base, 'known_hosts'), '');
    const configFor = (target: string): string => `state_dir: ${world.stateDir}
ssh:
  identity_file: ${join(world.base, 'id_ed25519')}
  known_hosts: ${join(world.base, 'known_hosts')}
  connect_timeout: 600
targets:
  nas: { path: "${target}" }
subvolumes:
  data:
    path: ${world.data}
    snapshot_dir: ${join(world.source.mountPoint, 'snapshots')}
    targets: [nas]
schedules:
  nightly: { command: run, when: daily }
notify:
  timeout: 5s
  email:
    mail:
      host: 127.0.0.1
      port: ${smtp.port}
      security: none
      from: snapkeep@example.com
      to: [ops@example.com, oncall@example.com]
  ntfy:
    phone: { server: "${ntfy.url}", topic: backups, token: env:NTFY_TOKEN }
  healthchecks:
    hc: { url: env:HC_URL }
`;
    const env = (invocation: string): Record<string, string> => ({
      SNAPKEEP_JOB: 'nightly',
      INVOCATION_ID: invocation,
      NTFY_TOKEN: secrets.token,
      HC_URL: `${hc.url}/ping/${secrets.ping}`,
    });
    const outputs: string[] = [];
    const run = async (invocation: string, code: number): Promise<void> => {
      const result = await snapkeep(['run', '--config', world.configPath], { env: env(invocation) });
      outputs.push(result.stdout, result.stderr);
      expectExit(result, code);
    };

    // 1. The target is missing: unreachable (exit 10).
    await writeFile(world.configPath, configFor(join(world.target.mountPoint, 'missing')));
    await run('inv-1', 10);
    expect(smtp.mails).toHaveLength(1);
    expect(ntfy.requests).toHaveLength(1);
    expect(pingsOf(hc.requests, '/fail')).toHaveLength(1);
    const [firstRun] = (await journalLines(world.stateDir)).filter((line) => line.event === 'run-start');
    const mail = await parseMail(smtp.mails[0]!.raw);
    expect(smtp.mails[0]!.to).toEqual(['ops@example.com', 'oncall@example.com']);
    expect(smtp.mails[0]!.from).toBe('snapkeep@example.com');
    expect(mail.subject).toMatch(/^\[snapkeep .+\] FAILED data → nas$/);
    expect(mail.to).toBe('ops@example.com, oncall@example.com');
    expect(mail.headers['Auto-Submitted']).toBe('auto-generated');
    expect(mail.headers['X-Snapkeep-Event']).toBe('failure');
    expect(mail.headers['X-Snapkeep-Run']).toBe(firstRun!.run);
    expect(mail.body).toContain('FAILED      data → nas');
    expect(mail.body).toContain('does not exist (is the disk mounted?');
    expect(mail.body).toContain('fix:   snapkeep doctor --target nas');
    expect(mail.body).toContain(
      `run ${String(firstRun!.run)}: snapkeep run (scheduled job nightly), failed (exit 10)`,
    );
    const published = JSON.parse(ntfy.requests[0]!.body) as Record<string, unknown>;
    expect(ntfy.requests[0]!.headers.authorization).toBe(`Bearer ${secrets.token}`);
    expect(published).toMatchObject({ topic: 'backups', priority: 5, tags: ['rotating_light'] });
    expect(published.title).toBe(mail.subject);
    expect(String(published.message)).toContain('snapkeep doctor --target nas');
    // healthchecks: start, then fail, paired by the run's id; the body names the job and the fix.
    const [start] = pingsOf(hc.requests, '/start');
    const [fail] = pingsOf(hc.requests, '/fail');
    expect(new URL(start!.url, 'http://x').searchParams.get('rid')).toBe(runUuid(String(firstRun!.run)));
    expect(new URL(fail!.url, 'http://x').searchParams.get('rid')).toBe(runUuid(String(firstRun!.run)));
    expect(hc.requests.indexOf(start!)).toBeLessThan(hc.requests.indexOf(fail!));
    expect(fail!.body).toContain('data → nas');
    expect(fail!.body).toContain('snapkeep doctor --target nas');

    // 2. The same failure again: nobody is told twice; healthchecks gets this run's own /fail.
    await run('inv-2', 10);
    expect(smtp.mails).toHaveLength(1);
    expect(ntfy.requests).toHaveLength(1);
    expect(pingsOf(hc.requests, '/fail')).toHaveLength(2);

    // 3. A run killed outright (SIGKILL while it waits for a target that never answers).
    await writeFile(world.configPath, configFor(`ssh://snapkeep@127.0.0.1:${hang.port}/backups`));
    const killed = startSnapkeep(['run', '--config', world.configPath], { env: env('inv-3') });
    await waitUntil('the run to reach the target', () => hang.connections() > 0);
    await waitUntil('its /start ping', () => pingsOf(hc.requests, '/start').length === 3);
    const children = descendantsOf(killed.pid).map((entry) => entry.pid);
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    await killAndReap(children);
    const killedRun = (await journalLines(world.stateDir))
      .filter((line) => line.event === 'run-start')
      .at(-1)!;
    expect(killedRun.invocation).toBe('inv-3');
    // What snapkeep-failure@.service runs, with the variables systemd sets for OnFailure= units.
    const failure = await snapkeep(
      ['notify-failure', '--config', world.configPath, 'snapkeep-job-nightly.service'],
      {
        env: {
          ...env('inv-failure'),
          SNAPKEEP_JOB: '',
          MONITOR_INVOCATION_ID: 'inv-3',
          MONITOR_SERVICE_RESULT: 'signal',
          MONITOR_EXIT_STATUS: 'KILL',
        },
      },
    );
    outputs.push(failure.stdout, failure.stderr);
    expectExit(failure, 0);
    expect(failure.stderr).toContain('journalctl -u snapkeep-job-nightly.service');
    expect(smtp.mails).toHaveLength(2);
    expect(ntfy.requests).toHaveLength(2);
    expect(pingsOf(hc.requests, '/fail')).toHaveLength(3);
    const killedMail = await parseMail(smtp.mails[1]!.raw);
    expect(killedMail.subject).toMatch(/KILLED data → nas$/);
    expect(killedMail.body).toContain('its process ended without writing its end');
    expect(killedMail.body).toContain('fix:   snapkeep run data');
    expect(killedMail.body).toContain('journalctl -k');
    expect(String((JSON.parse(ntfy.requests[1]!.body) as Record<string, unknown>).title)).toMatch(
      /KILLED data → nas$/,
    );
    const killedPing = pingsOf(hc.requests, '/fail').at(-1)!;
    expect(new URL(killedPing.url, 'http://x').searchParams.get('rid')).toBe(runUuid(String(killedRun.run)));
    // Handled: the handler run again (a second failure unit, a retry) tells nobody again.
    expectExit(
      await snapkeep(['notify-failure', '--config', world.configPath, 'snapkeep-job-nightly.service'], {
        env: { ...env('inv-failure-2'), SNAPKEEP_JOB: '', MONITOR_INVOCATION_ID: 'inv-3' },
      }),
      0,
    );
    expect(smtp.mails).toHaveLength(2);
    expect(pingsOf(hc.requests, '/fail')).toHaveLength(3);

    // 4. Stopped by SIGTERM (a job's timeout, a shutdown): the run writes its end and tells within
    // the second it has; what it could not send in that second its OnFailure= handler sends.
    const stopped = startSnapkeep(['run', '--config', world.configPath], { env: env('inv-4') });
    await waitUntil('the run to reach the target again', () => hang.connections() > 1);
    await waitUntil('its /start ping', () => pingsOf(hc.requests, '/start').length === 4);
    process.kill(stopped.pid, 'SIGTERM');
    expect((await stopped.exited).code).toBe(130);
    expectExit(
      await snapkeep(['notify-failure', '--config', world.configPath, 'snapkeep-job-nightly.service'], {
        env: { ...env('inv-failure-3'), SNAPKEEP_JOB: '', MONITOR_INVOCATION_ID: 'inv-4' },
      }),
      0,
    );
    expect(smtp.mails).toHaveLength(3);
    expect((await parseMail(smtp.mails[2]!.raw)).subject).toMatch(/INTERRUPTED data → nas$/);
    expect(ntfy.requests).toHaveLength(3);
    expect(pingsOf(hc.requests, '/fail')).toHaveLength(4);

    // 5. The target is back (a local directory): "recovered", once.
    await writeFile(world.configPath, configFor(world.targetDir));
    await run('inv-5', 0);
    expect(smtp.mails).toHaveLength(4);
    expect(ntfy.requests).toHaveLength(4);
    const recovered = await parseMail(smtp.mails[3]!.raw);
    expect(recovered.subject).toMatch(/RECOVERED data → nas$/);
    expect(recovered.headers['X-Snapkeep-Event']).toBe('recovered');
    expect(JSON.parse(ntfy.requests[3]!.body)).toMatchObject({ priority: 3, tags: ['white_check_mark'] });
    const [success] = pingsOf(hc.requests, '');
    expect(success).toBeDefined();
    await run('inv-6', 0);
    expect(smtp.mails).toHaveLength(4);
    expect(ntfy.requests).toHaveLength(4);
    expect(pingsOf(hc.requests, '')).toHaveLength(2);

    // Every send is journaled; no secret in any output, journal line or the notification state.
    const notifications = (await journalLines(world.stateDir)).filter(
      (line) => line.event === 'notification',
    );
    expect(notifications.every((line) => line.ok === true)).toBe(true);
    expect(notifications.filter((line) => line.channel === 'mail')).toHaveLength(4);
    const written = [
      ...outputs,
      await readFile(join(world.stateDir, 'journal.ndjson'), 'utf8'),
      await readFile(join(world.stateDir, 'notify-state.json'), 'utf8'),
    ].join('\n');
    for (const secret of Object.values(secrets)) expect(written).not.toContain(secret);

    // status --json shows each channel's last delivery.
    const status = events(
      (await snapkeep(['status', '--json', '--config', world.configPath], { env: env('x') })).stdout,
    );
    expect(
      status
        .filter((event) => event.type === 'channel-status')
        .map((event) => event.channel)
        .sort(),
    ).toEqual(['hc', 'mail', 'phone']);
  });
});
