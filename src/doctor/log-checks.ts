// `doctor logs`: what the journal says — the last run and the last backup, recent failures, and
// backups that silently stopped (no successful send to a target, or no complete backup of a
// set, for longer than the stale threshold). Pure: journal entries and the clock in, checks out.
import { formatHours, scope, type CheckResult } from './check.js';
import type { JournalEntry } from '../state/journal.js';
import {
  describeRunOutcome,
  lastRecordedRun,
  processProbe,
  recordedRuns,
  type RecordedRun,
  type RunProbe,
} from '../state/run-history.js';

export interface LogInputs {
  readonly journal: readonly JournalEntry[];
  readonly stateDir: string;
  /** (subvolume, target) pairs the config sends. */
  readonly pairs: readonly { readonly subvolume: string; readonly target: string }[];
  readonly backupSets: readonly string[];
  readonly now: Date;
  readonly staleHours: number;
  /** How far back "recent failures" look. */
  readonly recentHours: number;
  /** Is the process of a run without an end alive? (default: asks /proc) */
  readonly probe?: RunProbe;
}

/** The btrfs engine's commands: "the last run" of doctor logs. */
const engineCommands = ['run', 'snapshot', 'resume', 'prune', 'clean'];

/** Why a run that did not finish did not, and what to do. */
function unfinished(run: RecordedRun): { cause: string; fixes: string[] } {
  if (run.state === 'interrupted')
    return {
      cause: `it was stopped by ${run.signal ?? 'a signal'} before it finished (a shutdown, a timeout of its job, Ctrl-C); what it did not do is still to do`,
      fixes: [
        'snapkeep run',
        'if a scheduled job was stopped: its timeout, and what stopped it (journalctl)',
      ],
    };
  return {
    cause:
      'its process ended without writing its end: SIGKILL (the OOM killer, a shutdown that did not wait), a crash, or power loss',
    fixes: [
      'snapkeep run',
      'what ended it at that time: journalctl -k (the OOM killer), journalctl --list-boots (a power loss or reset)',
    ],
  };
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
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A failure the journal recorded: when, what, and the error. */
export interface RecordedFailure {
  readonly time: string;
  readonly what: string;
  readonly error: string;
}

export function recordedFailures(journal: readonly JournalEntry[]): RecordedFailure[] {
  const failures: RecordedFailure[] = [];
  for (const entry of journal) {
    // A run that ended early: its error, or the signal that stopped it.
    if (entry.event === 'run-end' && (entry.error !== undefined || entry.signal !== undefined)) {
      failures.push({
        time: entry.time,
        what: `snapkeep ${text(entry.command)}`,
        error: text(entry.error) || `interrupted by ${text(entry.signal)}`,
      });
      continue;
    }
    if (entry.ok !== false) continue;
    const error = text(entry.error) || 'failed';
    switch (entry.event) {
      case 'step':
        failures.push({
          time: entry.time,
          what: `${text(entry.kind)} ${text(entry.subvolume)}${entry.target ? ` → ${text(entry.target)}` : ''}${entry.name ? ` (${text(entry.name)})` : ''}`,
          error,
        });
        break;
      case 'item':
        failures.push({ time: entry.time, what: `backup ${text(entry.set)}: ${text(entry.what)}`, error });
        break;
      case 'offsite':
        failures.push({
          time: entry.time,
          what: `offsite copy ${text(entry.set)} → ${text(entry.repository)}`,
          error,
        });
        break;
      case 'verify':
        failures.push({ time: entry.time, what: `verify ${text(entry.repository)}`, error });
        break;
      case 'drill':
        failures.push({ time: entry.time, what: `restore drill ${text(entry.set)}`, error });
        break;
      case 'restore-end':
      case 'pull-end':
        failures.push({ time: entry.time, what: entry.event.replace('-end', ''), error });
        break;
      default:
        break;
    }
  }
  return failures;
}

/** When the pair was last known to be up to date: a successful send, or a clean run that had nothing to send. */
export function lastUpToDate(
  journal: readonly JournalEntry[],
  subvolume: string,
  target: string,
): string | undefined {
  let latest: string | undefined;
  for (const entry of journal) {
    let confirms = false;
    if (entry.event === 'step') {
      confirms =
        entry.kind === 'send' &&
        entry.ok === true &&
        entry.subvolume === subvolume &&
        entry.target === target;
    } else if (entry.event === 'run-end' && (entry.command === 'run' || entry.command === 'resume')) {
      const jobs = jobsOf(entry).filter((job) => job.subvolume === subvolume);
      confirms =
        jobs.length > 0 &&
        !jobs.some((job) => job.status !== 'ok' && (job.target === undefined || job.target === target));
    }
    if (confirms && (latest === undefined || entry.time > latest)) latest = entry.time;
  }
  return latest;
}

/** The newest recorded problem of a pair (a failed send, or the run's job message). */
function lastProblem(
  journal: readonly JournalEntry[],
  subvolume: string,
  target: string,
): RecordedFailure | undefined {
  for (const entry of [...journal].reverse()) {
    if (
      entry.event === 'step' &&
      entry.ok === false &&
      entry.subvolume === subvolume &&
      entry.target === target
    )
      return { time: entry.time, what: 'send', error: text(entry.error) };
    if (entry.event === 'run-end') {
      const job = jobsOf(entry).find(
        (candidate) =>
          candidate.subvolume === subvolume &&
          candidate.status !== 'ok' &&
          (candidate.target === undefined || candidate.target === target),
      );
      if (job) return { time: entry.time, what: job.status ?? 'failed', error: job.message ?? '' };
    }
  }
  return undefined;
}

const scheduleFixes = [
  'snapkeep run  (then snapkeep status)',
  "if it should run on a schedule, check that it does: systemctl list-timers 'snapkeep*' or crontab -l, and the job's log",
];

export function logChecks(inputs: LogInputs): CheckResult[] {
  const checks = scope('logs');
  const results: CheckResult[] = [];
  const { journal, now } = inputs;
  const ago = (iso: string): string => `${formatHours(hoursBetween(now, iso))} ago`;

  const probe = inputs.probe ?? processProbe;

  // The last btrfs run
  const lastRun = lastRecordedRun(journal, { commands: engineCommands, probe });
  if (inputs.pairs.length === 0 && !lastRun) {
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
  const lastBackup = lastRecordedRun(journal, { commands: ['backup'], probe });
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

  // Recent failures
  // Killed runs wrote nothing about it: they are the runs whose start has no end.
  const killed = recordedRuns(journal, probe)
    .filter((run) => run.state === 'killed')
    .map((run) => ({ time: run.time, what: `snapkeep ${run.command}`, error: describeRunOutcome(run) }));
  const recent = [...recordedFailures(journal), ...killed]
    .filter((failure) => hoursBetween(now, failure.time) <= inputs.recentHours)
    .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
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

  // Stale targets
  for (const pair of inputs.pairs) {
    const subject = `${pair.subvolume} → ${pair.target}`;
    const pairChecks = scope('logs', subject);
    const last = lastUpToDate(journal, pair.subvolume, pair.target);
    const problem = lastProblem(journal, pair.subvolume, pair.target);
    const problemText = problem ? `; last problem ${problem.time}: ${problem.error}` : '';
    if (!last) {
      results.push(
        pairChecks.fail(
          'stale',
          `backup age ${subject}`,
          `never sent${problemText}`,
          problem ? problem.error : 'no run has sent this subvolume to this target yet',
          scheduleFixes,
        ),
      );
      continue;
    }
    const hours = hoursBetween(now, last);
    const detail = `last up to date ${last} (${ago(last)})`;
    if (hours > inputs.staleHours)
      results.push(
        pairChecks.fail(
          'stale',
          `backup age ${subject}`,
          `${detail}, older than ${inputs.staleHours} h${problemText}`,
          problem && problem.time > last
            ? problem.error
            : 'snapkeep has not run (no schedule, or the schedule stopped)',
          scheduleFixes,
        ),
      );
    else results.push(pairChecks.ok('stale', `backup age ${subject}`, detail));
  }
  for (const set of inputs.backupSets) {
    const setChecks = scope('logs', set);
    let last: string | undefined;
    for (const entry of journal) {
      if (entry.event !== 'backup-end' && !(entry.event === 'run-end' && entry.command === 'backup'))
        continue;
      if (setsOf(entry).some((outcome) => outcome.set === set && outcome.ok === true)) last = entry.time;
    }
    if (!last) {
      results.push(
        setChecks.fail(
          'stale',
          `backup age ${set}`,
          'no complete backup recorded',
          'snapkeep backup has not completed this set yet',
          ['snapkeep backup', ...scheduleFixes.slice(1)],
        ),
      );
    } else if (hoursBetween(now, last) > inputs.staleHours) {
      results.push(
        setChecks.fail(
          'stale',
          `backup age ${set}`,
          `last complete backup ${last} (${ago(last)}), older than ${inputs.staleHours} h`,
          'snapkeep backup has not completed since (not run, or failing)',
          ['snapkeep backup', ...scheduleFixes.slice(1)],
        ),
      );
    } else
      results.push(setChecks.ok('stale', `backup age ${set}`, `last complete backup ${last} (${ago(last)})`));
  }
  return results;
}
