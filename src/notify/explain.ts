// What a problem means and what to do about it, in words a person acts on: the cause and the fix
// (commands) of a failing, stale or drill-failed job, a nearly full target, a run that did not
// finish. Pure. `doctor logs` and the notifications say the same things because both read them
// here; system errors recorded as text are explained by errors.ts's table.
import { explainErrorText } from '../errors.js';
import type { JobStatus, TargetSpace } from '../state/derive-status.js';
import type { RecordedRun } from '../state/run-history.js';

export interface Explanation {
  readonly cause: string;
  /** One step per entry, usually a command. */
  readonly fix: readonly string[];
}

/** What to check when a job stopped running on its own. */
export const scheduleFixes: readonly string[] = [
  'snapkeep run  (then snapkeep status)',
  "if it should run on a schedule, check that it does: systemctl list-timers 'snapkeep*' or crontab -l, and the job's log",
];

/** Why a run that did not finish did not, and what to do (`retry`: the command to run again). */
export function explainUnfinished(
  run: Pick<RecordedRun, 'state' | 'signal'>,
  retry = 'snapkeep run',
): Explanation {
  if (run.state === 'interrupted')
    return {
      cause: `it was stopped by ${run.signal ?? 'a signal'} before it finished (a shutdown, a timeout of its job, Ctrl-C); what it did not do is still to do`,
      fix: [retry, 'if a scheduled job was stopped: its timeout, and what stopped it (journalctl)'],
    };
  return {
    cause:
      'its process ended without writing its end: SIGKILL (the OOM killer, a shutdown that did not wait), a crash, or power loss',
    fix: [
      retry,
      'what ended it at that time: journalctl -k (the OOM killer), journalctl --list-boots (a power loss or reset)',
    ],
  };
}

/** The command that brings the job up to date again. */
function retryOf(job: JobStatus): string {
  if (job.spec.kind === 'btrfs') return `snapkeep run ${job.spec.subvolume}`;
  if (job.spec.kind === 'snapshot') return `snapkeep snapshot ${job.spec.subvolume}`;
  return `snapkeep backup ${job.spec.set}`;
}

/** A job whose last attempt failed, was partial, interrupted or killed. */
export function explainFailingJob(job: JobStatus): Explanation {
  const attempt = job.lastAttempt;
  const retry = retryOf(job);
  if (attempt?.outcome === 'killed' || attempt?.outcome === 'interrupted')
    return explainUnfinished({ state: attempt.outcome, signal: undefined }, retry);
  const message = attempt?.message ?? 'the last attempt failed';
  const system = explainErrorText(message);
  if (job.spec.kind === 'btrfs') {
    const { subvolume, target } = job.spec;
    if (message.startsWith('unreachable: '))
      return {
        cause: `the target ${target} could not be reached (${message.slice('unreachable: '.length)})`,
        fix: [
          `snapkeep doctor --target ${target}  (the connection or the mount, step by step)`,
          `snapkeep resume ${subvolume}  (sends what is pending once it answers)`,
        ],
      };
    if (system)
      return {
        cause: `${message}: ${system.cause}`,
        fix: [system.fix, `snapkeep doctor volume --target ${target}`, retry],
      };
    return {
      cause: message,
      fix: ['snapkeep status', `snapkeep doctor --target ${target}`, retry],
    };
  }
  if (system) return { cause: `${message}: ${system.cause}`, fix: [system.fix, retry] };
  return {
    cause: message,
    fix: ['snapkeep backup --dry-run  (what each set would capture, whether its repository answers)', retry],
  };
}

/** A job with no success within its threshold (or none ever). */
export function explainStaleJob(job: JobStatus): Explanation {
  const fix = job.spec.kind === 'btrfs' ? scheduleFixes : ['snapkeep backup', ...scheduleFixes.slice(1)];
  const problem = job.lastFailure;
  if (problem && problem.time > (job.lastSuccess?.time ?? ''))
    return { cause: problem.message ?? problem.outcome, fix };
  return {
    cause: job.lastSuccess
      ? 'snapkeep has not run (no schedule, or the schedule stopped)'
      : job.spec.kind === 'btrfs'
        ? 'no run has sent this subvolume to this target yet'
        : 'snapkeep backup has not completed this set yet',
    fix,
  };
}

export function explainDrill(_job: JobStatus): Explanation {
  return {
    cause: 'the copy exists but a restore from it did not give the data back',
    fix: ['snapkeep verify --drill', 'snapkeep doctor volume'],
  };
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

export function explainSpace(space: TargetSpace): Explanation {
  const percent = space.sizeBytes > 0 ? (100 * space.freeBytes) / space.sizeBytes : 0;
  const forecast =
    space.fullInDays === undefined
      ? ''
      : `, full in ${Math.floor(space.fullInDays)} days at ${gib(space.bytesPerDay ?? 0)}/day`;
  return {
    cause: `${gib(space.freeBytes)} free of ${gib(space.sizeBytes)} (${percent.toFixed(0)} %)${forecast}`,
    fix: [
      'snapkeep prune  (deletes what retention no longer keeps)',
      `keep fewer copies (target_retention) or give ${space.target} more space`,
      `snapkeep doctor volume --target ${space.target}`,
    ],
  };
}
