// The one answer to "how are my backups": per job (btrfs subvolume × target, restic backup set ×
// repository) its last attempt and how it ended, its last success, age, stale or not, and what is
// waiting to be sent; plus the last run. `status`, `check` and `doctor logs` read this, never the
// journal themselves, so they cannot disagree. Pure: journal events, transfer state and the clock
// in, the answer out.
//
// It is a fold over the events (foldJournal) and a view of the fold at `now` (deriveStatus). The
// fold is what journal compaction stores as a checkpoint (journal-compaction.ts): folding the
// events after a checkpoint onto its state gives what folding the whole history would.
//
// "Last" means last written: attempts, failures and runs are ordered by their place in the
// journal (what a checkpoint holds before every line after it), never by their times, which a
// clock stepped back makes lie. Times give ages only.
//
// Drills are not jobs of their own: a job's `drill` is its last restore drill (btrfs: that
// subvolume's copy on that target; restic: the set, on its own repository), and a failed last
// drill is a warning (`drillFailed`), not a failure of the backup.
import type {
  JournalEvent,
  JournalJob,
  JournalSet,
  JournalSpace,
  RunEndEvent,
  RunStartEvent,
} from './journal-events.js';
import { processProbe, recordedRuns, type RecordedRun, type RunProbe } from './run-history.js';
import type { TransferRecord } from './transfer-state.js';

export const statusVersion = 1;
export const defaultStaleHours = 26;

/** Hours as people read them: `26 h`, `6.1 h` (thresholds from schedules are rarely whole). */
export function describeHours(hours: number): string {
  const rounded = Math.round(hours * 10) / 10;
  return `${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} h`;
}

export type Outcome = 'ok' | 'failed' | 'partial' | 'interrupted' | 'killed' | 'running';

export interface Attempt {
  readonly time: string;
  readonly run: string;
  readonly command: string;
  readonly outcome: Outcome;
  readonly message?: string;
}

export interface DrillRecord {
  readonly time: string;
  readonly run: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly snapshot?: string;
}

/**
 * An attempt as the fold keeps it: with its place in the journal (`at`, the line's position in
 * the whole history), which orders attempts. Times do not: a clock stepped back (an NTP
 * correction, a wrong RTC after boot) would hide a later failure behind an earlier success that
 * carries a later time. Absent in checkpoints written before positions existed: older than any
 * line after them.
 */
type StoredAttempt = Attempt & { at?: number };

/** What the fold remembers of one job. */
interface JobFold {
  lastAttempt?: StoredAttempt;
  lastSuccess?: StoredAttempt;
  lastFailure?: StoredAttempt;
  lastSent?: string;
  /** The position of the send of lastSent. */
  sentAt?: number;
  /**
   * btrfs: the position of the first line that named this target. What it holds from before is
   * the `*` history it started from, which is its own only if a run looked at it (deriveStatus).
   */
  namedAt?: number;
  drill?: DrillRecord;
  /** What the last success did: how long it took, and bytes (btrfs: the stream; restic: data added). */
  lastWork?: JobWork;
  /** restic: the set's snapshots in the repository (the newest listing, plus snapshots made since). */
  snapshots?: { count: number; time: string };
}

export interface JobWork {
  readonly durationMs?: number;
  readonly bytes?: number;
}

export interface RecordedFailure {
  readonly time: string;
  readonly what: string;
  readonly error: string;
}

interface SpaceSample {
  readonly time: string;
  readonly path: string;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly sizeBytes: number;
  readonly copies?: Readonly<Record<string, number>>;
}

/**
 * The fold: plain JSON (it is the checkpoint's state). btrfs jobs by subvolume, then target; the
 * target `*` stands for every target no line named yet (an `ok` job of a subvolume names none),
 * so a target first named later starts from its history. restic jobs by set, then repository;
 * the repository `''` is the set's own (primary) one, whatever the config calls it.
 */
export interface StatusFold {
  v: number;
  /** Lines folded so far: the position the next line has (the checkpoint is older than all of them). */
  position?: number;
  btrfs: Record<string, Record<string, JobFold>>;
  restic: Record<string, Record<string, JobFold>>;
  /** Snapshot jobs (a subvolume's own snapshots: the job of a subvolume without targets), by subvolume. */
  local?: Record<string, JobFold>;
  /** Snapshots created, per subvolume (the newest ones): what pending sync is counted from. */
  created: Record<string, CreatedSnapshot[]>;
  /** restic check results, per repository name. */
  verify: Record<string, { time: string; ok: boolean }>;
  /** Runs ended before the checkpoint: the newest overall and per command. */
  runs: RecordedRun[];
  /** How many runs ended (not running) in the history. */
  runCount: number;
  /** The newest failures (any kind), oldest first. */
  failures: RecordedFailure[];
  /** Local targets' space at run ends, per target (the newest samples). */
  space: Record<string, SpaceSample[]>;
  /**
   * Copies of each subvolume on each local target at the newest run end that counted them (a run
   * limited to some subvolumes counts only theirs). Absent in older checkpoints: from `space`.
   */
  copies?: Record<string, Record<string, { count: number; time: string }>>;
  /**
   * Each schedule job's (run-start `job`, SNAPKEEP_JOB) last run and last success that ended:
   * what `schedule status` shows and `schedule catch-up` decides from (absent in older checkpoints).
   */
  scheduleJobs?: Record<string, ScheduleJobRuns>;
  /** Notification channels: what each last answered (`notification` lines). */
  channels?: Record<string, ChannelRecord>;
}

/** A notification channel's deliveries, as `status` and `doctor notify` show them. */
export interface ChannelRecord {
  readonly channelType: string;
  readonly lastAttempt: { readonly time: string; readonly ok: boolean; readonly error?: string };
  readonly lastSuccess?: string;
  readonly lastFailure?: { readonly time: string; readonly error: string };
}

export interface ScheduleJobRuns {
  lastRun?: RecordedRun;
  lastSuccess?: RecordedRun;
}

interface CreatedSnapshot {
  name: string;
  time: string;
  /** Its line's position (absent in older checkpoints). */
  at?: number;
}

const keepCreated = 100;
const keepFailures = 100;
const keepSpace = 60;
const anyTarget = '*';
const primary = '';

