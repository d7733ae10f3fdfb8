// What deriveStatus reads, gathered once for `status`, `check` and `doctor logs`: the jobs the
// config defines, the journal and the transfer state.
import { nextElapses, parseCalendar } from '../calendar/systemd-calendar.js';
import type { ResolvedConfig, ResolvedSchedule } from '../config/resolve.js';
import { deriveStatus, type DerivedStatus, type JobSpec } from './derive-status.js';
import { readJournal } from './journal.js';
import type { JournalEvent } from './journal-events.js';
import type { RunProbe } from './run-history.js';
import { TransferStateFile } from './transfer-state.js';

/** Every job of the config: each subvolume × target, each backup set × its repository and copies. */
export function jobsOfConfig(config: Pick<ResolvedConfig, 'subvolumes' | 'backupSets'>): JobSpec[] {
  return [
    ...config.subvolumes.flatMap((subvolume) =>
      subvolume.targets.map((target): JobSpec => ({
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

// The commands that bring a job's copies up to date: a `snapshot` job alone never does.
const updating: Readonly<Record<JobSpec['kind'], readonly string[]>> = {
  btrfs: ['run', 'resume'],
  restic: ['backup'],
};

/** Slack after a scheduled time before a job counts as stale: its random delay plus this. */
export const staleSlackHours = 2;

/**
 * A job's stale threshold from the schedules that update it: the shortest interval among them
 * (between its next two elapses after `now`) plus its random delay and two hours of slack (a
 * daily job is stale after 26 h, the default for jobs no schedule covers: undefined here).
 */
export function scheduleStaleHours(
  schedules: readonly ResolvedSchedule[],
  now: Date,
): (job: JobSpec) => number | undefined {
  const thresholds = schedules.flatMap((schedule) => {
    const parsed = parseCalendar(schedule.calendar);
    const [first, second] = parsed.ok ? nextElapses(parsed.spec, now, 2) : [];
    if (!first || !second) return [];
    const hours = (second.getTime() - first.getTime() + schedule.randomDelaySeconds * 1000) / 3_600_000;
    return [{ schedule, hours: hours + staleSlackHours }];
  });
  return (job) => {
    const name = job.kind === 'btrfs' ? job.subvolume : job.set;
    const covering = thresholds.filter(
      ({ schedule }) =>
        updating[job.kind].includes(schedule.command) &&
        (schedule.only.length === 0 || schedule.only.includes(name)),
    );
    return covering.length === 0 ? undefined : Math.min(...covering.map(({ hours }) => hours));
  };
}

export interface StatusRequest {
  readonly jobs: readonly JobSpec[];
  readonly now: Date;
  /** A job's stale threshold in hours (its schedule's); undefined: the default. */
  readonly staleHours?: (job: JobSpec) => number | undefined;
  readonly primaryOf?: (set: string) => string | undefined;
  readonly probe?: RunProbe;
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
    { jobs: request.jobs, staleHours: request.staleHours, probe: request.probe },
  );
  return { status, transfers, journal };
}

/** The status of every job the config defines, as `status` derives it (thresholds, repositories). */
export function configStatusRequest(config: ResolvedConfig, now: Date): StatusRequest {
  return {
    jobs: jobsOfConfig(config),
    now,
    staleHours: scheduleStaleHours(config.schedules, now),
    primaryOf: (set) => config.backupSets.find((candidate) => candidate.name === set)?.repository.name,
  };
}

export async function readStatus(stateDir: string, request: StatusRequest): Promise<DerivedStatus> {
  return (await readStatusWithTransfers(stateDir, request)).status;
}
