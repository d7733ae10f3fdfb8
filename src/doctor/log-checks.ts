// `doctor logs`: what the journal says — the last run and the last backup, recent failures, and
// backups that silently stopped (no successful send to a target, or no complete backup of a
// set, for longer than the stale threshold). Pure: journal entries and the clock in, checks out.
import { formatHours, scope, type CheckResult } from './check.js';
import {
  deriveStatus,
  describeHours,
  lastRunOf,
  type DerivedStatus,
  type JobSpec,
  type JobStatus,
  type RecordedFailure,
  type TransferLookup,
} from '../state/derive-status.js';
import { asJournalEvent, type JournalEvent } from '../state/journal-events.js';
import type { StaleRule } from '../state/status-inputs.js';
import type { JournalEntry } from '../state/journal.js';
import { describeRunOutcome, processProbe, type RecordedRun, type RunProbe } from '../state/run-history.js';
import { explainUnfinished, scheduleFixes } from '../notify/explain.js';

export type { RecordedFailure } from '../state/derive-status.js';

export interface LogInputs {
  readonly journal: readonly JournalEntry[];
  readonly stateDir: string;
  /** (subvolume, target) pairs the config sends. */
  readonly pairs: readonly { readonly subvolume: string; readonly target: string }[];
  readonly backupSets: readonly string[];
  readonly now: Date;
  /**
   * When a job is stale: --stale-hours (hours after its last success, for every job), a threshold
   * per job, or the schedules' rule (status-inputs.ts StaleRule); undefined for a job: 26 h.
   */
  readonly staleHours: number | ((job: JobSpec) => number | undefined) | StaleRule;
  /** How far back "recent failures" look. */
  readonly recentHours: number;
  /** Is the process of a run without an end alive? (default: asks /proc) */
  readonly probe?: RunProbe;
  /** The config's jobs (default: the pairs, and each backup set on its own repository). */
  readonly jobs?: readonly JobSpec[];
  readonly transfers?: TransferLookup;
}

/** The btrfs engine's commands: "the last run" of doctor logs. */
const engineCommands = ['run', 'snapshot', 'resume', 'prune', 'clean'];

/** Why a run that did not finish did not, and what to do. */
function unfinished(run: RecordedRun): { cause: string; fixes: string[] } {
  const { cause, fix } = explainUnfinished(run);
  return { cause, fixes: [...fix] };
}

interface Job {
  readonly subvolume?: string;
  readonly target?: string;
  readonly status?: string;
  readonly message?: string;
}

const jobsOf = (entry: JournalEntry): Job[] => (Array.isArray(entry.jobs) ? (entry.jobs as Job[]) : []);
const setsOf = (entry: JournalEntry): { set?: string; ok?: boolean; error?: string }[] =>
  Array.isArray(entry.sets) ? (entry.sets as { set?: string; ok?: boolean; error?: string }[]) : [];
const hoursBetween = (now: Date, iso: string): number => (now.getTime() - Date.parse(iso)) / 3_600_000;

const events = (journal: readonly JournalEntry[]): JournalEvent[] =>
  journal.flatMap((entry) => {
    const event = asJournalEvent(entry);
    return event ? [event] : [];
  });

function derive(inputs: LogInputs): DerivedStatus {
  const jobs: readonly JobSpec[] = inputs.jobs ?? [
    ...inputs.pairs.map((pair): JobSpec => ({ kind: 'btrfs', ...pair })),
    ...inputs.backupSets.map((set): JobSpec => ({ kind: 'restic', set, repository: set, primary: true })),
  ];
  const stale = inputs.staleHours;
  return deriveStatus(events(inputs.journal), inputs.transfers ?? (() => ({})), {}, inputs.now, {
    jobs,
    ...(typeof stale === 'number'
      ? { staleHours: () => stale }
      : typeof stale === 'function'
        ? { staleHours: stale }
        : { staleHours: stale.hours, staleDeadline: stale.deadline }),
    probe: inputs.probe ?? processProbe,
  });
}

