// What deriveStatus reads, gathered once for `status`, `check` and `doctor logs`: the jobs the
// config defines, the journal and the transfer state.
import { nextElapse, nextElapses, parseCalendar } from '../calendar/systemd-calendar.js';
import type { ResolvedConfig, ResolvedSchedule } from '../config/resolve.js';
import { deriveStatus, type DerivedStatus, type JobSpec } from './derive-status.js';
import { readJournal } from './journal.js';
import type { JournalEvent } from './journal-events.js';
import type { RunProbe } from './run-history.js';
import { TransferStateFile } from './transfer-state.js';

/**
 * Every job of the config: each subvolume × target (a subvolume without targets: its snapshots),
 * each backup set × its repository and copies.
 */
export function jobsOfConfig(config: Pick<ResolvedConfig, 'subvolumes' | 'backupSets'>): JobSpec[] {
  return [
    ...config.subvolumes.flatMap((subvolume): JobSpec[] =>
      subvolume.targets.length === 0
        ? // Snapshots only: its job is taking them.
          [{ kind: 'snapshot', subvolume: subvolume.name }]
        : subvolume.targets.map((target): JobSpec => ({
            kind: 'btrfs',
            subvolume: subvolume.name,
            target: target.name,
          })),
    ),
    ...config.backupSets.flatMap((set): JobSpec[] => [
      { kind: 'restic', set: set.name, repository: set.repository.name, primary: true },
      ...set.offsite.map((repository): JobSpec => ({
        kind: 'restic',
        set: set.name,
        repository: repository.name,
        primary: false,
      })),
    ]),
  ];
}

// The commands that bring a job up to date: a `snapshot` job alone never updates a target.
const updating: Readonly<Record<JobSpec['kind'], readonly string[]>> = {
  btrfs: ['run', 'resume'],
  snapshot: ['run', 'snapshot'],
  restic: ['backup'],
};

/** Slack after a scheduled time before a job counts as stale: its random delay plus this. */
export const staleSlackHours = 2;

/** When a job is stale, from the schedules that update it (StatusRequest, DeriveOptions). */
export interface StaleRule {
  /**
   * The threshold to show for a job that never succeeded: the shortest interval among its
   * schedules (between their next two elapses after `now`) plus random delay and slack;
   * undefined when no schedule updates it (26 h).
   */
  readonly hours: (job: JobSpec) => number | undefined;
  /**
   * When a job whose last success was at `success` is stale: the first time a schedule that
   * updates it elapses after that success, plus its random delay and the slack. So a Mon..Fri job
   * that succeeded on Friday is due on Monday, not stale all weekend. Undefined when no schedule
   * updates it: the default (26 h after the success) applies.
   */
  readonly deadline: (job: JobSpec, success: Date) => Date | undefined;
}

/** The stale rule of the schedules (StaleRule). */
export function scheduleStaleHours(schedules: readonly ResolvedSchedule[], now: Date): StaleRule {
  const parsed = schedules.flatMap((schedule) => {
    const calendar = parseCalendar(schedule.calendar);
    return calendar.ok ? [{ schedule, spec: calendar.spec }] : [];
  });
  const covering = (job: JobSpec) => {
    const name = job.kind === 'restic' ? job.set : job.subvolume;
    return parsed.filter(
      ({ schedule }) =>
        updating[job.kind].includes(schedule.command) &&
        (schedule.only.length === 0 || schedule.only.includes(name)),
    );
  };
  const hour = 3_600_000;
  return {
    hours: (job) => {
      const thresholds = covering(job).flatMap(({ schedule, spec }) => {
        const [first, second] = nextElapses(spec, now, 2);
        if (!first || !second) return [];
        return [
          (second.getTime() - first.getTime() + schedule.randomDelaySeconds * 1000) / hour + staleSlackHours,
        ];
      });
      return thresholds.length === 0 ? undefined : Math.min(...thresholds);
    },
    deadline: (job, success) => {
      if (Number.isNaN(success.getTime())) return undefined;
      const due = covering(job).flatMap(({ schedule, spec }) => {
        const elapse = nextElapse(spec, success);
        return elapse ? [elapse.getTime() + schedule.randomDelaySeconds * 1000 + staleSlackHours * hour] : [];
      });
      return due.length === 0 ? undefined : new Date(Math.min(...due));
    },
  };
}

export interface StatusRequest {
  readonly jobs: readonly JobSpec[];
  readonly now: Date;
  /** A job's stale threshold in hours (`check --max-age`, or shown for a job that never succeeded); undefined: the default. */
  readonly staleHours?: (job: JobSpec) => number | undefined;
  /** When a job is stale after its last success (the schedules': StaleRule.deadline); undefined: staleHours after it. */
  readonly staleDeadline?: (job: JobSpec, success: Date) => Date | undefined;
  readonly primaryOf?: (set: string) => string | undefined;
  readonly probe?: RunProbe;
  /** Snapshots in each subvolume's snapshot directory (status: countLocalSnapshots). */
  readonly localSnapshots?: Readonly<Record<string, number>>;
}

/** The status, and the transfer state and journal it was derived from (status prints both). */
export async function readStatusWithTransfers(
  stateDir: string,
  request: StatusRequest,
): Promise<{ status: DerivedStatus; transfers: TransferStateFile; journal: readonly JournalEvent[] }> {
  const [journal, transfers] = await Promise.all([readJournal(stateDir), TransferStateFile.load(stateDir)]);
  const status = deriveStatus(
    journal,
    (subvolume, target) => transfers.get(subvolume, target),
    { primaryOf: request.primaryOf },
    request.now,
    {
      jobs: request.jobs,
      staleHours: request.staleHours,
      staleDeadline: request.staleDeadline,
      probe: request.probe,
      ...(request.localSnapshots
        ? { localSnapshots: (subvolume: string) => request.localSnapshots?.[subvolume] }
        : {}),
    },
  );
  return { status, transfers, journal };
}

/** The request `status` makes for a config: every job, each with its schedule's threshold. */
export function statusRequestOf(
  resolved: Pick<ResolvedConfig, 'subvolumes' | 'backupSets' | 'schedules'>,
  now: Date,
): StatusRequest {
  const stale = scheduleStaleHours(resolved.schedules, now);
  return {
    jobs: jobsOfConfig(resolved),
    now,
    staleHours: stale.hours,
    staleDeadline: stale.deadline,
    primaryOf: (set) => resolved.backupSets.find((candidate) => candidate.name === set)?.repository.name,
  };
}

/** The same request, under the name the notifier knows it by. */
export const configStatusRequest = statusRequestOf;

export async function readStatus(stateDir: string, request: StatusRequest): Promise<DerivedStatus> {
  return (await readStatusWithTransfers(stateDir, request)).status;
}