export function emptyFold(): StatusFold {
  return {
    v: statusVersion,
    position: 0,
    btrfs: {},
    restic: {},
    local: {},
    created: {},
    verify: {},
    runs: [],
    runCount: 0,
    failures: [],
    space: {},
    copies: {},
    scheduleJobs: {},
    channels: {},
  };
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
/** The list a line holds, or none when the line holds something else there (lenient reading). */
const listOf = <T>(value: readonly T[] | undefined): readonly T[] =>
  Array.isArray(value) ? (value as readonly T[]) : [];
const isFailure = (outcome: Outcome): boolean => outcome !== 'ok' && outcome !== 'running';

function mapOf<K, V>(map: Map<string, Map<K, V>>, key: string): Map<K, V> {
  let inner = map.get(key);
  if (!inner) map.set(key, (inner = new Map<K, V>()));
  return inner;
}

function pushBounded<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

// By position in the journal, never by time (StoredAttempt). A run without an end is resolved
// after all lines are read (killed or running) at the position of its last line: what later runs
// wrote is newer and stays.
const positionOf = (attempt: StoredAttempt | { at?: number }): number => attempt.at ?? -1;
const newer = (attempt: StoredAttempt, than: StoredAttempt | undefined): boolean =>
  than === undefined || positionOf(attempt) >= positionOf(than);
/** Was `a` written after `b`? By position; by time only where a checkpoint from before positions left none. */
const writtenAfter = (a: { at?: number; time: string }, b: { at?: number; time: string }): boolean =>
  a.at !== undefined && b.at !== undefined ? a.at > b.at : a.time > b.time;

function recordAttempt(job: JobFold, attempt: StoredAttempt): void {
  if (newer(attempt, job.lastAttempt)) job.lastAttempt = attempt;
  if (attempt.outcome === 'ok' && newer(attempt, job.lastSuccess)) job.lastSuccess = attempt;
  else if (isFailure(attempt.outcome) && newer(attempt, job.lastFailure)) job.lastFailure = attempt;
}

/** The btrfs job, created from the subvolume's `*` history when first named (at `at`). */
function btrfsJob(fold: StatusFold, subvolume: string, target: string, at: number): JobFold {
  const targets = (fold.btrfs[subvolume] ??= {});
  if (!targets[target]) targets[target] = { ...(targets[anyTarget] ?? {}), namedAt: at };
  return targets[target];
}

function localJob(fold: StatusFold, subvolume: string): JobFold {
  return ((fold.local ??= {})[subvolume] ??= {});
}

function resticJob(fold: StatusFold, set: string, repository: string): JobFold {
  const repositories = (fold.restic[set] ??= {});
  return (repositories[repository] ??= {});
}

/** A set's items in one run: outcomes, and the work of those that made a snapshot. */
interface ItemCounts {
  ok: number;
  failed: number;
  error?: string;
  durationMs: number;
  dataAdded?: number;
}

/** What one run did so far, while its lines are read (not part of the fold). */
interface RunInProgress {
  readonly run: string;
  start?: RunStartEvent;
  /** The position of the run's start and of its last line so far. */
  startAt?: number;
  lastAt: number;
  /** Items of each set: how many ok, how many failed. */
  readonly items: Map<string, ItemCounts>;
  /** What its btrfs steps did, for a run that ends without job results (jobFinished). */
  readonly btrfs: {
    /** The snapshot it took of each subvolume. */
    readonly created: Map<string, string>;
    /** The last snapshot it sent, per subvolume and target. */
    readonly sent: Map<string, Map<string, string>>;
    /** Its first failed step per subvolume and target (`''`: every target, e.g. the snapshot). */
    readonly failed: Map<string, Map<string, { time: string; at: number; message: string }>>;
    /** The last snapshot each target had when the run started. */
    readonly sentBefore: Map<string, Map<string, string>>;
  };
}

function newProgress(run: string, at: number, start?: RunStartEvent): RunInProgress {
  return {
    run,
    ...(start ? { start, startAt: at } : {}),
    lastAt: at,
    items: new Map(),
    btrfs: { created: new Map(), sent: new Map(), failed: new Map(), sentBefore: new Map() },
  };
}

const engineSyncCommands = new Set(['run', 'resume']);
/** The sync commands that take snapshots before they send (phasesFor in btrfs-run.ts). */
const snapshottingSyncCommands = new Set(['run']);

function inScope(start: RunStartEvent | undefined, name: string): boolean {
  const only = listOf(start?.only);
  return only.length === 0 || only.includes(name);
}

/** The newest snapshot of a subvolume taken before a position (entries of old checkpoints: before). */
function newestBefore(created: readonly CreatedSnapshot[] | undefined, at: number): string | undefined {
  for (let index = (created?.length ?? 0) - 1; index >= 0; index--)
    if (positionOf(created![index]!) < at) return created![index]!.name;
  return undefined;
}

/**
 * Had a run that ended without job results (interrupted, killed, an error) finished this job by
 * its last line? Yes when the target got the subvolume's newest snapshot as the run knew it: the
 * one the run took, or (a run that takes none: resume) the newest taken before it started — sent
 * by the run, or on the target already. A snapshotting run that took none of this subvolume had
 * not got to it (or found it unchanged: that cannot be told apart, so it is not finished).
 */
function jobFinished(
  fold: StatusFold,
  progress: RunInProgress,
  command: string,
  subvolume: string,
  target: string,
): boolean {
  const { created, sent, sentBefore } = progress.btrfs;
  const taken = created.get(subvolume);
  if (snapshottingSyncCommands.has(command) && taken === undefined) return false;
  const newest = taken ?? newestBefore(fold.created[subvolume], progress.startAt ?? progress.lastAt);
  const has = sent.get(subvolume)?.get(target) ?? sentBefore.get(subvolume)?.get(target);
  return has !== undefined && (newest === undefined || has === newest);
}

/**
 * What every attempt of a run's end carries (time, run, command, position), or undefined when the
 * run's command does not update these jobs. A killed run has no end: its start says the rest.
 */
function attemptBase(
  end: { readonly time: string; readonly command?: string } | undefined,
  progress: RunInProgress,
  commands: ReadonlySet<string>,
  fallback = '',
): { time: string; run: string; command: string; at: number | undefined } | undefined {
  const command = end?.command ?? progress.start?.command ?? fallback;
  if (!commands.has(command)) return undefined;
  return { time: end?.time ?? progress.start!.time, run: progress.run, command, at: progress.lastAt };
}

const backupCommands = new Set(['backup']);

function applyBtrfsEnd(
  fold: StatusFold,
  end: RunEndEvent | undefined,
  progress: RunInProgress,
  outcome?: Outcome,
): void {
  const base = attemptBase(end, progress, engineSyncCommands);
  if (!base) return;
  const { command } = base;
  const jobs = listOf(end?.jobs);
  if (outcome !== undefined || jobs.length === 0) {
    // Ended without job results (interrupted, killed, an error before the jobs): every job in its
    // scope that it had not finished did not finish; what it had finished keeps its outcome.
    const how: Outcome =
      outcome ?? (end?.signal ? 'interrupted' : end && end.exitCode === 0 ? 'ok' : 'failed');
    if (how === 'ok') return; // nothing to sync was in its scope (no subvolumes)
    const subvolumes = new Set([...Object.keys(fold.btrfs), ...Object.keys(fold.created)]);
    for (const subvolume of subvolumes) {
      if (!inScope(progress.start, subvolume)) continue;
      const targets = (fold.btrfs[subvolume] ??= {});
      targets[anyTarget] ??= {};
      const failures = progress.btrfs.failed.get(subvolume);
      for (const [target, job] of Object.entries(targets)) {
        const failed = failures?.get(target) ?? failures?.get('');
        if (failed)
          recordAttempt(job, {
            time: failed.time,
            run: progress.run,
            command,
            outcome: 'failed',
            message: failed.message,
            at: failed.at,
          });
        else if (!jobFinished(fold, progress, command, subvolume, target))
          recordAttempt(job, { ...base, outcome: how, ...(end?.error ? { message: end.error } : {}) });
      }
    }
    return;
  }
  const bySubvolume = new Map<string, JournalJob[]>();
  for (const job of jobs) {
    if (typeof job?.subvolume !== 'string') continue;
    bySubvolume.set(job.subvolume, [...(bySubvolume.get(job.subvolume) ?? []), job]);
  }
  for (const [subvolume, results] of bySubvolume) {
    const problems = results.filter((job) => job.status !== 'ok');
    const wide = problems.find((job) => job.target === undefined);
    // Every target the run names is that target's own result, a success too (not only the `*`
    // history, which a target new in the config does not inherit).
    const targets = new Set(results.flatMap((job) => (job.target === undefined ? [] : [job.target])));
    for (const target of targets) btrfsJob(fold, subvolume, target, progress.lastAt);
    const jobsOfSubvolume = (fold.btrfs[subvolume] ??= {});
    jobsOfSubvolume[anyTarget] ??= {};
    for (const [target, job] of Object.entries(jobsOfSubvolume)) {
      const problem = wide ?? problems.find((candidate) => candidate.target === target);
      recordAttempt(
        job,
        problem
          ? {
              ...base,
              outcome: 'failed',
              message: `${problem.status === 'unreachable' ? 'unreachable: ' : ''}${text(problem.message) || 'failed'}`,
            }
          : { ...base, outcome: 'ok' },
      );
    }
  }
}

/** The commands that take snapshots (run, snapshot): their ends are the snapshot jobs' attempts. */
const snapshottingCommands = new Set(['run', 'snapshot']);

function applyLocalEnd(
  fold: StatusFold,
  end: RunEndEvent | undefined,
  progress: RunInProgress,
  outcome?: Outcome,
): void {
  const base = attemptBase(end, progress, snapshottingCommands);
  if (!base) return;
  const jobs = listOf(end?.jobs);
  if (outcome !== undefined || jobs.length === 0) {
    const how: Outcome =
      outcome ?? (end?.signal ? 'interrupted' : end && end.exitCode === 0 ? 'ok' : 'failed');
    if (how === 'ok') return;
    const subvolumes = new Set([
      ...Object.keys(fold.local ?? {}),
      ...Object.keys(fold.btrfs),
      ...Object.keys(fold.created),
    ]);
    for (const subvolume of subvolumes) {
      if (!inScope(progress.start, subvolume)) continue;
      const failed = progress.btrfs.failed.get(subvolume)?.get('');
      if (failed)
        recordAttempt(localJob(fold, subvolume), {
          ...base,
          time: failed.time,
          outcome: 'failed',
          message: failed.message,
          at: failed.at,
        });
      // What it took keeps its ok (its step's attempt).
      else if (!progress.btrfs.created.has(subvolume))
        recordAttempt(localJob(fold, subvolume), {
          ...base,
          outcome: how,
          ...(end?.error ? { message: end.error } : {}),
        });
    }
    return;
  }
  const subvolumes = new Set(
    jobs.flatMap((job) => (typeof job?.subvolume === 'string' ? [job.subvolume] : [])),
  );
  for (const subvolume of subvolumes) {
    // A problem of the subvolume itself (no target: its snapshot, its retention, not taken by a
    // deadline) fails its snapshot job; a target's does not.
    const problem = jobs.find(
      (job) => job?.subvolume === subvolume && job.target === undefined && job.status !== 'ok',
    );
    recordAttempt(
      localJob(fold, subvolume),
      problem
        ? { ...base, outcome: 'failed', message: text(problem.message) || 'failed' }
        : { ...base, outcome: 'ok' },
    );
  }
}

function applyResticEnd(
  fold: StatusFold,
  end:
    | { time: string; command?: string; signal?: string; error?: string; sets?: readonly JournalSet[] }
    | undefined,
  progress: RunInProgress,
  outcome?: Outcome,
): void {
  const base = attemptBase(end, progress, backupCommands, 'backup');
  if (!base) return;
  const sets = listOf(end?.sets);
  if (outcome !== undefined || sets.length === 0) {
    const how: Outcome = outcome ?? (end?.signal ? 'interrupted' : 'failed');
    const started = listOf(progress.start?.sets);
    if (end && !end.signal && !end.error && outcome === undefined) return; // nothing recorded
    for (const set of started) {
      if (typeof set !== 'string') continue;
      resticJob(fold, set, primary);
      for (const job of Object.values(fold.restic[set]!))
        recordAttempt(job, { ...base, outcome: how, ...(end?.error ? { message: end.error } : {}) });
    }
    return;
  }
  for (const result of sets) {
    if (typeof result?.set !== 'string') continue;
    const items = progress.items.get(result.set);
    const offsite = listOf(result.offsite);
    let own: Outcome;
    let message: string | undefined;
    if (result.ok) own = 'ok';
    else if (items && items.failed > 0) {
      own = items.ok > 0 ? 'partial' : 'failed';
      message = items.error ?? result.error;
    } else if (
      offsite.some((copy) => !copy.ok) &&
      (items ? items.failed === 0 && items.ok > 0 : !result.error)
    )
      own = 'ok'; // only a copy failed (the set's error then speaks of the offsite copy)
    else {
      own = 'failed';
      message = result.error;
    }
    const job = resticJob(fold, result.set, primary);
    recordAttempt(job, {
      ...base,
      outcome: own,
      ...(message ? { message } : {}),
    });
    if (items && own === 'ok') job.lastWork = workOf(items.durationMs, items.dataAdded);
    for (const copy of offsite) {
      if (typeof copy?.repository !== 'string') continue;
      const copyJob = resticJob(fold, result.set, copy.repository);
      recordAttempt(copyJob, {
        ...base,
        outcome: copy.ok ? 'ok' : 'failed',
        ...(copy.ok ? {} : { message: text(copy.error) || 'copy failed' }),
      });
      if (copy.ok) copyJob.lastWork = workOf(copy.durationMs, undefined);
      if (typeof copy.snapshots === 'number') copyJob.snapshots = { count: copy.snapshots, time: base.time };
    }
  }
}

const workOf = (durationMs: unknown, bytes: unknown): JobWork => ({
  ...(typeof durationMs === 'number' ? { durationMs } : {}),
  ...(typeof bytes === 'number' ? { bytes } : {}),
});

/** The failure a line records, if it records one (doctor logs' "recent failures"). */
function failureOf(event: JournalEvent): RecordedFailure | undefined {
  if (event.event === 'run-refused')
    return { time: event.time, what: `snapkeep ${event.command}`, error: `not run: ${text(event.error)}` };
  if (event.event === 'run-end' && (event.error !== undefined || event.signal !== undefined))
    return {
      time: event.time,
      what: `snapkeep ${event.command}`,
      error: text(event.error) || `interrupted by ${text(event.signal)}`,
    };
  if (event.ok !== false) return undefined;
  const error = text(event.error) || 'failed';
  switch (event.event) {
    case 'step':
      return {
        time: event.time,
        what: `${event.kind} ${text(event.subvolume)}${event.target ? ` → ${text(event.target)}` : ''}${event.name ? ` (${text(event.name)})` : ''}`.trim(),
        error,
      };
    case 'item':
      return { time: event.time, what: `backup ${event.set}: ${text(event.what)}`, error };
    case 'offsite':
      return { time: event.time, what: `offsite copy ${event.set} → ${event.repository}`, error };
    case 'verify':
      return { time: event.time, what: `verify ${event.repository}`, error };
    case 'drill':
      return {
        time: event.time,
        what:
          event.kind === 'btrfs'
            ? `restore drill ${event.subvolume} → ${event.target}`
            : `restore drill ${event.set}`,
        error: text(event.detail) || error,
      };
    case 'restore-end':
    case 'pull-end':
      return { time: event.time, what: event.event.replace('-end', ''), error };
    default:
      return undefined;
  }
}

export interface FoldResult {
  readonly fold: StatusFold;
  /** Runs whose start has no end and whose process lives, with their attempts applied to `fold` as running. */
  readonly running: readonly string[];
  /** Every run since the checkpoint (recordedRuns), and the checkpoint's. */
  readonly runs: readonly RecordedRun[];
  /**
   * The runs of schedule jobs (run-start `job`): each job's last run and last success from the
   * checkpoint, then every such run since, in the order written.
   */
  readonly jobRuns: readonly RecordedRun[];
}

/**
 * Fold the events (from the journal's checkpoint, when it has one, on). A run without an end is
 * killed unless its process lives; a living one is applied as running (so the answer says so)
 * and reported in `running`, for compaction to keep its lines.
 */
export function foldJournal(events: readonly JournalEvent[], probe: RunProbe = processProbe): FoldResult {
  let fold = emptyFold();
  let from = 0;
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index]!;
    if (event.event === 'checkpoint') {
      fold = restoreFold(event.state);
      from = index + 1;
      break;
    }
  }
  const tail = events.slice(from);
  const scheduleJobs = (fold.scheduleJobs ??= {});
  const checkpointJobRuns = Object.values(scheduleJobs).flatMap(({ lastRun, lastSuccess }) =>
    [lastSuccess, lastRun].filter(
      (run, index, both): run is RecordedRun => run !== undefined && (index === 0 || run.id !== both[0]?.id),
    ),
  );
  // Positions go on from the checkpoint's: what it holds is older than every line after it.
  const base = fold.position ?? 0;
  const inProgress = new Map<string, RunInProgress>();
  const progressOf = (run: string, at: number): RunInProgress => {
    let progress = inProgress.get(run);
    if (!progress) inProgress.set(run, (progress = newProgress(run, at)));
    progress.lastAt = at;
    return progress;
  };
  // The tail's failures with their positions (a killed run's is known only at the end).
  const failures: { at: number; failure: RecordedFailure }[] = [];
  for (const [index, event] of tail.entries()) {
    const at = base + index + 1;
    const failure = failureOf(event);
    if (failure) failures.push({ at, failure });
    switch (event.event) {
      case 'run-start':
      case 'backup-start': {
        const start: RunStartEvent =
          event.event === 'run-start' ? event : { ...event, event: 'run-start', command: 'backup' };
        const progress = newProgress(event.run, at, start);
        if (engineSyncCommands.has(start.command))
          for (const [subvolume, targets] of Object.entries(fold.btrfs))
            for (const [target, job] of Object.entries(targets))
              if (job.lastSent !== undefined)
                mapOf(progress.btrfs.sentBefore, subvolume).set(target, job.lastSent);
        inProgress.set(event.run, progress);
        break;
      }
      case 'run-end': {
        const progress = progressOf(event.run, at);
        inProgress.delete(event.run);
        applyBtrfsEnd(fold, event, progress);
        applyLocalEnd(fold, event, progress);
        applyResticEnd(fold, event, progress);
        for (const sample of listOf(event.space)) recordSpace(fold, event.time, sample);
        break;
      }
      case 'backup-end': {
        const progress = progressOf(event.run, at);
        inProgress.delete(event.run);
        applyResticEnd(fold, { time: event.time, command: 'backup', sets: event.sets }, progress);
        break;
      }
      case 'step': {
        const progress = progressOf(event.run, at);
        const subvolume = event.subvolume;
        if (typeof subvolume !== 'string') break;
        const target = typeof event.target === 'string' ? event.target : undefined;
        const name = typeof event.name === 'string' ? event.name : undefined;
        const done = progress.btrfs;
        if (!event.ok) {
          const failed = mapOf(done.failed, subvolume);
          if (!failed.has(target ?? ''))
            failed.set(target ?? '', {
              time: event.time,
              at,
              message: text(event.error) || `${event.kind} failed`,
            });
        } else if (event.kind === 'create-snapshot' && name) done.created.set(subvolume, name);
        else if (event.kind === 'send' && target && name) mapOf(done.sent, subvolume).set(target, name);
        if (event.kind === 'create-snapshot')
          recordAttempt(
            localJob(fold, subvolume),
            event.ok
              ? {
                  time: event.time,
                  run: event.run,
                  command: progress.start?.command ?? 'run',
                  outcome: 'ok',
                  at,
                }
              : {
                  time: event.time,
                  run: event.run,
                  command: progress.start?.command ?? 'run',
                  outcome: 'failed',
                  message: text(event.error) || 'snapshot failed',
                  at,
                },
          );
        // Deleted (retention): it can be sent nowhere any more.
        if (event.kind === 'delete-snapshot' && event.ok && name && fold.created[subvolume])
          fold.created[subvolume] = fold.created[subvolume].filter((snapshot) => snapshot.name !== name);
        if (event.kind === 'create-snapshot' && event.ok && typeof event.name === 'string')
          pushBounded(
            (fold.created[subvolume] ??= []),
            { name: event.name, time: event.time, at },
            keepCreated,
          );
        if (event.kind === 'send' && typeof event.target === 'string') {
          const job = btrfsJob(fold, subvolume, event.target, at);
          const command = progress.start?.command ?? 'run';
          if (event.ok) {
            recordAttempt(job, { time: event.time, run: event.run, command, outcome: 'ok', at });
            job.lastWork = workOf(event.durationMs, event.bytes);
            if (typeof event.name === 'string') {
              job.lastSent = event.name;
              job.sentAt = at;
            }
          } else
            recordAttempt(job, {
              time: event.time,
              run: event.run,
              command,
              outcome: 'failed',
              message: text(event.error) || 'send failed',
              at,
            });
        }
        break;
      }
      case 'item': {
        const items = progressOf(event.run, at).items;
        const counts = items.get(event.set) ?? { ok: 0, failed: 0, durationMs: 0 };
        if (typeof event.durationMs === 'number') counts.durationMs += event.durationMs;
        const made = typeof event.item === 'object' && event.item !== null ? event.item : undefined;
        // Each snapshot counts when its line is written (a killed backup made it all the same);
        // counted from a listing only: before the first one the total is not known.
        const listed =
          made && typeof made.snapshotId === 'string' ? fold.restic[event.set]?.[primary] : undefined;
        if (listed?.snapshots) listed.snapshots = { count: listed.snapshots.count + 1, time: event.time };
        if (made && typeof made.dataAdded === 'number')
          counts.dataAdded = (counts.dataAdded ?? 0) + made.dataAdded;
        if (event.ok) counts.ok++;
        else {
          counts.failed++;
          counts.error ??= `${text(event.what)}: ${text(event.error) || 'failed'}`;
        }
        items.set(event.set, counts);
        break;
      }
      case 'drill': {
        progressOf(event.run, at);
        const record: DrillRecord = {
          time: event.time,
          run: event.run,
          ok: event.ok,
          ...(typeof event.detail === 'string' ? { detail: event.detail } : {}),
        };
        if (event.kind === 'btrfs')
          btrfsJob(fold, event.subvolume, event.target, at).drill = { ...record, snapshot: event.snapshot };
        else resticJob(fold, event.set, primary).drill = record;
        break;
      }
      case 'verify':
        progressOf(event.run, at);
        fold.verify[event.repository] = { time: event.time, ok: event.ok };
        break;
      case 'restic-snapshots':
        progressOf(event.run, at);
        resticJob(fold, event.set, event.primary === true ? primary : event.repository).snapshots = {
          count: event.count,
          time: event.time,
        };
        break;
      case 'notification': {
        const channels = (fold.channels ??= {});
        const before = channels[event.channel];
        const error = text(event.error) || 'failed';
        channels[event.channel] = {
          channelType: text(event.channelType),
          lastAttempt: { time: event.time, ok: event.ok, ...(event.ok ? {} : { error }) },
          ...(event.ok
            ? { lastSuccess: event.time }
            : before?.lastSuccess
              ? { lastSuccess: before.lastSuccess }
              : {}),
          ...(event.ok
            ? before?.lastFailure
              ? { lastFailure: before.lastFailure }
              : {}
            : { lastFailure: { time: event.time, error } }),
        };
        break;
      }
      default:
        // Lines of a run that still say it was alive then (offsite copies, prunes, …).
        if (inProgress.has(event.run)) progressOf(event.run, at);
        break;
    }
  }
  fold.position = base + tail.length;
  // Runs without an end: killed, unless their process lives.
  const running: string[] = [];
  for (const progress of inProgress.values()) {
    if (!progress.start) continue;
    const alive = probe(progress.start);
    if (alive) running.push(progress.run);
    applyBtrfsEnd(fold, undefined, progress, alive ? 'running' : 'killed');
    applyLocalEnd(fold, undefined, progress, alive ? 'running' : 'killed');
    applyResticEnd(fold, undefined, progress, alive ? 'running' : 'killed');
  }
  const tailRuns = recordedRuns(tail, probe);
  for (const run of tailRuns)
    if (run.state === 'killed')
      failures.push({
        at: inProgress.get(run.id)?.lastAt ?? fold.position,
        failure: {
          time: run.time,
          what: `snapkeep ${run.command}`,
          error: 'killed: it never ended and its process is gone',
        },
      });
  // In the order they were written (a stable sort: lines of one position keep theirs).
  failures.sort((a, b) => a.at - b.at);
  for (const { failure } of failures) pushBounded(fold.failures, failure, keepFailures);
  const tailJobRuns = tailRuns.filter((run) => typeof run.start?.job === 'string');
  for (const run of tailJobRuns) {
    if (run.state === 'running') continue;
    const entry = (scheduleJobs[run.start!.job as string] ??= {});
    entry.lastRun = run;
    if (run.state === 'ok') entry.lastSuccess = run;
  }
  const runs = [...fold.runs, ...tailRuns];
  fold.runs = keepRuns(runs.filter((run) => run.state !== 'running'));
  fold.runCount += tailRuns.filter((run) => run.state !== 'running').length;
  return { fold, running, runs, jobRuns: [...checkpointJobRuns, ...tailJobRuns] };
}

