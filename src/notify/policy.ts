// Who is told what, and why (pure): from the derived status, the runs the journal records, what
// each channel was told before (the notification state) and the clock, the notices to send —
// one per channel, naming every problem that is new, changed or due for a reminder, with the
// others still open beside them — and, for every channel that gets nothing, the reason.
//
// Rules (README "Notifications"):
// - Only scheduled runs notify (SNAPKEEP_JOB); a run started by hand is seen by whoever started
//   it, so neither its end nor the failures it caused are sent (unless `interactive: true`).
//   Absence (stale) and the watchdog's findings are sent whoever caused them.
// - A problem is told once per channel; again when it changes kind (failure → killed) or after
//   the reminder interval while it lasts; `recovered` once when it is gone.
// - healthchecks channels are a dead man's switch: every scheduled run they cover pings start,
//   then success or fail with its run id; other events go to /log.
import { createHash } from 'node:crypto';
import type { NotifyEventKind } from '../config/notify-schema.js';
import type { ResolvedChannel, ResolvedNotify } from '../config/resolve.js';
import { describeHours, type DerivedStatus, type JobStatus, type Outcome } from '../state/derive-status.js';
import { wakeJobName } from '../schedule/jobs.js';
import { jobUnitName, resumeUnitName } from '../schedule/systemd-units.js';
import { describeRunOutcome, type RecordedRun } from '../state/run-history.js';
import {
  explainDrill,
  explainFailingJob,
  explainSpace,
  explainStaleJob,
  explainUnfinished,
  type Explanation,
} from './explain.js';

/** The facts of one run a notice is about. */
export interface RunFacts {
  readonly id: string;
  readonly command: string;
  /** ok | failed | interrupted | killed | running, or refused (the lock: it never started). */
  readonly state: RecordedRun['state'] | 'refused';
  readonly exitCode?: number;
  readonly error?: string;
  readonly signal?: string;
  /** The schedule's job that started it (SNAPKEEP_JOB); absent: started by hand. */
  readonly job?: string;
}

export type Trigger =
  /** A run ended, or the lock refused it (the run lifecycle's observer). */
  | { readonly kind: 'run'; readonly run: RunFacts }
  /** systemd's OnFailure= of a scheduled job (`notify-failure`): its run, if one was recorded. */
  | {
      readonly kind: 'unit-failed';
      readonly unit: string;
      readonly job?: string;
      readonly run?: RunFacts;
      /** What systemd says of the failure (MONITOR_SERVICE_RESULT, MONITOR_EXIT_STATUS). */
      readonly result?: string;
    }
  /** The scheduled watchdog (`notify watchdog`): no run of its own. */
  | { readonly kind: 'watchdog' };

/** What a channel was told about one problem. */
export interface Told {
  readonly kind: NotifyEventKind;
  /** When it was last told. */
  readonly at: string;
  /** When it was first told (this kind). */
  readonly since: string;
  readonly subject: string;
}

/** The notification state (notify-state.ts keeps it in the state directory). */
export interface NotifyState {
  readonly v: number;
  /** Per channel, per problem key. */
  readonly told: Readonly<Record<string, Readonly<Record<string, Told>>>>;
  /** healthchecks: per channel, the runs whose end was pinged (the newest 100). */
  readonly pinged: Readonly<Record<string, readonly string[]>>;
}

export const notifyStateVersion = 1;
export const emptyNotifyState = (): NotifyState => ({ v: notifyStateVersion, told: {}, pinged: {} });

export type ItemReason = 'new' | 'changed' | 'reminder' | 'recovered' | 'event' | 'open';

export interface NoticeItem {
  /** job:<id>, drill:<id>, space:<target>, run:<schedule job>, lock:<job>, unit:<unit>, success:<run> */
  readonly key: string;
  readonly kind: NotifyEventKind;
  /** The job, target or run it is about: `data → nas`, `target nas`. */
  readonly subject: string;
  /** What happened, in one line. */
  readonly detail: string;
  readonly explanation?: Explanation;
  readonly reason: ItemReason;
  /** When the channel was first told, for reminders and recoveries. */
  readonly since?: string;
}

export type Ping = 'start' | 'success' | 'fail' | 'log';