/** The failures the journal recorded, oldest first (killed runs included). */
export function recordedFailures(journal: readonly JournalEntry[], now = new Date()): RecordedFailure[] {
  return [...deriveStatus(events(journal), () => ({}), {}, now, { jobs: [] }).failures];
}

/** When the pair was last known to be up to date: a successful send, or a clean run that had nothing to send. */
export function lastUpToDate(
  journal: readonly JournalEntry[],
  subvolume: string,
  target: string,
): string | undefined {
  return deriveStatus(events(journal), () => ({}), {}, new Date(0), {
    jobs: [{ kind: 'btrfs', subvolume, target }],
    probe: () => false,
  }).jobs[0]?.lastSuccess?.time;
}

export function logChecks(inputs: LogInputs): CheckResult[] {
  const checks = scope('logs');
  const results: CheckResult[] = [];
  const { now } = inputs;
  const ago = (iso: string): string => `${formatHours(hoursBetween(now, iso))} ago`;

  const status = derive(inputs);

  // The last btrfs run
  const lastRun = lastRunOf(status, engineCommands);
  const subvolumesConfigured =
    inputs.pairs.length > 0 || (inputs.jobs ?? []).some((job) => job.kind === 'snapshot');
  if (!subvolumesConfigured && !lastRun) {
    results.push(checks.skip('last-run', 'last run', 'no subvolumes are configured'));
  } else if (!lastRun) {
    results.push(
      checks.warn(
        'last-run',
        'last run',
        `no run recorded in ${inputs.stateDir}`,
        'snapkeep has not run with this state directory yet',
        ['snapkeep run --dry-run, then snapkeep run'],
      ),
    );
  } else {
    const when = lastRun.endedAt ?? lastRun.time;
    const detail = `${when} (${ago(when)}): snapkeep ${lastRun.command}, ${describeRunOutcome(lastRun)}`;
    if (lastRun.state === 'ok' || lastRun.state === 'running')
      results.push(checks.ok('last-run', 'last run', detail));
    else if (lastRun.state === 'failed') {
      const problems = jobsOf(lastRun.end!).filter((job) => job.status !== 'ok');
      results.push(
        checks.fail(
          'last-run',
          'last run',
          detail,
          problems.length > 0
            ? problems
                .slice(0, 3)
                .map(
                  (job) =>
                    `${job.subvolume ?? ''}${job.target ? ` → ${job.target}` : ''}: ${job.status ?? ''}: ${job.message ?? ''}`,
                )
                .join('; ')
            : lastRun.error || 'the run recorded a failure',
          [
            'snapkeep status',
            'snapkeep doctor ssh / snapkeep doctor volume  (for an unreachable or full target)',
            'snapkeep run',
          ],
        ),
      );
    } else {
      const { cause, fixes } = unfinished(lastRun);
      results.push(checks.fail('last-run', 'last run', detail, cause, fixes));
    }
  }

  // The last restic backup
  const lastBackup = lastRunOf(status, ['backup']);
  if (inputs.backupSets.length === 0) {
    results.push(checks.skip('last-backup', 'last backup', 'no backup sets are configured'));
  } else if (!lastBackup) {
    results.push(
      checks.warn(
        'last-backup',
        'last backup',
        `no backup recorded in ${inputs.stateDir}`,
        'snapkeep backup has not run with this state directory yet',
        ['snapkeep backup --dry-run, then snapkeep backup'],
      ),
    );
  } else {
    const when = lastBackup.endedAt ?? lastBackup.time;
    const detail = `${when} (${ago(when)}): ${describeRunOutcome(lastBackup)}`;
    if (lastBackup.state === 'ok' || lastBackup.state === 'running')
      results.push(checks.ok('last-backup', 'last backup', detail));
    else if (lastBackup.state === 'failed') {
      results.push(
        checks.fail(
          'last-backup',
          'last backup',
          detail,
          setsOf(lastBackup.end!)
            .filter((set) => set.ok === false)
            .map((set) => `${set.set ?? ''}: ${set.error ?? 'failed'}`)
            .join('; ') ||
            lastBackup.error ||
            'the backup recorded a failure',
          [
            'snapkeep backup --dry-run  (what each set would capture, whether its repository answers)',
            'snapkeep backup',
          ],
        ),
      );
    } else {
      const { cause, fixes } = unfinished(lastBackup);
      results.push(
        checks.fail('last-backup', 'last backup', detail, cause, ['snapkeep backup', ...fixes.slice(1)]),
      );
    }
  }

  // Recent failures (killed runs among them: they wrote nothing about it)
  const recent = status.failures.filter((failure) => hoursBetween(now, failure.time) <= inputs.recentHours);
  if (recent.length === 0) {
    results.push(
      checks.ok('recent-failures', 'recent failures', `none in the last ${formatHours(inputs.recentHours)}`),
    );
  } else {
    const newest = recent.slice(-3).reverse();
    results.push(
      checks.warn(
        'recent-failures',
        'recent failures',
        `${recent.length} in the last ${formatHours(inputs.recentHours)}; newest: ${newest.map((failure) => `${failure.time} ${failure.what}: ${failure.error}`).join(' | ')}`,
        'each error above says what went wrong; a later success does not erase it from the journal',
        ['snapkeep status', `the journal: ${inputs.stateDir}/journal.ndjson`],
      ),
    );
  }

  // Each job: failing or stale (the answer status and check give)
  for (const job of status.jobs) results.push(jobCheck(job, ago));
  return results;
}