/** The runs of schedule jobs, through the checkpoint (FoldResult.jobRuns): for `schedule status | catch-up`. */
export function scheduleJobRuns(
  events: readonly JournalEvent[],
  probe: RunProbe = processProbe,
): readonly RecordedRun[] {
  return foldJournal(events, probe).jobRuns;
}

/** The newest run overall and the newest of each command (what readers ask for). */
function keepRuns(runs: readonly RecordedRun[]): RecordedRun[] {
  const newest = new Map<string, RecordedRun>();
  for (const run of runs) newest.set(run.command, run);
  const last = runs.at(-1);
  const kept = [...newest.values()];
  if (last && !kept.includes(last)) kept.push(last);
  // In the order they happened, the newest last.
  return runs.filter((run) => kept.includes(run));
}

function recordCopies(fold: StatusFold, time: string, target: string, copies: unknown): void {
  if (typeof copies !== 'object' || copies === null) return;
  for (const [subvolume, count] of Object.entries(copies as Record<string, unknown>))
    if (typeof count === 'number') ((fold.copies ??= {})[subvolume] ??= {})[target] = { count, time };
}

function recordSpace(fold: StatusFold, time: string, sample: JournalSpace): void {
  if (typeof sample?.target !== 'string') return;
  recordCopies(fold, time, sample.target, sample.copies);
  if (typeof sample.usedBytes !== 'number') return;
  pushBounded(
    (fold.space[sample.target] ??= []),
    {
      time,
      path: text(sample.path),
      usedBytes: sample.usedBytes,
      freeBytes: sample.freeBytes,
      sizeBytes: sample.sizeBytes,
      ...(sample.copies ? { copies: sample.copies } : {}),
    },
    keepSpace,
  );
}