export interface Notice {
  readonly channel: ResolvedChannel;
  /** What is due: the reasons for sending. */
  readonly items: readonly NoticeItem[];
  /** Other problems still open, shown beside them (told before, or of kinds not sent here). */
  readonly open: readonly NoticeItem[];
  readonly trigger: Trigger['kind'] | 'test';
  /** The run it is about. */
  readonly run?: RunFacts;
  /** healthchecks only: which ping, and the run it is for. */
  readonly ping?: { readonly kind: Ping; readonly run?: string };
}

export interface Decision {
  readonly channel: string;
  readonly send: boolean;
  readonly reason: string;
}

export interface NotifyPlan {
  readonly notices: readonly Notice[];
  readonly decisions: readonly Decision[];
  /** The state with what needs no delivery applied (problems gone where `recovered` is not sent). */
  readonly state: NotifyState;
}

export interface PolicyInput {
  readonly trigger: Trigger;
  readonly status: DerivedStatus;
  /** The runs the journal records (run-history.ts), oldest first. */
  readonly runs: readonly RecordedRun[];
  readonly settings: ResolvedNotify;
  readonly state: NotifyState;
  readonly now: Date;
}

const outcomeKinds: Readonly<Partial<Record<Outcome, NotifyEventKind>>> = {
  failed: 'failure',
  partial: 'partial',
  interrupted: 'interrupted',
  killed: 'killed',
};

const runStateKinds: Readonly<Partial<Record<RunFacts['state'], NotifyEventKind>>> = {
  failed: 'failure',
  interrupted: 'interrupted',
  killed: 'killed',
};

interface Problem {
  readonly key: string;
  readonly kind: NotifyEventKind;
  readonly subject: string;
  readonly detail: string;
  readonly explanation: Explanation;
  /** Why it is not sent even though it is open (a failure of a run started by hand). */
  readonly withheld?: string;
}

/** Keys of problems that last (and recover); the others are occurrences (remembered for dedup). */
const lasting = (key: string): boolean => /^(?:job|drill|space|run):/.test(key);

const ageText = (job: JobStatus): string =>
  job.lastSuccess
    ? `no success since ${job.lastSuccess.time} (${describeHours(job.ageHours ?? 0)} ago; threshold ${describeHours(job.staleHours)})`
    : `never completed (threshold ${describeHours(job.staleHours)})`;

/** Every problem the status shows now, with whether its cause may be sent. */
function problemsOf(input: PolicyInput): Problem[] {
  const { status, runs, settings } = input;
  const jobOfRun = new Map(
    runs.map((run) => [run.id, typeof run.start?.job === 'string' ? run.start.job : null]),
  );
  // A failure a person caused at a terminal is theirs to see; one no run records is not theirs.
  const byHand = (run: string): boolean => !settings.interactive && jobOfRun.get(run) === null;
  const problems: Problem[] = [];
  for (const job of status.jobs) {
    const attempt = job.lastAttempt;
    const failing = attempt && job.failing ? outcomeKinds[attempt.outcome] : undefined;
    // A failure someone saw at a terminal is theirs; the absence it leaves (stale) is told.
    const withheld = attempt !== undefined && byHand(attempt.run) && !job.stale;
    if (attempt && failing && (withheld || !byHand(attempt.run)))
      problems.push({
        key: `job:${job.id}`,
        kind: failing,
        subject: job.id,
        detail: `${attempt.outcome}${attempt.message ? `: ${attempt.message}` : ''} (${attempt.time}, snapkeep ${attempt.command})`,
        explanation: explainFailingJob(job),
        ...(withheld
          ? {
              withheld: `its last attempt (snapkeep ${attempt.command}) was started by hand: whoever ran it saw the result`,
            }
          : {}),
      });
    else if (job.stale)
      problems.push({
        key: `job:${job.id}`,
        kind: 'stale',
        subject: job.id,
        detail: ageText(job),
        explanation: explainStaleJob(job),
      });
    if (job.drillFailed && job.drill)
      problems.push({
        key: `drill:${job.id}`,
        kind: 'drill-failed',
        subject: job.id,
        detail: `restore drill ${job.drill.time} failed${job.drill.detail ? `: ${job.drill.detail}` : ''}`,
        explanation: explainDrill(job),
      });
  }
  for (const space of status.space) {
    const percent = space.sizeBytes > 0 ? (100 * space.freeBytes) / space.sizeBytes : 100;
    // A trend of minutes (two runs in a row) says nothing of the days ahead: a day of samples at least.
    const soon =
      space.fullInDays !== undefined &&
      (space.sampleDays ?? 0) >= 1 &&
      space.fullInDays <= settings.fullWithinDays;
    if (percent < settings.fullBelowPercent || soon)
      problems.push({
        key: `space:${space.target}`,
        kind: 'target-full',
        subject: `target ${space.target}`,
        detail: `${explainSpace(space).cause} (measured ${space.time})`,
        explanation: explainSpace(space),
      });
  }
  // A scheduled run whose failure no job shows (a verify, an error before any job): the run's own.
  const explained = new Set(
    status.jobs.flatMap((job) => [job.lastAttempt?.run, job.drill?.run].filter((run) => run !== undefined)),
  );
  const newestOfJob = new Map<string, RecordedRun>();
  for (const run of runs) {
    const job = run.start?.job;
    if (typeof job === 'string' && run.state !== 'running') newestOfJob.set(job, run);
  }
  for (const [job, run] of newestOfJob) {
    const kind = runStateKinds[run.state];
    if (!kind || explained.has(run.id)) continue;
    problems.push({
      key: `run:${job}`,
      kind,
      subject: `scheduled job ${job} (snapkeep ${run.command})`,
      detail: `${run.time}: ${describeRunOutcome(run)}`,
      explanation:
        run.state === 'failed'
          ? {
              cause: run.error ?? `snapkeep ${run.command} exited ${run.exitCode ?? '?'}`,
              fix: [
                `journalctl -u ${unitOfJob(job)}  (the run's output; under cron: its mail)`,
                'snapkeep doctor',
              ],
            }
          : explainUnfinished(run, `snapkeep ${run.command}`),
    });
  }
  return problems;
}

