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

/** What the fold remembers of one job. */
interface JobFold {
  lastAttempt?: Attempt;
  lastSuccess?: Attempt;
  lastFailure?: Attempt;
  lastSent?: string;
  drill?: DrillRecord;
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
  btrfs: Record<string, Record<string, JobFold>>;
  restic: Record<string, Record<string, JobFold>>;
  /** Snapshots created, per subvolume (the newest ones): what pending sync is counted from. */
  created: Record<string, { name: string; time: string }[]>;
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

const keepCreated = 100;
const keepFailures = 100;
const keepSpace = 60;
const anyTarget = '*';
const primary = '';

export function emptyFold(): StatusFold {
  return {
    v: statusVersion,
    btrfs: {},
    restic: {},
    created: {},
    verify: {},
    runs: [],
    runCount: 0,
    failures: [],
    space: {},
    channels: {},
  };
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
/** The list a line holds, or none when the line holds something else there (lenient reading). */
const listOf = <T>(value: readonly T[] | undefined): readonly T[] =>
  Array.isArray(value) ? (value as readonly T[]) : [];
const isFailure = (outcome: Outcome): boolean => outcome !== 'ok' && outcome !== 'running';

function pushBounded<T>(list: T[], item: T, limit: number): void {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

// A run without an end is resolved after all lines are read (killed or running), with its start
// time: what later runs recorded is newer and stays.
const newer = (attempt: Attempt, than: Attempt | undefined): boolean =>
  than === undefined || attempt.time >= than.time;

function recordAttempt(job: JobFold, attempt: Attempt): void {
  if (newer(attempt, job.lastAttempt)) job.lastAttempt = attempt;
  if (attempt.outcome === 'ok' && newer(attempt, job.lastSuccess)) job.lastSuccess = attempt;
  else if (isFailure(attempt.outcome) && newer(attempt, job.lastFailure)) job.lastFailure = attempt;
}

/** The btrfs job, created from the subvolume's `*` history when first named. */
function btrfsJob(fold: StatusFold, subvolume: string, target: string): JobFold {
  const targets = (fold.btrfs[subvolume] ??= {});
  if (!targets[target]) targets[target] = { ...(targets[anyTarget] ?? {}) };
  return targets[target];
}

function resticJob(fold: StatusFold, set: string, repository: string): JobFold {
  const repositories = (fold.restic[set] ??= {});
  return (repositories[repository] ??= {});
}

/** What one run did so far, while its lines are read (not part of the fold). */
interface RunInProgress {
  readonly run: string;
  start?: RunStartEvent;
  /** Items of each set: how many ok, how many failed. */
  readonly items: Map<string, { ok: number; failed: number; error?: string }>;
}

const engineSyncCommands = new Set(['run', 'resume']);

function inScope(start: RunStartEvent | undefined, name: string): boolean {
  const only = listOf(start?.only);
  return only.length === 0 || only.includes(name);
}

function applyBtrfsEnd(
  fold: StatusFold,
  end: RunEndEvent | undefined,
  progress: RunInProgress,
  outcome?: Outcome,
): void {
  const command = end?.command ?? progress.start?.command ?? '';
  if (!engineSyncCommands.has(command)) return;
  const time = end?.time ?? progress.start!.time;
  const base = { time, run: progress.run, command };
  const jobs = listOf(end?.jobs);
  if (outcome !== undefined || jobs.length === 0) {
    // Ended without job results (interrupted, killed, an error before the jobs): every
    // subvolume in its scope was attempted and did not finish.
    const how: Outcome =
      outcome ?? (end?.signal ? 'interrupted' : end && end.exitCode === 0 ? 'ok' : 'failed');
    if (how === 'ok') return; // nothing to sync was in its scope (no subvolumes)
    const subvolumes = new Set([...Object.keys(fold.btrfs), ...Object.keys(fold.created)]);
    for (const subvolume of subvolumes) {
      if (!inScope(progress.start, subvolume)) continue;
      const targets = (fold.btrfs[subvolume] ??= {});
      targets[anyTarget] ??= {};
      for (const job of Object.values(targets))
        recordAttempt(job, { ...base, outcome: how, ...(end?.error ? { message: end.error } : {}) });
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
    const targets = new Set(problems.flatMap((job) => (job.target === undefined ? [] : [job.target])));
    for (const target of targets) btrfsJob(fold, subvolume, target);
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

function applyResticEnd(
  fold: StatusFold,
  end:
    | { time: string; command?: string; signal?: string; error?: string; sets?: readonly JournalSet[] }
    | undefined,
  progress: RunInProgress,
  outcome?: Outcome,
): void {
  const command = end?.command ?? progress.start?.command ?? 'backup';
  if (command !== 'backup') return;
  const time = end?.time ?? progress.start!.time;
  const base = { time, run: progress.run, command };
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
    } else if (!result.error && offsite.some((copy) => !copy.ok))
      own = 'ok'; // only a copy failed
    else {
      own = 'failed';
      message = result.error;
    }
    recordAttempt(resticJob(fold, result.set, primary), {
      ...base,
      outcome: own,
      ...(message ? { message } : {}),
    });
    for (const copy of offsite) {
      if (typeof copy?.repository !== 'string') continue;
      recordAttempt(resticJob(fold, result.set, copy.repository), {
        ...base,
        outcome: copy.ok ? 'ok' : 'failed',
        ...(copy.ok ? {} : { message: text(copy.error) || 'copy failed' }),
      });
    }
  }
}

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
  const inProgress = new Map<string, RunInProgress>();
  const progressOf = (run: string): RunInProgress => {
    let progress = inProgress.get(run);
    if (!progress) inProgress.set(run, (progress = { run, items: new Map() }));
    return progress;
  };
  for (const event of tail) {
    const failure = failureOf(event);
    if (failure) pushBounded(fold.failures, failure, keepFailures);
    switch (event.event) {
      case 'run-start':
      case 'backup-start': {
        const progress: RunInProgress = { run: event.run, items: new Map() };
        progress.start =
          event.event === 'run-start' ? event : { ...event, event: 'run-start', command: 'backup' };
        inProgress.set(event.run, progress);
        break;
      }
      case 'run-end': {
        const progress = progressOf(event.run);
        inProgress.delete(event.run);
        applyBtrfsEnd(fold, event, progress);
        applyResticEnd(fold, event, progress);
        for (const sample of listOf(event.space)) recordSpace(fold, event.time, sample);
        break;
      }
      case 'backup-end': {
        const progress = progressOf(event.run);
        inProgress.delete(event.run);
        applyResticEnd(fold, { time: event.time, command: 'backup', sets: event.sets }, progress);
        break;
      }
      case 'step': {
        const subvolume = event.subvolume;
        if (typeof subvolume !== 'string') break;
        if (event.kind === 'create-snapshot' && event.ok && typeof event.name === 'string')
          pushBounded((fold.created[subvolume] ??= []), { name: event.name, time: event.time }, keepCreated);
        if (event.kind === 'send' && typeof event.target === 'string') {
          const job = btrfsJob(fold, subvolume, event.target);
          const command = progressOf(event.run).start?.command ?? 'run';
          if (event.ok) {
            recordAttempt(job, { time: event.time, run: event.run, command, outcome: 'ok' });
            if (typeof event.name === 'string') job.lastSent = event.name;
          } else
            recordAttempt(job, {
              time: event.time,
              run: event.run,
              command,
              outcome: 'failed',
              message: text(event.error) || 'send failed',
            });
        }
        break;
      }
      case 'item': {
        const items = progressOf(event.run).items;
        const counts = items.get(event.set) ?? { ok: 0, failed: 0 };
        if (event.ok) counts.ok++;
        else {
          counts.failed++;
          counts.error ??= `${text(event.what)}: ${text(event.error) || 'failed'}`;
        }
        items.set(event.set, counts);
        break;
      }
      case 'drill': {
        const record: DrillRecord = {
          time: event.time,
          run: event.run,
          ok: event.ok,
          ...(typeof event.detail === 'string' ? { detail: event.detail } : {}),
        };
        if (event.kind === 'btrfs')
          btrfsJob(fold, event.subvolume, event.target).drill = { ...record, snapshot: event.snapshot };
        else resticJob(fold, event.set, primary).drill = record;
        break;
      }
      case 'verify':
        fold.verify[event.repository] = { time: event.time, ok: event.ok };
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
        break;
    }
  }
  // Runs without an end: killed, unless their process lives.
  const running: string[] = [];
  for (const progress of inProgress.values()) {
    if (!progress.start) continue;
    const alive = probe(progress.start);
    if (alive) running.push(progress.run);
    applyBtrfsEnd(fold, undefined, progress, alive ? 'running' : 'killed');
    applyResticEnd(fold, undefined, progress, alive ? 'running' : 'killed');
  }
  const tailRuns = recordedRuns(tail, probe);
  for (const run of tailRuns)
    if (run.state === 'killed')
      pushBounded(
        fold.failures,
        {
          time: run.time,
          what: `snapkeep ${run.command}`,
          error: 'killed: it never ended and its process is gone',
        },
        keepFailures,
      );
  fold.failures.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  // Snapshots every target of their subvolume has had since are pending nowhere: dropped.
  for (const [subvolume, created] of Object.entries(fold.created)) {
    const successes = Object.values(fold.btrfs[subvolume] ?? {}).map((job) => job.lastSuccess?.time);
    if (successes.length === 0 || successes.includes(undefined)) continue;
    const oldest = successes.reduce((a, b) => (a! < b! ? a : b))!;
    fold.created[subvolume] = created.filter((snapshot) => snapshot.time > oldest);
  }
  const runs = [...fold.runs, ...tailRuns];
  fold.runs = keepRuns(runs.filter((run) => run.state !== 'running'));
  fold.runCount += tailRuns.filter((run) => run.state !== 'running').length;
  return { fold, running, runs };
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

function recordSpace(fold: StatusFold, time: string, sample: JournalSpace): void {
  if (typeof sample?.target !== 'string' || typeof sample.usedBytes !== 'number') return;
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
  return JSON.parse(JSON.stringify({ ...empty, ...saved })) as StatusFold;
}

// ---------------------------------------------------------------------------------------------
// The view at `now`.

export type JobSpec =
  | { readonly kind: 'btrfs'; readonly subvolume: string; readonly target: string }
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
  /** Hours after the last success a job is stale (a schedule's interval and slack); default 26. */
  readonly staleHours?: (job: JobSpec) => number | undefined;
  readonly probe?: RunProbe;
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
  readonly staleHours: number;
  readonly stale: boolean;
  /** The last attempt failed, was partial, interrupted or killed. */
  readonly failing: boolean;
  readonly pending?: PendingSync;
  readonly lastSent?: string;
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
  /** The newest run of each command. */
  readonly lastRuns: Readonly<Record<string, RecordedRun>>;
  /** Runs recorded (the journal's, with those compacted away). */
  readonly runCount: number;
  readonly failures: readonly RecordedFailure[];
  readonly space: readonly TargetSpace[];
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
  spec.kind === 'btrfs' ? `${spec.subvolume} → ${spec.target}` : `${spec.set} → ${spec.repository}`;

export type TransferLookup = (subvolume: string, target: string) => TransferRecord;

/** restic's side: the set's own repository name (the journal records it as the set's). */
export interface ResticState {
  readonly primaryOf?: (set: string) => string | undefined;
}

const hoursBetween = (now: Date, iso: string): number => (now.getTime() - Date.parse(iso)) / 3_600_000;

function jobsOfFold(fold: StatusFold, resticState: ResticState): JobSpec[] {
  const specs: JobSpec[] = [];
  for (const [subvolume, targets] of Object.entries(fold.btrfs))
    for (const target of Object.keys(targets))
      if (target !== anyTarget) specs.push({ kind: 'btrfs', subvolume, target });
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
      record = { ...(targets[spec.target] ?? targets[anyTarget] ?? {}) };
      const transfer = transferState(spec.subvolume, spec.target);
      // The transfer state outlives a lost journal; the journal says more when it has it.
      if (transfer.lastSentAt && transfer.lastSentAt > (record.lastSuccess?.time ?? '')) {
        record.lastSuccess = { time: transfer.lastSentAt, run: '', command: 'run', outcome: 'ok' };
        record.lastSent = transfer.lastSent ?? record.lastSent;
      }
      const since = record.lastSuccess?.time ?? '';
      const waiting = (fold.created[spec.subvolume] ?? []).filter((snapshot) => snapshot.time > since);
      pending = {
        count: waiting.length,
        ...(waiting[0] ? { oldest: waiting[0].time } : {}),
        names: waiting.slice(-5).map((snapshot) => snapshot.name),
      };
    } else {
      const repositories = fold.restic[spec.set] ?? {};
      record = { ...(repositories[spec.primary ? primary : spec.repository] ?? {}) };
      verify = fold.verify[spec.repository];
    }
    const staleHours = options.staleHours?.(spec) ?? defaultStaleHours;
    const successTime = record.lastSuccess?.time;
    const ageHours = successTime === undefined ? undefined : hoursBetween(now, successTime);
    const outcome = record.lastAttempt?.outcome;
    return {
      id: jobId(spec),
      spec,
      ...(record.lastAttempt ? { lastAttempt: record.lastAttempt } : {}),
      ...(record.lastSuccess ? { lastSuccess: record.lastSuccess } : {}),
      ...(record.lastFailure ? { lastFailure: record.lastFailure } : {}),
      ...(ageHours === undefined ? {} : { ageHours }),
      staleHours,
      stale: ageHours === undefined || ageHours > staleHours,
      failing: outcome !== undefined && isFailure(outcome),
      ...(pending ? { pending } : {}),
      ...(record.lastSent ? { lastSent: record.lastSent } : {}),
      ...(record.drill ? { drill: record.drill } : {}),
      drillFailed: record.drill?.ok === false,
      ...(verify ? { verify } : {}),
    };
  });
  const lastRuns: Record<string, RecordedRun> = {};
  for (const run of runs) lastRuns[run.command] = run;
  const space = Object.entries(fold.space).flatMap(([target, samples]): TargetSpace[] => {
    const newest = samples.at(-1);
    return newest ? [{ target, ...newest, ...forecast(samples) }] : [];
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

/** The newest run of these commands (status and doctor logs: "the last run", "the last backup"). */
export function lastRunOf(status: DerivedStatus, commands: readonly string[]): RecordedRun | undefined {
  let newest: RecordedRun | undefined;
  for (const command of commands) {
    const run = status.lastRuns[command];
    if (run && (newest === undefined || run.time >= newest.time)) newest = run;
  }
  return newest;
}