function restoreFold(state: unknown): StatusFold {
  const empty = emptyFold();
  if (typeof state !== 'object' || state === null || (state as StatusFold).v !== statusVersion) return empty;
  const saved = state as Partial<StatusFold>;
  // A shallow copy of each part: folding on must not change the caller's events.
  const fold = JSON.parse(JSON.stringify({ ...empty, ...saved })) as StatusFold;
  // Checkpoints from before the copies were kept on their own: the space samples hold them.
  if (saved.copies === undefined)
    for (const [target, samples] of Object.entries(fold.space))
      for (const sample of samples) recordCopies(fold, sample.time, target, sample.copies);
  return fold;
}

// ---------------------------------------------------------------------------------------------
// The view at `now`.

export type JobSpec =
  | { readonly kind: 'btrfs'; readonly subvolume: string; readonly target: string }
  /** A subvolume's own snapshots: the job of a subvolume without targets. */
  | { readonly kind: 'snapshot'; readonly subvolume: string }
  | {
      readonly kind: 'restic';
      readonly set: string;
      readonly repository: string;
      /** The set's own repository (not an offsite copy). */
      readonly primary: boolean;
    };

export interface DeriveOptions {
  /** The jobs the config defines (only these are reported); default: every job the journal names. */
  readonly jobs?: readonly JobSpec[];
  /**
   * Hours after the last success a job is stale (`check --max-age`; for a job that never
   * succeeded, the threshold shown); default 26.
   */
  readonly staleHours?: (job: JobSpec) => number | undefined;
  /**
   * When a job is stale after its last success (the schedules' rule, status-inputs.ts
   * StaleRule.deadline); where it gives none, staleHours after the success.
   */
  readonly staleDeadline?: (job: JobSpec, success: Date) => Date | undefined;
  readonly probe?: RunProbe;
  /**
   * Snapshots in each subvolume's snapshot directory now (status lists them: no process);
   * undefined for one: not listed.
   */
  readonly localSnapshots?: (subvolume: string) => number | undefined;
}

