// `check`: the monitoring-plugin view of deriveStatus (Nagios, Icinga, Zabbix, a watchdog timer).
// Contract: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first line is the one summary
// (`SNAPKEEP CRITICAL - 1 failing, 2 stale | jobs=… failing=… stale=…`), details follow.
// CRITICAL: a job's last attempt failed, was partial, interrupted or killed. WARNING: a job is
// stale (no success within its threshold, or never), or its last restore drill failed.
// UNKNOWN: the config or the journal cannot be read, no job is configured, or a JOB named on
// the command line does not exist. A subvolume without targets is a job too (its snapshots).
import { loadResolvedConfig } from '../config/config-cache.js';
import {
  describeHours,
  jobId,
  type DerivedStatus,
  type JobSpec,
  type JobStatus,
} from '../state/derive-status.js';
import { jobsOfConfig, readStatus, scheduleStaleHours } from '../state/status-inputs.js';
import { formatAge, jobsBySeverity, jobState } from './status-command.js';

export interface CheckOptions {
  readonly config?: string;
  /** --max-age: the stale threshold for every job, in hours (default: each job's own, 26 h). */
  readonly maxAge?: string;
  readonly jobs: readonly string[];
  readonly now?: Date;
}

export const CheckCode = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
const label = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

const unitHours: Record<string, number> = { s: 1 / 3600, m: 1 / 60, h: 1, d: 24, w: 168 };

/** `26h`, `90m`, `2d`, `1d12h`, or plain hours. */
export function parseMaxAge(text: string): number {
  const parts = /^\d+(\.\d+)?$/.test(text)
    ? [[text, text, 'h']]
    : [...text.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)];
  const hours = parts.reduce((total, part) => total + Number(part[1]) * unitHours[part[2]!]!, 0);
  if (parts.map((part) => part[0]).join('') !== text || !(hours > 0))
    throw new Error(`--max-age ${text}: expected a duration such as 26h, 90m, 2d or 1d12h`);
  return hours;
}

/** Does a JOB argument name this job: its subvolume or set, its id, or `name/target` (`name/snapshots`)? */
function selects(argument: string, spec: JobSpec): boolean {
  const [owner, where] =
    spec.kind === 'btrfs'
      ? [spec.subvolume, spec.target]
      : spec.kind === 'snapshot'
        ? [spec.subvolume, 'snapshots']
        : [spec.set, spec.repository];
  return argument === owner || argument === jobId(spec) || argument === `${owner}/${where}`;
}

function jobLine(job: JobStatus, now: number): string {
  const state = jobState(job);
  const word = state === 'FAIL' ? 'CRITICAL' : state === 'STALE' || state === 'WARN' ? 'WARNING' : 'OK';
  const success = job.lastSuccess
    ? `last success ${job.lastSuccess.time} (${formatAge(job.lastSuccess.time, now)})`
    : 'never succeeded';
  const attempt = job.lastAttempt
    ? `; last attempt ${job.lastAttempt.outcome}${job.lastAttempt.message ? `: ${job.lastAttempt.message}` : ''}`
    : '';
  const stale = job.stale ? `; stale (threshold ${describeHours(job.staleHours)})` : '';
  const pending =
    job.pending && job.pending.count > 0 ? `; ${job.pending.count} snapshot(s) pending sync` : '';
  const drill = job.drillFailed
    ? `; last restore drill failed${job.drill?.detail ? `: ${job.drill.detail}` : ''}`
    : '';
  return `${word}: ${job.id}: ${success}${attempt}${stale}${pending}${drill}`;
}

/** The plugin answer for a derived status: exit code and lines (the summary first). */
export function checkReport(status: DerivedStatus): { code: number; lines: string[] } {
  const { failing, stale, drillsFailed, jobs } = status.summary;
  if (jobs === 0) return { code: CheckCode.unknown, lines: ['SNAPKEEP UNKNOWN - no jobs configured'] };
  const code =
    failing > 0 ? CheckCode.critical : stale > 0 || drillsFailed > 0 ? CheckCode.warning : CheckCode.ok;
  const words =
    code === CheckCode.ok
      ? [`${jobs} job(s) ok`]
      : [
          ...(failing ? [`${failing} failing`] : []),
          ...(stale ? [`${stale} stale`] : []),
          ...(drillsFailed ? [`${drillsFailed} failed drill(s)`] : []),
        ];
  // A job that never succeeded has no age: "U" is the plugin guidelines' undetermined value.
  const ages = status.jobs.map((job) => job.ageHours);
  const oldest = ages.some((age) => age === undefined)
    ? 'U'
    : `${Math.round(Math.max(0, ...ages.map((age) => age ?? 0)) * 3600)}s`;
  const perf = `jobs=${jobs} failing=${failing} stale=${stale} drills_failed=${drillsFailed} oldest_success_age=${oldest}`;
  const now = Date.parse(status.now);
  return {
    code,
    lines: [
      `SNAPKEEP ${label[code]} - ${words.join(', ')} | ${perf}`,
      ...jobsBySeverity(status).map((job) => jobLine(job, now)),
    ],
  };
}

export async function runCheck(options: CheckOptions): Promise<number> {
  let report: { code: number; lines: string[] };
  try {
    const maxAge = options.maxAge === undefined ? undefined : parseMaxAge(options.maxAge);
    const { resolved } = await loadResolvedConfig(options.config);
    const all = jobsOfConfig(resolved);
    const unknown = options.jobs.filter((argument) => !all.some((spec) => selects(argument, spec)));
    if (unknown.length > 0)
      throw new Error(
        `no job ${unknown.map((name) => `"${name}"`).join(', ')} in the config (a subvolume, a backup set, or subvolume/target)`,
      );
    const jobs =
      options.jobs.length === 0
        ? all
        : all.filter((spec) => options.jobs.some((argument) => selects(argument, spec)));
    const now = options.now ?? new Date();
    // --max-age: that many hours after each job's last success; else the schedules' rule.
    const stale =
      maxAge === undefined ? scheduleStaleHours(resolved.schedules, now) : { hours: () => maxAge };
    const status = await readStatus(resolved.stateDir, {
      jobs,
      now,
      staleHours: stale.hours,
      ...('deadline' in stale ? { staleDeadline: stale.deadline } : {}),
      primaryOf: (set) => resolved.backupSets.find((candidate) => candidate.name === set)?.repository.name,
    });
    report = checkReport(status);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    report = { code: CheckCode.unknown, lines: [`SNAPKEEP UNKNOWN - ${message}`] };
  }
  process.stdout.write(`${report.lines.join('\n')}\n`);
  return report.code;
}
