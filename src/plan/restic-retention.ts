// Retention of backup-set runs (pure): which runs of a set a repository keeps, with restic's
// `forget` semantics, decided on whole runs rather than on each snapshot alone (restic groups by
// host and paths, so on its own it could keep the database of one run and the files of another).
// Incomplete runs (a failed item) are never restore points: deleted once a complete run is newer.
import type { ResticRetentionConfig } from '../config/restic-schema.js';

export interface RunEntry {
  readonly run: string;
  /** When the run finished (its newest item). */
  readonly time: Date;
  readonly complete: boolean;
  readonly snapshotIds: readonly string[];
}

export interface RunDecision {
  readonly run: string;
  readonly action: 'keep' | 'delete';
  readonly reason: string;
  readonly snapshotIds: readonly string[];
}

const pad = (value: number): string => String(value).padStart(2, '0');

/** ISO week (restic buckets weeks by ISO year and week). */
function isoWeek(date: Date): string {
  const day = new Date(date.getFullYear(), date.getMonth(), date.getDate());
  const weekday = (day.getDay() + 6) % 7; // Monday 0
  day.setDate(day.getDate() - weekday + 3); // the Thursday of this week
  const firstThursday = new Date(day.getFullYear(), 0, 4);
  const week =
    1 +
    Math.round(
      (day.getTime() - firstThursday.getTime()) / 86_400_000 / 7 -
        (((firstThursday.getDay() + 6) % 7) - 3) / 7,
    );
  return `${day.getFullYear()}-W${pad(week)}`;
}

const buckets: Record<'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', (date: Date) => string> = {
  hourly: (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}h`,
  daily: (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
  weekly: isoWeek,
  monthly: (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`,
  yearly: (d) => String(d.getFullYear()),
};

/** `30d`, `1y6m`, `12h` → the instant that far before `from` (calendar units, like restic). */
export function subtractDuration(from: Date, duration: string): Date {
  const result = new Date(from);
  for (const [, count, unit] of duration.matchAll(/(\d+)([yYmwdh])/g)) {
    const n = Number(count);
    if (unit === 'y' || unit === 'Y') result.setFullYear(result.getFullYear() - n);
    else if (unit === 'm') result.setMonth(result.getMonth() - n);
    else if (unit === 'w') result.setDate(result.getDate() - 7 * n);
    else if (unit === 'd') result.setDate(result.getDate() - n);
    else result.setHours(result.getHours() - n);
  }
  return result;
}

export function hasRetention(policy: ResticRetentionConfig | undefined): policy is ResticRetentionConfig {
  return policy !== undefined && Object.values(policy).some((value) => value !== undefined);
}

export function decideRuns(runs: readonly RunEntry[], policy: ResticRetentionConfig): RunDecision[] {
  const complete = runs.filter((run) => run.complete).sort((a, b) => b.time.getTime() - a.time.getTime());
  const reasons = new Map<string, string[]>();
  const keep = (run: RunEntry, reason: string): void => {
    reasons.set(run.run, [...(reasons.get(run.run) ?? []), reason]);
  };
  complete.slice(0, policy.keep_last ?? 0).forEach((run, index) => {
    keep(run, `keep_last ${policy.keep_last ?? 0} (#${index + 1})`);
  });
  for (const [name, bucketOf] of Object.entries(buckets) as [
    keyof typeof buckets,
    (date: Date) => string,
  ][]) {
    const limit = policy[`keep_${name}`];
    if (!limit) continue;
    const seen = new Set<string>();
    for (const run of complete) {
      const bucket = bucketOf(run.time);
      if (seen.has(bucket)) continue;
      if (seen.size >= limit) break;
      seen.add(bucket);
      keep(run, `keep_${name} ${limit} (newest of ${bucket})`);
    }
  }
  const newest = complete[0]?.time;
  if (newest) {
    if (policy.keep_within) {
      const since = subtractDuration(newest, policy.keep_within);
      for (const run of complete) if (run.time >= since) keep(run, `keep_within ${policy.keep_within}`);
    }
    for (const [key, bucketOf] of [
      ['keep_within_daily', buckets.daily],
      ['keep_within_weekly', buckets.weekly],
      ['keep_within_monthly', buckets.monthly],
    ] as const) {
      const span = policy[key];
      if (!span) continue;
      const since = subtractDuration(newest, span);
      const seen = new Set<string>();
      for (const run of complete) {
        if (run.time < since) break;
        const bucket = bucketOf(run.time);
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        keep(run, `${key} ${span} (newest of ${bucket})`);
      }
    }
  }
  // The newest complete run is always kept: it is the restore point everything else relies on.
  if (complete[0] && !reasons.has(complete[0].run))
    keep(complete[0], 'the newest complete run is always kept');
  return [...runs]
    .sort((a, b) => b.time.getTime() - a.time.getTime())
    .map((run): RunDecision => {
      if (!run.complete) {
        const newer = newest !== undefined && run.time < newest;
        return {
          run: run.run,
          action: newer ? 'delete' : 'keep',
          reason: newer
            ? 'incomplete run (an item failed), older than the newest complete run'
            : 'incomplete run newer than every complete run (kept until a complete one follows)',
          snapshotIds: run.snapshotIds,
        };
      }
      const why = reasons.get(run.run);
      return why
        ? { run: run.run, action: 'keep', reason: why.join('; '), snapshotIds: run.snapshotIds }
        : { run: run.run, action: 'delete', reason: 'no keep rule matched', snapshotIds: run.snapshotIds };
    });
}