/** How many snapshots of a subvolume there are, here and on each of its targets. */
export interface SnapshotCount {
  readonly subvolume: string;
  /** In its snapshot directory now; absent: not listed (pull mode, unreadable, not asked). */
  readonly local?: number;
  /**
   * Copies on each of its targets, as the newest run that counted them found them (run-end
   * `space`: local targets); count absent: never counted (SSH targets are not).
   */
  readonly targets: readonly { readonly target: string; readonly count?: number; readonly time?: string }[];
}

export interface PendingSync {
  /** Snapshots taken since the job's last success (not yet on the target). */
  readonly count: number;
  readonly oldest?: string;
  readonly names: readonly string[];
}

export interface JobStatus {
  /** `subvolume → target` or `set → repository`. */
  readonly id: string;
  readonly spec: JobSpec;
  readonly lastAttempt?: Attempt;
  readonly lastSuccess?: Attempt;
  readonly lastFailure?: Attempt;
  /** Hours since the last success (undefined: never). */
  readonly ageHours?: number;
  /** Hours from the last success to staleAt (never succeeded: the threshold it would have). */
  readonly staleHours: number;
  /** When it is (or was) stale without a newer success; undefined: never succeeded (stale). */
  readonly staleAt?: string;
  readonly stale: boolean;
  /** The last attempt failed, was partial, interrupted or killed. */
  readonly failing: boolean;
  readonly pending?: PendingSync;
  readonly lastSent?: string;
  /** The last success's duration and bytes (btrfs: its send stream; restic: data added). */
  readonly lastWork?: JobWork;
  /** restic: the set's snapshots in the repository, as of `time`. */
  readonly repositorySnapshots?: { readonly count: number; readonly time: string };
  readonly drill?: DrillRecord;
  readonly drillFailed: boolean;
  readonly verify?: { readonly time: string; readonly ok: boolean };
}

