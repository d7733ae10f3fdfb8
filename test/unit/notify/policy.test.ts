// The notification policy, on statuses derived from journals as the runs write them: what is
// told, when it is told again, what recovers, what is withheld and why.
import { describe, expect, it } from 'vitest';
import { resolveNotify, type ResolvedNotify } from '../../../src/config/resolve.js';
import { renderNotice } from '../../../src/notify/message.js';
import {
  emptyNotifyState,
  planNotifications,
  recordDelivery,
  runUuid,
  type NotifyState,
  type RunFacts,
  type Trigger,
} from '../../../src/notify/policy.js';
import { deriveStatus } from '../../../src/state/derive-status.js';
import type { JournalEvent } from '../../../src/state/journal-events.js';
import { recordedRuns } from '../../../src/state/run-history.js';

const at = (hour: number): string => new Date(Date.UTC(2026, 10, 30, hour)).toISOString();

/** A run of `run` for data → nas: started at `hour`, ended a minute later (or not at all). */
function run(
  id: string,
  hour: number,
  outcome: 'ok' | 'unreachable' | 'killed',
  job: string | null = 'nightly',
): JournalEvent[] {
  const start = {
    v: 1,
    time: at(hour),
    run: id,
    event: 'run-start',
    command: 'run',
    pid: 999_999,
    ...(job ? { job } : {}),
  } as JournalEvent;
  if (outcome === 'killed') return [start];
  return [
    start,
    {
      v: 1,
      time: new Date(Date.parse(at(hour)) + 60_000).toISOString(),
      run: id,
      event: 'run-end',
      command: 'run',
      exitCode: outcome === 'ok' ? 0 : 10,
      jobs: [
        outcome === 'ok'
          ? { subvolume: 'data', target: 'nas', status: 'ok' }
          : { subvolume: 'data', target: 'nas', status: 'unreachable', message: '/mnt/nas does not exist' },
      ],
    },
  ];
}

const settings = (notify: Parameters<typeof resolveNotify>[0] = {}): ResolvedNotify =>
  resolveNotify({
    email: { mail: { host: 'smtp.example.com', from: 'a@example.com', to: ['b@example.com'] } },
    healthchecks: { hc: { url: 'env:HC' } },
    ...notify,
  });

interface Step {
  readonly journal: JournalEvent[];
  readonly trigger: Trigger;
  readonly hour: number;
  readonly state: NotifyState;
  readonly notify?: ResolvedNotify;
}

function plan({ journal, trigger, hour, state, notify = settings() }: Step) {
  const probe = () => false;
  const status = deriveStatus(journal, () => ({}), {}, new Date(at(hour)), {
    jobs: [{ kind: 'btrfs', subvolume: 'data', target: 'nas' }],
    staleHours: () => 26,
    probe,
  });
  return planNotifications({
    trigger,
    status,
    runs: recordedRuns(journal, probe),
    settings: notify,
    state,
    now: new Date(at(hour)),
  });
}

/** Deliver every notice of the plan (what the notifier does when the channels answer). */
function delivered(result: ReturnType<typeof plan>, hour: number): NotifyState {
  return result.notices.reduce(
    (state, notice) => recordDelivery(state, notice, new Date(at(hour))),
    result.state,
  );
}

const ended = (id: string, state: RunFacts['state'], job: string | null = 'nightly'): Trigger => ({
  kind: 'run',
  run: { id, command: 'run', state, ...(job ? { job } : {}) },
});

const mailOf = (result: ReturnType<typeof plan>) =>
  result.notices.find((notice) => notice.channel.name === 'mail');
const pingsOf = (result: ReturnType<typeof plan>) =>
  result.notices.filter((notice) => notice.channel.name === 'hc').map((notice) => notice.ping);