/** What the trigger itself is about, beyond lasting problems (told once, not recovered). */
function occurrencesOf(trigger: Trigger): Problem[] {
  const run = trigger.kind === 'watchdog' ? undefined : trigger.run;
  if (run?.state === 'refused')
    return [
      {
        key: `lock:${run.job ?? run.command}`,
        kind: 'lock-conflict',
        subject: run.job ? `scheduled job ${run.job} (snapkeep ${run.command})` : `snapkeep ${run.command}`,
        detail: `not run: ${run.error ?? 'another snapkeep run holds the lock'}`,
        explanation: {
          cause: 'another snapkeep run held the lock for longer than this job waits (its lock_wait)',
          fix: [
            'snapkeep status  (what ran at that time, and how long it took)',
            "give the job a longer lock_wait, or move it away from the other job's time",
          ],
        },
      },
    ];
  if (trigger.kind === 'unit-failed' && !trigger.run)
    return [
      {
        key: `unit:${trigger.unit}`,
        kind: 'failure',
        subject: trigger.job ? `scheduled job ${trigger.job}` : trigger.unit,
        detail: `${trigger.unit} failed${trigger.result ? ` (${trigger.result})` : ''} before snapkeep recorded a run`,
        explanation: {
          cause:
            'snapkeep stopped before its run began: a configuration error (exit 2), a missing program, or the unit itself',
          fix: [`journalctl -u ${trigger.unit}`, 'snapkeep config validate', 'snapkeep doctor prereqs'],
        },
      },
    ];
  if (trigger.kind === 'run' && run?.state === 'ok')
    return [
      {
        key: `success:${run.id}`,
        kind: 'success',
        subject: run.job ? `scheduled job ${run.job} (snapkeep ${run.command})` : `snapkeep ${run.command}`,
        detail: `ok (run ${run.id})`,
        explanation: { cause: '', fix: [] },
      },
    ];
  return [];
}

/** The systemd unit that runs a scheduled job (notifier.ts's jobOfUnit the other way). */
export const unitOfJob = (job: string): string =>
  job === wakeJobName ? resumeUnitName : jobUnitName(job, 'service');

const hoursSince = (now: Date, iso: string): number => (now.getTime() - Date.parse(iso)) / 3_600_000;