export interface TargetSpace {
  readonly target: string;
  readonly path: string;
  readonly time: string;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly sizeBytes: number;
  readonly copies?: Readonly<Record<string, number>>;
  /** Growth of used space per day over the recorded samples (undefined: too few). */
  readonly bytesPerDay?: number;
  /** At that rate; undefined when not growing or unknown. */
  readonly fullInDays?: number;
  /** Days between the first and the last sample the trend is from. */
  readonly sampleDays?: number;
}

export interface DerivedStatus {
  readonly version: number;
  readonly now: string;
  readonly jobs: readonly JobStatus[];
  readonly lastRun?: RecordedRun;
  /** The newest run of each command, in the order they were written (the newest last). */
  readonly lastRuns: Readonly<Record<string, RecordedRun>>;
  /** Runs recorded (the journal's, with those compacted away). */
  readonly runCount: number;
  readonly failures: readonly RecordedFailure[];
  readonly space: readonly TargetSpace[];
  /** Per subvolume of the jobs, in their order. */
  readonly snapshots: readonly SnapshotCount[];
  /** Notification channels by name: the last delivery (failing: it did not go through). */
  readonly channels: Readonly<Record<string, ChannelRecord & { readonly failing: boolean }>>;
  readonly summary: {
    readonly jobs: number;
    readonly failing: number;
    readonly stale: number;
    readonly drillsFailed: number;
    readonly running: number;
  };
}