/** One job's check: FAIL when its last attempt failed or it is stale, WARN when its last drill failed. */
export function jobCheck(job: JobStatus, ago: (iso: string) => string): CheckResult {
  const subject = job.id;
  const checks = scope('logs', subject);
  const title = `backup age ${subject}`;
  const kind = job.spec.kind;
  const fixes = kind === 'restic' ? ['snapkeep backup', ...scheduleFixes.slice(1)] : scheduleFixes;
  const last = job.lastSuccess?.time;
  const problem = job.lastFailure;
  const problemText = problem ? `; last problem ${problem.time}: ${problem.message ?? problem.outcome}` : '';
  const attempt = job.lastAttempt;
  const words = {
    btrfs: {
      never: 'never sent',
      why: 'no run has sent this subvolume to this target yet',
      last: 'up to date',
    },
    snapshot: {
      never: 'no snapshot recorded',
      why: 'no run has snapshotted this subvolume yet',
      last: 'snapshot run',
    },
    restic: {
      never: 'no complete backup recorded',
      why: 'snapkeep backup has not completed this set yet',
      last: 'complete backup',
    },
  }[kind];
  if (!last)
    return checks.fail(
      'stale',
      title,
      `${words.never}${problemText}`,
      problem ? (problem.message ?? problem.outcome) : words.why,
      fixes,
    );
  const detail = `last ${words.last} ${last} (${ago(last)})`;
  if (job.stale)
    return checks.fail(
      'stale',
      title,
      `${detail}, older than ${describeHours(job.staleHours)}${problemText}`,
      problem && problem.time > last
        ? (problem.message ?? problem.outcome)
        : 'snapkeep has not run (no schedule, or the schedule stopped)',
      fixes,
    );
  if (job.failing && attempt)
    return checks.fail(
      'stale',
      title,
      `${detail}; last attempt ${attempt.time} ${attempt.outcome}${attempt.message ? `: ${attempt.message}` : ''}`,
      attempt.message ?? `the last attempt was ${attempt.outcome}`,
      fixes,
    );
  if (job.drillFailed && job.drill)
    return checks.warn(
      'stale',
      title,
      `${detail}; last restore drill ${job.drill.time} failed${job.drill.detail ? `: ${job.drill.detail}` : ''}`,
      'the copy exists but a restore from it did not give the data back',
      ['snapkeep verify --drill', 'snapkeep doctor volume'],
    );
  return checks.ok('stale', title, detail);
}