describe('the notification policy', () => {
  it('a failure is told once; again when it changes kind or at the reminder; recovered once', () => {
    let journal = run('r1', 0, 'unreachable');
    const first = plan({ journal, trigger: ended('r1', 'failed'), hour: 0, state: emptyNotifyState() });
    expect(mailOf(first)?.items).toEqual([
      expect.objectContaining({ key: 'job:data → nas', kind: 'failure', reason: 'new' }),
    ]);
    expect(pingsOf(first)).toEqual([{ kind: 'fail', run: 'r1' }]);
    let state = delivered(first, 0);

    journal = [...journal, ...run('r2', 4, 'unreachable')];
    const again = plan({ journal, trigger: ended('r2', 'failed'), hour: 4, state });
    expect(mailOf(again)).toBeUndefined();
    expect(again.decisions.find((decision) => decision.channel === 'mail')?.reason).toMatch(
      /^data → nas: failure told before \(2026-11-30T00:00:00\.000Z\)$/,
    );
    expect(pingsOf(again)).toEqual([{ kind: 'fail', run: 'r2' }]);
    state = delivered(again, 4);

    journal = [...journal, ...run('r3', 8, 'killed')];
    const killed = plan({
      journal,
      trigger: {
        kind: 'unit-failed',
        unit: 'snapkeep-job-nightly.service',
        job: 'nightly',
        run: { id: 'r3', command: 'run', state: 'killed', job: 'nightly' },
      },
      hour: 8,
      state,
    });
    expect(mailOf(killed)?.items).toEqual([expect.objectContaining({ kind: 'killed', reason: 'changed' })]);
    expect(pingsOf(killed)).toEqual([{ kind: 'fail', run: 'r3' }]);
    state = delivered(killed, 8);

    // Still killed a day later: a reminder.
    const reminder = plan({ journal, trigger: { kind: 'watchdog' }, hour: 32, state });
    expect(mailOf(reminder)?.items).toEqual([
      expect.objectContaining({ kind: 'killed', reason: 'reminder' }),
    ]);
    state = delivered(reminder, 32);

    journal = [...journal, ...run('r4', 33, 'ok')];
    const recovered = plan({ journal, trigger: ended('r4', 'ok'), hour: 33, state });
    expect(mailOf(recovered)?.items).toEqual([
      expect.objectContaining({ kind: 'recovered', subject: 'data → nas', reason: 'recovered' }),
    ]);
    expect(pingsOf(recovered)).toEqual([{ kind: 'success', run: 'r4' }]);
    state = delivered(recovered, 33);
    journal = [...journal, ...run('r5', 37, 'ok')];
    expect(mailOf(plan({ journal, trigger: ended('r5', 'ok'), hour: 37, state }))).toBeUndefined();
  });

  it('a channel that did not take a message gets it the next time anything notifies', () => {
    const journal = run('r1', 0, 'unreachable');
    const first = plan({ journal, trigger: ended('r1', 'failed'), hour: 0, state: emptyNotifyState() });
    // Nothing delivered: the state stays as it was.
    const retry = plan({ journal, trigger: { kind: 'watchdog' }, hour: 1, state: first.state });
    expect(mailOf(retry)?.items).toEqual([expect.objectContaining({ kind: 'failure', reason: 'new' })]);
    // The run's own /fail ping is sent again by the watchdog; never a late success.
    expect(pingsOf(retry)).toEqual([{ kind: 'fail', run: 'r1' }]);
    const good = [...run('g1', 0, 'ok')];
    expect(
      pingsOf(plan({ journal: good, trigger: { kind: 'watchdog' }, hour: 1, state: emptyNotifyState() })),
    ).toEqual([]);
  });

  it('a run started by hand notifies nobody, nor do the failures it caused; absence is told whoever caused it', () => {
    // A good scheduled run, then one by hand that fails.
    const journal = [...run('g0', 0, 'ok'), ...run('h1', 1, 'unreachable', null)];
    const byHand = plan({
      journal,
      trigger: ended('h1', 'failed', null),
      hour: 1,
      state: emptyNotifyState(),
    });
    expect(byHand.notices).toEqual([]);
    expect(byHand.decisions[0]!.reason).toContain('started by hand');
    const watchdog = plan({ journal, trigger: { kind: 'watchdog' }, hour: 2, state: emptyNotifyState() });
    expect(mailOf(watchdog)).toBeUndefined();
    expect(watchdog.decisions.find((decision) => decision.channel === 'mail')?.reason).toBe(
      'data → nas: not sent, its last attempt (snapkeep run) was started by hand: whoever ran it saw the result',
    );
    // A day after the last success the job is stale: that is told.
    const stale = plan({ journal, trigger: { kind: 'watchdog' }, hour: 30, state: emptyNotifyState() });
    expect(mailOf(stale)?.items).toEqual([expect.objectContaining({ kind: 'stale', reason: 'new' })]);
    // interactive: true tells failures of hand-run runs too.
    const told = plan({
      journal,
      trigger: ended('h1', 'failed', null),
      hour: 1,
      state: emptyNotifyState(),
      notify: settings({ interactive: true }),
    });
    expect(mailOf(told)?.items).toEqual([expect.objectContaining({ kind: 'failure' })]);
  });

  it('a channel gets only its events; recoveries of what it was never told are not sent', () => {
    const notify = settings({
      email: {
        mail: { host: 'smtp.example.com', from: 'a@example.com', to: ['b@example.com'], events: ['stale'] },
      },
    });
    const journal = run('r1', 0, 'unreachable');
    const result = plan({
      journal,
      trigger: ended('r1', 'failed'),
      hour: 0,
      state: emptyNotifyState(),
      notify,
    });
    expect(mailOf(result)).toBeUndefined();
    const recovered = plan({
      journal: [...journal, ...run('r2', 1, 'ok')],
      trigger: ended('r2', 'ok'),
      hour: 1,
      state: result.state,
      notify,
    });
    expect(mailOf(recovered)).toBeUndefined();
    // `success` when asked for: one per scheduled run that went well.
    const success = plan({
      journal: run('s1', 0, 'ok'),
      trigger: ended('s1', 'ok'),
      hour: 0,
      state: emptyNotifyState(),
      notify: settings({ events: ['success'] }),
    });
    expect(mailOf(success)?.items).toEqual([expect.objectContaining({ kind: 'success', reason: 'event' })]);
  });

  it('a lock refusal is told once within the reminder interval; never pinged as a run', () => {
    const refused: Trigger = {
      kind: 'run',
      run: {
        id: 'x1',
        command: 'run',
        state: 'refused',
        job: 'nightly',
        error: 'another snapkeep run holds the lock',
      },
    };
    const journal = run('r0', 0, 'ok');
    const first = plan({ journal, trigger: refused, hour: 1, state: emptyNotifyState() });
    expect(mailOf(first)?.items).toEqual([
      expect.objectContaining({ kind: 'lock-conflict', key: 'lock:nightly' }),
    ]);
    expect(pingsOf(first)).toEqual([{ kind: 'log' }]);
    const state = delivered(first, 1);
    const second = plan({
      journal,
      trigger: { ...refused, run: { ...refused.run, id: 'x2' } },
      hour: 5,
      state,
    });
    expect(second.notices).toEqual([]);
    const later = plan({
      journal,
      trigger: { ...refused, run: { ...refused.run, id: 'x3' } },
      hour: 26,
      state,
    });
    expect(mailOf(later)?.items).toEqual([expect.objectContaining({ kind: 'lock-conflict' })]);
  });

  it('a scheduled run whose failure no job shows (verify) is told as its own problem', () => {
    const journal: JournalEvent[] = [
      ...run('r0', 0, 'ok'),
      {
        v: 1,
        time: at(1),
        run: 'v1',
        event: 'run-start',
        command: 'verify',
        job: 'weekly',
        pid: 1,
      },
      {
        v: 1,
        time: at(2),
        run: 'v1',
        event: 'run-end',
        command: 'verify',
        exitCode: 3,
        error: 'restic check found errors in local',
      },
    ];
    const result = plan({
      journal,
      trigger: {
        kind: 'run',
        run: { id: 'v1', command: 'verify', state: 'failed', job: 'weekly', exitCode: 3 },
      },
      hour: 2,
      state: emptyNotifyState(),
    });
    expect(mailOf(result)?.items).toEqual([
      expect.objectContaining({
        key: 'run:weekly',
        kind: 'failure',
        subject: 'scheduled job weekly (snapkeep verify)',
      }),
    ]);
    expect(mailOf(result)!.items[0]!.explanation?.cause).toBe('restic check found errors in local');
  });

  it('one message names every problem that is due, with cause and fix; the rest as still open', () => {
    const journal = run('r1', 0, 'unreachable');
    const result = plan({ journal, trigger: ended('r1', 'failed'), hour: 0, state: emptyNotifyState() });
    const message = renderNotice(mailOf(result)!, {
      host: 'laptop',
      now: new Date(at(0)),
      stateDir: '/var/lib/snapkeep',
    });
    expect(message.title).toBe('[snapkeep laptop] FAILED data → nas');
    expect(message.severity).toBe('critical');
    expect(message.text).toContain(
      '  failed: unreachable: /mnt/nas does not exist (2026-11-30T00:01:00.000Z, snapkeep run)',
    );
    expect(message.text).toContain('  fix:   snapkeep doctor --target nas');
    expect(message.text).toContain('run r1: snapkeep run (scheduled job nightly), failed');
    expect(message.payload).toMatchObject({
      schema: 'snapkeep-notification/1',
      trigger: 'run',
      severity: 'critical',
      kinds: ['failure'],
      run: { id: 'r1', job: 'nightly', state: 'failed' },
      events: [{ kind: 'failure', subject: 'data → nas' }],
    });
    expect((message.payload as { events: { fix: string[] }[] }).events[0]!.fix).toContain(
      'snapkeep resume data  (sends what is pending once it answers)',
    );
  });

  it('a target nearly full: by free space, or by a trend of a day at least (not of minutes)', () => {
    const sample = (hour: number, usedBytes: number, freeBytes: number): JournalEvent => ({
      v: 1,
      time: at(hour),
      run: `s${hour}`,
      event: 'run-end',
      command: 'snapshot',
      exitCode: 0,
      space: [{ target: 'nas', path: '/mnt/nas', usedBytes, freeBytes, sizeBytes: 100 * 2 ** 30 }],
    });
    const gib = 2 ** 30;
    const targetFull = (journal: JournalEvent[], hour: number) =>
      mailOf(
        plan({
          journal: [...run('r0', 0, 'ok'), ...journal],
          trigger: { kind: 'watchdog' },
          hour,
          state: emptyNotifyState(),
        }),
      )?.items.filter((entry) => entry.kind === 'target-full') ?? [];
    // Growing 20 GiB in ten minutes, 50 GiB free: "full in hours" from noise, not told.
    expect(targetFull([sample(1, 30 * gib, 50 * gib), sample(1.17, 50 * gib, 50 * gib)], 2)).toEqual([]);
    // 10 GiB a day over two days, 50 GiB free: full in 5 days, within 7.
    expect(
      targetFull(
        [sample(1, 30 * gib, 70 * gib), sample(25, 40 * gib, 60 * gib), sample(49, 50 * gib, 50 * gib)],
        50,
      ),
    ).toEqual([expect.objectContaining({ key: 'space:nas', subject: 'target nas', reason: 'new' })]);
    // Under 10 % free, whatever the trend.
    expect(targetFull([sample(1, 95 * gib, 5 * gib)], 2)).toEqual([
      expect.objectContaining({ key: 'space:nas' }),
    ]);
  });

  it('run ids become UUIDs for healthchecks (rid), the same in every process', () => {
    expect(runUuid('20261130T000000-42')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(runUuid('20261130T000000-42')).toBe(runUuid('20261130T000000-42'));
    expect(runUuid('20261130T000000-42')).not.toBe(runUuid('20261130T000000-43'));
  });
});