export const jobId = (spec: JobSpec): string =>
  spec.kind === 'btrfs'
    ? `${spec.subvolume} → ${spec.target}`
    : spec.kind === 'snapshot'
      ? `${spec.subvolume} (snapshots)`
      : `${spec.set} → ${spec.repository}`;

export type TransferLookup = (subvolume: string, target: string) => TransferRecord;

/** restic's side: the set's own repository name (the journal records it as the set's). */
export interface ResticState {
  readonly primaryOf?: (set: string) => string | undefined;
}

const hoursBetween = (now: Date, iso: string): number => (now.getTime() - Date.parse(iso)) / 3_600_000;

/** A target's record without what it started from (the `*` history before it was named). */
function ownHistory(job: JobFold | undefined): JobFold {
  if (!job) return {};
  const record = { ...job };
  const inherited = (attempt: StoredAttempt | undefined): boolean =>
    attempt !== undefined && job.namedAt !== undefined && positionOf(attempt) < job.namedAt;
  if (inherited(record.lastAttempt)) delete record.lastAttempt;
  if (inherited(record.lastSuccess)) delete record.lastSuccess;
  if (inherited(record.lastFailure)) delete record.lastFailure;
  return record;
}

/** An attempt as the answer shows it (its position is the fold's own business). */
function shown(attempt: StoredAttempt): Attempt {
  const { at: _at, ...rest } = attempt;
  return rest;
}

function jobsOfFold(fold: StatusFold, resticState: ResticState): JobSpec[] {
  const specs: JobSpec[] = [];
  for (const [subvolume, targets] of Object.entries(fold.btrfs))
    for (const target of Object.keys(targets))
      if (target !== anyTarget) specs.push({ kind: 'btrfs', subvolume, target });
  for (const subvolume of Object.keys(fold.local ?? {}))
    if (!Object.keys(fold.btrfs[subvolume] ?? {}).some((target) => target !== anyTarget))
      specs.push({ kind: 'snapshot', subvolume });
  for (const [set, repositories] of Object.entries(fold.restic))
    for (const repository of Object.keys(repositories))
      specs.push({
        kind: 'restic',
        set,
        repository: repository === primary ? (resticState.primaryOf?.(set) ?? 'repository') : repository,
        primary: repository === primary,
      });
  return specs;
}

function forecast(samples: readonly SpaceSample[]): {
  bytesPerDay?: number;
  fullInDays?: number;
  sampleDays?: number;
} {
  if (samples.length < 2) return {};
  const sampleDays = (Date.parse(samples.at(-1)!.time) - Date.parse(samples[0]!.time)) / 86_400_000;
  // Least squares over the samples: one run that deleted much must not flip the trend.
  const points = samples.map((sample) => [Date.parse(sample.time) / 86_400_000, sample.usedBytes] as const);
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length;
  const covariance = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0);
  const variance = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  if (variance === 0) return {};
  const bytesPerDay = covariance / variance;
  const free = samples.at(-1)!.freeBytes;
  return bytesPerDay > 0
    ? { bytesPerDay, fullInDays: free / bytesPerDay, sampleDays }
    : { bytesPerDay, sampleDays };
}