/** healthchecks' `rid`: a UUID, made from the run id so every process names a run the same. */
export function runUuid(run: string): string {
  const hex = createHash('sha256').update(`snapkeep-run\0${run}`).digest('hex');
  // Version 8 (custom), RFC 9562 variant.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Does a healthchecks channel ping the runs of this scheduled job? */
export const coversJob = (channel: ResolvedChannel, job: string | undefined): boolean =>
  channel.type === 'healthchecks' &&
  job !== undefined &&
  (channel.schedules.length === 0 || channel.schedules.includes(job));

const item = (problem: Problem, reason: ItemReason, since?: string): NoticeItem => ({
  key: problem.key,
  kind: problem.kind,
  subject: problem.subject,
  detail: problem.detail,
  explanation: problem.explanation,
  reason,
  ...(since ? { since } : {}),
});

export function planNotifications(input: PolicyInput): NotifyPlan {
  const { trigger, settings, now } = input;
  const decisions: Decision[] = [];
  const told: Record<string, Record<string, Told>> = {};
  for (const [channel, entries] of Object.entries(input.state.told)) told[channel] = { ...entries };
  const state = (): NotifyState => ({ v: notifyStateVersion, told, pinged: input.state.pinged });
  const run = trigger.kind === 'watchdog' ? undefined : trigger.run;
  if (trigger.kind === 'run' && !run?.job && !settings.interactive) {
    for (const channel of settings.channels)
      decisions.push({
        channel: channel.name,
        send: false,
        reason:
          'the run was started by hand: whoever started it sees the result (notify.interactive: true sends these too)',
      });
    return { notices: [], decisions, state: state() };
  }
  const problems = problemsOf(input);
  const occurrences = occurrencesOf(trigger);
  const current = new Set(problems.map((problem) => problem.key));
  const remindHours = settings.remindSeconds / 3600;
  // Occurrences are remembered to tell each once within the reminder interval (a day without one).
  const dedupHours = remindHours > 0 ? remindHours : 24;
  const notices: Notice[] = [];

  for (const channel of settings.channels) {
    const mine = new Map(Object.entries(told[channel.name] ?? {}));
    const wants = (kind: NotifyEventKind): boolean => channel.events.includes(kind);
    const due: NoticeItem[] = [];
    const open: NoticeItem[] = [];
    const quiet: string[] = [];
    // What the trigger itself is about first (the title names it), then the lasting problems.
    for (const occurrence of occurrences) {
      if (channel.type === 'healthchecks' && occurrence.kind !== 'lock-conflict') continue; // its pings say it
      if (!wants(occurrence.kind)) continue;
      const before = mine.get(occurrence.key);
      if (before && hoursSince(now, before.at) < dedupHours) {
        quiet.push(`${occurrence.subject}: ${occurrence.kind} told before (${before.at})`);
        continue;
      }
      due.push(item(occurrence, 'event'));
    }
    for (const problem of problems) {
      const before = mine.get(problem.key);
      if (!wants(problem.kind)) {
        open.push(item(problem, 'open'));
        continue;
      }
      if (problem.withheld) {
        quiet.push(`${problem.subject}: not sent, ${problem.withheld}`);
        if (before) open.push(item(problem, 'open', before.since));
        continue;
      }
      if (!before) due.push(item(problem, 'new'));
      else if (before.kind !== problem.kind) due.push(item(problem, 'changed'));
      else if (remindHours > 0 && hoursSince(now, before.at) >= remindHours)
        due.push(item(problem, 'reminder', before.since));
      else {
        open.push(item(problem, 'open', before.since));
        quiet.push(`${problem.subject}: ${problem.kind} told before (${before.at})`);
      }
    }
    for (const [key, before] of [...mine]) {
      if (lasting(key)) {
        if (current.has(key)) continue;
        if (wants('recovered'))
          due.push({
            key,
            kind: 'recovered',
            subject: before.subject,
            detail: `${before.kind} since ${before.since}; ok now`,
            reason: 'recovered',
            since: before.since,
          });
        else mine.delete(key); // gone; this channel is not told of recoveries
      } else if (hoursSince(now, before.at) >= dedupHours) mine.delete(key);
    }
    told[channel.name] = Object.fromEntries(mine);

    if (channel.type === 'healthchecks') {
      const pinged = input.state.pinged[channel.name] ?? [];
      const body = { channel, open: [...due, ...open], trigger: trigger.kind };
      const pingFor = (facts: RunFacts): void => {
        if (!coversJob(channel, facts.job) || facts.state === 'refused' || facts.state === 'running') return;
        if (pinged.includes(facts.id)) {
          quiet.push(`run ${facts.id}: its end was pinged already`);
          return;
        }
        const kind: Ping = facts.state === 'ok' ? 'success' : 'fail';
        notices.push({ ...body, items: [], run: facts, ping: { kind, run: facts.id } });
        decisions.push({ channel: channel.name, send: true, reason: `${kind} of run ${facts.id}` });
      };
      if (run) pingFor(run);
      else if (trigger.kind === 'unit-failed' && coversJob(channel, trigger.job)) {
        // Nothing recorded: fail without a run id (there is none).
        notices.push({ ...body, items: [], ping: { kind: 'fail' } });
        decisions.push({
          channel: channel.name,
          send: true,
          reason: `${trigger.unit} failed before a run began`,
        });
      }
      if (trigger.kind !== 'run') {
        // The newest run of each job that did not succeed and whose end no ping told: killed
        // outright (cron has no OnFailure=), or its ping did not go through. Never a late
        // success: a success pinged now for a run of days ago would reset the dead man's switch.
        const newest = new Map<string, RecordedRun>();
        for (const recorded of input.runs)
          if (typeof recorded.start?.job === 'string') newest.set(recorded.start.job, recorded);
        for (const [job, recorded] of newest)
          if (recorded.id !== run?.id && recorded.state !== 'ok' && !pinged.includes(recorded.id))
            pingFor({ id: recorded.id, command: recorded.command, state: recorded.state, job });
      }
      if (due.length > 0) {
        notices.push({ ...body, items: due, open, ping: { kind: 'log' } });
        decisions.push({
          channel: channel.name,
          send: true,
          reason: due.map((entry) => `${entry.kind} ${entry.subject} (${entry.reason})`).join('; '),
        });
      } else if (!notices.some((notice) => notice.channel === channel))
        decisions.push({
          channel: channel.name,
          send: false,
          reason: quiet.join('; ') || 'nothing to ping or log',
        });
      continue;
    }

    if (due.length === 0) {
      decisions.push({
        channel: channel.name,
        send: false,
        reason: quiet.join('; ') || 'nothing to tell',
      });
      continue;
    }
    notices.push({
      channel,
      items: due,
      open,
      trigger: trigger.kind,
      ...(run ? { run } : {}),
    });
    decisions.push({
      channel: channel.name,
      send: true,
      reason: due.map((entry) => `${entry.kind} ${entry.subject} (${entry.reason})`).join('; '),
    });
  }
  return { notices, decisions, state: state() };
}

/** The ping a scheduled run's start sends to each healthchecks channel that covers its job. */
export function startNotices(settings: ResolvedNotify, run: RunFacts): Notice[] {
  return settings.channels
    .filter((channel) => coversJob(channel, run.job))
    .map((channel) => ({
      channel,
      items: [],
      open: [],
      trigger: 'run',
      run,
      ping: { kind: 'start', run: run.id },
    }));
}

/** The state once `notice` went through at `at` (pure). */
export function recordDelivery(state: NotifyState, notice: Notice, at: Date): NotifyState {
  const name = notice.channel.name;
  const mine = new Map(Object.entries(state.told[name] ?? {}));
  const time = at.toISOString();
  for (const entry of notice.items) {
    if (entry.kind === 'recovered') mine.delete(entry.key);
    else if (entry.kind !== 'success')
      mine.set(entry.key, {
        kind: entry.kind,
        at: time,
        since: entry.reason === 'reminder' ? (entry.since ?? time) : time,
        subject: entry.subject,
      });
  }
  const pinged = { ...state.pinged };
  const ping = notice.ping;
  if (ping?.run !== undefined && (ping.kind === 'success' || ping.kind === 'fail'))
    pinged[name] = [...(pinged[name] ?? []).filter((run) => run !== ping.run), ping.run].slice(-100);
  return { v: notifyStateVersion, told: { ...state.told, [name]: Object.fromEntries(mine) }, pinged };
}
