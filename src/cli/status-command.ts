// `status`: per job (subvolume × target, backup set × repository) the last success, the last
// attempt and how it ended, age, stale or not, what is waiting to be sent; the last run; and how
// many snapshots there are here and on each target — all from deriveStatus (the answer `check`
// and `doctor logs` give too), read from the journal, the transfer state and one listing of each
// local snapshot directory, never by running btrfs or restic (so it is instant and safe).
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode } from '../errors.js';
import type { DerivedStatus, JobStatus } from '../state/derive-status.js';
import { describeRunOutcome, type RecordedRun } from '../state/run-history.js';
import { jobsOfConfig, readStatusWithTransfers, scheduleStaleHours } from '../state/status-inputs.js';
import { countLocalSnapshots } from '../state/target-space.js';
import { createOutput, formatTable } from './output.js';
import { createPrinter } from './printer.js';
import type { StatusCommandEvent } from './status-events.js';

export interface StatusOptions {
  readonly config?: string;
  readonly json: boolean;
  /** The clock (tests); default now. */
  readonly now?: Date;
}

export function formatAge(iso: string | undefined, now: number): string {
  if (!iso) return 'never';
  const hours = (now - Date.parse(iso)) / 3_600_000;
  if (hours < 1) return `${Math.max(0, Math.round(hours * 60))} min ago`;
  if (hours < 48) return `${hours.toFixed(1)} h ago`;
  return `${(hours / 24).toFixed(1)} days ago`;
}

/** A job's state in one word: FAIL (last attempt failed/partial/interrupted/killed), STALE, WARN (drill), RUN, OK. */
export function jobState(job: JobStatus): 'FAIL' | 'STALE' | 'WARN' | 'RUN' | 'OK' {
  if (job.failing) return 'FAIL';
  if (job.stale) return 'STALE';
  if (job.drillFailed) return 'WARN';
  if (job.lastAttempt?.outcome === 'running') return 'RUN';
  return 'OK';
}

const severity = { FAIL: 0, STALE: 1, WARN: 2, RUN: 3, OK: 4 } as const;

/** Failures first, then stale, then the rest; in config order within each. */
export function jobsBySeverity(status: DerivedStatus): JobStatus[] {
  return status.jobs
    .map((job, index) => ({ job, index }))
    .sort((a, b) => severity[jobState(a.job)] - severity[jobState(b.job)] || a.index - b.index)
    .map(({ job }) => job);
}