export function deriveStatus(
  journal: readonly JournalEvent[],
  transferState: TransferLookup,
  resticState: ResticState,
  now: Date,
  options: DeriveOptions = {},
): DerivedStatus {
  const { fold, runs, running } = foldJournal(journal, options.probe ?? processProbe);
  const specs = options.jobs ?? jobsOfFold(fold, resticState);
  const jobs = specs.map((spec): JobStatus => {
    let record: JobFold;
    let pending: PendingSync | undefined;
    let verify: JobStatus['verify'];
    if (spec.kind === 'btrfs') {
      const targets = fold.btrfs[spec.subvolume] ?? {};
      const transfer = transferState(spec.subvolume, spec.target);
      // The `*` history (runs that named no target) is a target's own only if a run looked at it
      // (observing a target records its copies in the transfer state): a target new in the
      // config was never attempted, and every snapshot is pending for it.
      const looked =
        transfer.ownCopies !== undefined ||
        transfer.lastSent !== undefined ||
        transfer.lastSentAt !== undefined;
      const own = targets[spec.target];
      record = looked ? { ...(own ?? targets[anyTarget] ?? {}) } : ownHistory(own);
      // The transfer state outlives a lost journal; the journal says more when it has it (a
      // send it knows is its own success, ordered by where it was written).
      if (
        transfer.lastSentAt &&
        (record.lastSuccess === undefined ||
          (transfer.lastSent !== record.lastSent && transfer.lastSentAt > record.lastSuccess.time))
      ) {
        record.lastSuccess = { time: transfer.lastSentAt, run: '', command: 'run', outcome: 'ok' };
        record.lastSent = transfer.lastSent ?? record.lastSent;
      }
      // Waiting: taken after the last success, the end of a run that had nothing more to send
      // there; where that success is a send (a run stopped after part of a chain), taken after
      // the snapshot it sent.
      const created = fold.created[spec.subvolume] ?? [];
      const success = record.lastSuccess;
      const sentLast =
        success && success.at !== undefined && success.at === record.sentAt
          ? created.find((snapshot) => snapshot.name === record.lastSent)
          : undefined;
      const since = sentLast ?? success;
      const waiting = created.filter((snapshot) => since === undefined || writtenAfter(snapshot, since));
      pending = {
        count: waiting.length,
        ...(waiting[0] ? { oldest: waiting[0].time } : {}),
        names: waiting.slice(-5).map((snapshot) => snapshot.name),
      };
    } else if (spec.kind === 'snapshot') {
      record = { ...(fold.local?.[spec.subvolume] ?? {}) };
    } else {
      const repositories = fold.restic[spec.set] ?? {};
      record = { ...(repositories[spec.primary ? primary : spec.repository] ?? {}) };
      verify = fold.verify[spec.repository];
    }
    const successTime = record.lastSuccess?.time;
    const ageHours = successTime === undefined ? undefined : hoursBetween(now, successTime);
    let staleHours = options.staleHours?.(spec) ?? defaultStaleHours;
    let staleAt: Date | undefined;
    if (successTime !== undefined) {
      const success = new Date(successTime);
      staleAt =
        options.staleDeadline?.(spec, success) ?? new Date(success.getTime() + staleHours * 3_600_000);
      staleHours = (staleAt.getTime() - success.getTime()) / 3_600_000;
    }
    const outcome = record.lastAttempt?.outcome;
    return {
      id: jobId(spec),
      spec,
      ...(record.lastAttempt ? { lastAttempt: shown(record.lastAttempt) } : {}),
      ...(record.lastSuccess ? { lastSuccess: shown(record.lastSuccess) } : {}),
      ...(record.lastFailure ? { lastFailure: shown(record.lastFailure) } : {}),
      ...(ageHours === undefined ? {} : { ageHours }),
      staleHours,
      ...(staleAt && !Number.isNaN(staleAt.getTime()) ? { staleAt: staleAt.toISOString() } : {}),
      // A success whose time cannot be read is as good as none.
      stale: staleAt === undefined || !(now.getTime() <= staleAt.getTime()),
      failing: outcome !== undefined && isFailure(outcome),
      ...(pending ? { pending } : {}),
      ...(record.lastSent ? { lastSent: record.lastSent } : {}),
      ...(record.lastWork ? { lastWork: record.lastWork } : {}),
      ...(record.snapshots ? { repositorySnapshots: record.snapshots } : {}),
      ...(record.drill ? { drill: record.drill } : {}),
      drillFailed: record.drill?.ok === false,
      ...(verify ? { verify } : {}),
    };
  });
  // In the order written, the newest last: a command's entry moves to the end with each run.
  const newestRuns = new Map<string, RecordedRun>();
  for (const run of runs) {
    newestRuns.delete(run.command);
    newestRuns.set(run.command, run);
  }
  const lastRuns: Record<string, RecordedRun> = Object.fromEntries(newestRuns);
  const space = Object.entries(fold.space).flatMap(([target, samples]): TargetSpace[] => {
    const newest = samples.at(-1);
    return newest ? [{ target, ...newest, ...forecast(samples) }] : [];
  });
  const targetsOf = new Map<string, string[]>();
  for (const spec of specs)
    if (spec.kind !== 'restic') {
      const targets = targetsOf.get(spec.subvolume) ?? [];
      if (spec.kind === 'btrfs') targets.push(spec.target);
      targetsOf.set(spec.subvolume, targets);
    }
  const snapshots = [...targetsOf].map(([subvolume, targets]): SnapshotCount => {
    const local = options.localSnapshots?.(subvolume);
    return {
      subvolume,
      ...(local === undefined ? {} : { local }),
      targets: targets.map((target) => {
        const counted = fold.copies?.[subvolume]?.[target];
        return counted ? { target, count: counted.count, time: counted.time } : { target };
      }),
    };
  });
  return {
    version: statusVersion,
    now: now.toISOString(),
    jobs,
    ...(runs.at(-1) ? { lastRun: runs.at(-1)! } : {}),
    lastRuns,
    runCount: fold.runCount + running.length,
    failures: fold.failures,
    space,
    snapshots,
    channels: Object.fromEntries(
      Object.entries(fold.channels ?? {}).map(([name, record]) => [
        name,
        { ...record, failing: !record.lastAttempt.ok },
      ]),
    ),
    summary: {
      jobs: jobs.length,
      failing: jobs.filter((job) => job.failing).length,
      stale: jobs.filter((job) => job.stale).length,
      drillsFailed: jobs.filter((job) => job.drillFailed).length,
      running: jobs.filter((job) => job.lastAttempt?.outcome === 'running').length,
    },
  };
}

/**
 * The newest run of these commands (status and doctor logs: "the last run", "the last backup"):
 * the last written (lastRuns is in that order), whatever the times say.
 */
export function lastRunOf(status: DerivedStatus, commands: readonly string[]): RecordedRun | undefined {
  return Object.values(status.lastRuns)
    .filter((run) => commands.includes(run.command))
    .at(-1);
}