/** status's exit code: 3 when a job is failing or stale or the last run did not finish well. */
export function statusExitCode(status: DerivedStatus): number {
  const lastRun = status.lastRun;
  const lastRunBad = lastRun !== undefined && lastRun.state !== 'ok' && lastRun.state !== 'running';
  return status.summary.failing > 0 || status.summary.stale > 0 || lastRunBad
    ? ExitCode.partial
    : ExitCode.ok;
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

export async function runStatus(options: StatusOptions): Promise<number> {
  const output = createOutput(options.json);
  // The events are the JSON; the text is the view below, of the same answer.
  const print = createPrinter<StatusCommandEvent>(output, () => []);
  const { resolved } = await loadResolvedConfig(options.config);
  const now = options.now ?? new Date();
  const stale = scheduleStaleHours(resolved.schedules, now);
  const { status, transfers } = await readStatusWithTransfers(resolved.stateDir, {
    jobs: jobsOfConfig(resolved),
    now,
    staleHours: stale.hours,
    staleDeadline: stale.deadline,
    // One listing per local snapshot directory; the targets' counts are what runs recorded.
    localSnapshots: await countLocalSnapshots(resolved.subvolumes),
    primaryOf: (set) => resolved.backupSets.find((candidate) => candidate.name === set)?.repository.name,
  });
  const exitCode = statusExitCode(status);
  const lastRun = status.lastRun;
  print({
    type: 'status',
    version: status.version,
    stateDir: resolved.stateDir,
    now: status.now,
    lastRun: lastRun ? runJson(lastRun) : null,
    runs: status.runCount,
    summary: status.summary,
    exitCode,
  });
  for (const job of status.jobs) print({ type: 'job-status', ...jobJson(job) });
  for (const subvolume of resolved.subvolumes)
    for (const target of subvolume.targets)
      print({
        type: 'target-status',
        subvolume: subvolume.name,
        target: target.name,
        ...transfers.get(subvolume.name, target.name),
      });
  for (const space of status.space) print({ type: 'target-space', ...space });
  for (const count of status.snapshots)
    print({
      type: 'snapshot-count',
      subvolume: count.subvolume,
      local: count.local ?? null,
      targets: count.targets.map((target) => ({
        target: target.target,
        count: target.count ?? null,
        time: target.time ?? null,
      })),
    });
  for (const [channel, record] of Object.entries(status.channels))
    print({ type: 'channel-status', channel, ...record });

  const nowMs = now.getTime();
  if (lastRun) {
    const when = lastRun.endedAt ?? lastRun.time;
    output.text(
      `last run: ${when} (${formatAge(when, nowMs)}), snapkeep ${lastRun.command}, ${describeRunOutcome(lastRun)}`,
    );
  } else {
    output.text(`no runs recorded yet in ${resolved.stateDir} (run: snapkeep run)`);
  }
  const rows = jobsBySeverity(status).map((job) => [
    jobState(job),
    job.id,
    job.lastSuccess ? job.lastSuccess.time.slice(0, 16).replace('T', ' ') : 'never',
    job.ageHours === undefined ? '-' : formatAge(job.lastSuccess?.time, nowMs).replace(' ago', ''),
    job.lastAttempt
      ? `${job.lastAttempt.outcome}${job.lastAttempt.message ? `: ${job.lastAttempt.message}` : ''}`
      : '-',
    job.pending ? (job.pending.count > 0 ? `${job.pending.count} snapshot(s)` : '-') : '',
  ]);
  if (rows.length > 0) {
    output.text(formatTable(['STATE', 'JOB', 'LAST SUCCESS', 'AGE', 'LAST ATTEMPT', 'PENDING'], rows));
    const { failing, stale, drillsFailed } = status.summary;
    output.text(
      failing + stale + drillsFailed === 0
        ? `all ${status.jobs.length} job(s) ok`
        : `${failing} failing, ${stale} stale${drillsFailed ? `, ${drillsFailed} failed restore drill(s)` : ''} of ${status.jobs.length} job(s)`,
    );
  }
  // `?`: not counted (an SSH target, a pull-mode subvolume, a target no run has measured yet).
  for (const count of status.snapshots)
    output.text(
      `snapshots of ${count.subvolume}: ${count.local ?? '?'} here${count.targets
        .map((target) => `, ${target.count ?? '?'} on ${target.target}`)
        .join('')}`,
    );
  for (const space of status.space)
    output.text(
      `${space.target}: ${gib(space.usedBytes)} used, ${gib(space.freeBytes)} free${space.fullInDays === undefined ? '' : `, full in ${Math.floor(space.fullInDays)} days at ${gib(space.bytesPerDay!)}/day`}${
        space.copies
          ? `; copies: ${Object.entries(space.copies)
              .map(([name, count]) => `${name} ${count}`)
              .join(', ')}`
          : ''
      }`,
    );
  // A channel that did not take its last message: the alerts it should carry are not arriving.
  for (const [channel, record] of Object.entries(status.channels))
    if (record.failing)
      output.text(
        `notify ${channel} (${record.channelType}): the last message (${record.lastAttempt.time}) failed: ${record.lastAttempt.error ?? 'failed'}; it is sent again with the next one (snapkeep doctor notify)`,
      );
  return exitCode;
}

/** A job for scripts (README "status --json"). */
export function jobJson(job: JobStatus): Record<string, unknown> {
  return {
    id: job.id,
    ...job.spec,
    state: jobState(job),
    outcome: job.lastAttempt?.outcome ?? 'never',
    lastAttempt: job.lastAttempt ?? null,
    lastSuccess: job.lastSuccess ?? null,
    lastFailure: job.lastFailure ?? null,
    ageHours: job.ageHours ?? null,
    staleHours: job.staleHours,
    staleAt: job.staleAt ?? null,
    stale: job.stale,
    failing: job.failing,
    ...(job.pending ? { pending: job.pending } : {}),
    ...(job.lastSent ? { lastSent: job.lastSent } : {}),
    drill: job.drill ?? null,
    ...(job.verify ? { verify: job.verify } : {}),
  };
}

/** The last run for scripts: its end entry's fields (as before), and how it ended. */
function runJson(run: RecordedRun): Record<string, unknown> {
  return {
    ...(run.end ?? run.start),
    run: run.id,
    command: run.command,
    state: run.state,
    startedAt: run.startedAt,
    endedAt: run.endedAt,
    exitCode: run.exitCode,
    signal: run.signal,
    pid: run.pid,
  };
}
