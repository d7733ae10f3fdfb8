// The Prometheus view of the derived status (src/state/derive-status.ts): every value here is a
// field `status` shows, converted to base units, so the metrics cannot say something `status`
// and `check` do not. prom-client renders the exposition format; its own registry keeps Node's
// process metrics out (they would describe a process that has exited by the time of a scrape).
//
// Conventions (prometheus.io "Metric and label naming"): `snapkeep_` prefix, seconds and bytes,
// unix times as `*_timestamp_seconds`, `_total` only on the counter, and labels that stay few —
// config names only (`kind`, `source`, `destination`, `target`, `command`, `outcome`, …), never
// a message, a path or a URL, which could carry a secret. An outcome is one series per possible
// value, 1 for the current one (the enum pattern of kube-state-metrics), so an alert can match
// `outcome="failed"`. A value status does not have (a job that never succeeded has no last
// success) is no sample rather than a made-up 0.
import { Counter, Gauge, Registry } from 'prom-client';
import type { DerivedStatus, JobSpec, JobStatus, Outcome } from '../state/derive-status.js';
import type { TransferRecord } from '../state/transfer-state.js';

/** Every outcome a job's last attempt can have, and `never` (no attempt recorded). */
export const jobOutcomes: readonly (Outcome | 'never')[] = [
  'ok',
  'failed',
  'partial',
  'interrupted',
  'killed',
  'running',
  'never',
];

const job = ['kind', 'source', 'destination'] as const;

interface FamilySpec {
  readonly name: string;
  readonly help: string;
  readonly labels: readonly string[];
  readonly type?: 'counter';
}

/** Every metric family, in the order they are written (README "Metrics" lists each). */
export const metricFamilies = {
  buildInfo: {
    name: 'snapkeep_build_info',
    help: 'The snapkeep that wrote these metrics (always 1).',
    labels: ['version'],
  },
  statusTime: {
    name: 'snapkeep_status_timestamp_seconds',
    help: 'When the status these metrics show was derived from the journal.',
    labels: [],
  },
  runs: {
    name: 'snapkeep_runs_total',
    help: 'Runs recorded in the journal (compacted ones included).',
    labels: [],
    type: 'counter',
  },
  runEnd: {
    name: 'snapkeep_run_last_end_timestamp_seconds',
    help: 'When the newest run of each command ended.',
    labels: ['command'],
  },
  runDuration: {
    name: 'snapkeep_run_last_duration_seconds',
    help: 'How long the newest run of each command took (as its run-end records it).',
    labels: ['command'],
  },
  runExit: {
    name: 'snapkeep_run_last_exit_code',
    help: 'Exit code of the newest run of each command.',
    labels: ['command'],
  },
  lastSuccess: {
    name: 'snapkeep_job_last_success_timestamp_seconds',
    help: 'When the job last succeeded (no sample: it never did; see snapkeep_job_stale).',
    labels: job,
  },
  lastAttempt: {
    name: 'snapkeep_job_last_attempt_timestamp_seconds',
    help: 'When the job was last attempted, however it ended.',
    labels: job,
  },
  lastOutcome: {
    name: 'snapkeep_job_last_outcome',
    help: 'How the last attempt ended: 1 for its outcome, 0 for the others (never: no attempt recorded).',
    labels: [...job, 'outcome'],
  },
  failing: {
    name: 'snapkeep_job_failing',
    help: 'Whether the last attempt failed, was partial, interrupted or killed (snapkeep status FAIL).',
    labels: job,
  },
  stale: {
    name: 'snapkeep_job_stale',
    help: 'Whether the job has no success within its threshold, or never had one (snapkeep status STALE).',
    labels: job,
  },
  staleThreshold: {
    name: 'snapkeep_job_stale_threshold_seconds',
    help: "After this long without a success the job is stale (its schedule's interval plus slack, or 26 h).",
    labels: job,
  },
  pending: {
    name: 'snapkeep_job_pending_snapshots',
    help: 'Snapshots taken since the last success that are not yet on the target (btrfs).',
    labels: job,
  },
  sendBytes: {
    name: 'snapkeep_job_last_send_bytes',
    help: 'Length of the newest full and the newest incremental send stream to the target (btrfs).',
    labels: [...job, 'stream'],
  },
  successDuration: {
    name: 'snapkeep_job_last_success_duration_seconds',
    help: "How long the job's last success took (btrfs: its send and receive; restic: its items, or the offsite copy).",
    labels: job,
  },
  addedBytes: {
    name: 'snapkeep_job_last_success_added_bytes',
    help: "Data the job's last success added to the repository, as restic counts it (restic).",
    labels: job,
  },
  repositorySnapshots: {
    name: 'snapkeep_job_repository_snapshots',
    help: "The set's snapshots in the repository: the newest listing (prune, offsite copy) plus those made since (restic; no sample before a listing).",
    labels: job,
  },
  targetSnapshots: {
    name: 'snapkeep_job_target_snapshots',
    help: "The subvolume's copies on the target, counted at the end of the newest run (local btrfs targets).",
    labels: job,
  },
  drillTime: {
    name: 'snapkeep_job_last_drill_timestamp_seconds',
    help: 'When the last restore drill of the job ran.',
    labels: job,
  },
  drillSuccess: {
    name: 'snapkeep_job_last_drill_success',
    help: 'Whether the last restore drill restored and compared equal (1) or not (0).',
    labels: job,
  },
  verifyTime: {
    name: 'snapkeep_job_last_verify_timestamp_seconds',
    help: "When the job's repository was last checked (restic check).",
    labels: job,
  },
  verifySuccess: {
    name: 'snapkeep_job_last_verify_success',
    help: "Whether the last check of the job's repository passed (1) or not (0).",
    labels: job,
  },
  targetSize: {
    name: 'snapkeep_target_size_bytes',
    help: "Size of the target's filesystem at the newest measurement (local btrfs targets).",
    labels: ['target'],
  },
  targetUsed: {
    name: 'snapkeep_target_used_bytes',
    help: "Used space of the target's filesystem.",
    labels: ['target'],
  },
  targetFree: {
    name: 'snapkeep_target_free_bytes',
    help: "Space of the target's filesystem still available to snapkeep.",
    labels: ['target'],
  },
  targetMeasured: {
    name: 'snapkeep_target_measured_timestamp_seconds',
    help: "When the target's space was last measured (at the end of a run).",
    labels: ['target'],
  },
  targetGrowth: {
    name: 'snapkeep_target_used_growth_bytes_per_second',
    help: 'Growth of used space over the recorded measurements (least squares; negative: shrinking).',
    labels: ['target'],
  },
  targetFull: {
    name: 'snapkeep_target_full_forecast_timestamp_seconds',
    help: 'When the target is full at that growth (no sample: not growing, or too few measurements).',
    labels: ['target'],
  },
} as const satisfies Record<string, FamilySpec>;

type FamilyKey = keyof typeof metricFamilies;

export interface MetricsInput {
  readonly status: DerivedStatus;
  /** The transfer state status was derived with (status --json prints it as `target-status`). */
  readonly transfer: (subvolume: string, target: string) => TransferRecord;
  readonly version: string;
}

export const seconds = (iso: string): number => Date.parse(iso) / 1000;

function jobLabels(spec: JobSpec): Record<(typeof job)[number], string> {
  if (spec.kind === 'btrfs') return { kind: 'btrfs', source: spec.subvolume, destination: spec.target };
  // Snapshot-only subvolumes: their snapshots are the destination.
  if (spec.kind === 'snapshot') return { kind: 'snapshot', source: spec.subvolume, destination: 'snapshots' };
  return { kind: 'restic', source: spec.set, destination: spec.repository };
}

/** The registry holding the status's metrics (render with `await registry.metrics()`). */
export function statusRegistry(input: MetricsInput): Registry {
  const metrics = new Map<FamilyKey, Gauge | Counter>();
  /** A sample; the family is created (and later registered) with its first one. */
  const sample = (key: FamilyKey, labels: Readonly<Record<string, string>>, value: number): void => {
    const spec: FamilySpec = metricFamilies[key];
    let metric = metrics.get(key);
    if (!metric) {
      const options = { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [] };
      metric = spec.type === 'counter' ? new Counter(options) : new Gauge(options);
      metrics.set(key, metric);
    }
    if (metric instanceof Counter) metric.inc(labels, value);
    else metric.set(labels, value);
  };

  const { status } = input;
  sample('buildInfo', { version: input.version }, 1);
  sample('statusTime', {}, seconds(status.now));
  sample('runs', {}, status.runCount);
  for (const [command, run] of Object.entries(status.lastRuns)) {
    if (run.endedAt !== undefined) sample('runEnd', { command }, seconds(run.endedAt));
    const durationMs = run.end?.durationMs;
    if (typeof durationMs === 'number') sample('runDuration', { command }, durationMs / 1000);
    if (run.exitCode !== undefined) sample('runExit', { command }, run.exitCode);
  }
  const copiesOf = new Map(status.space.map((space) => [space.target, space.copies ?? {}]));
  const jobSamples = (status: JobStatus): void => {
    const labels = jobLabels(status.spec);
    if (status.lastSuccess) sample('lastSuccess', labels, seconds(status.lastSuccess.time));
    if (status.lastAttempt) sample('lastAttempt', labels, seconds(status.lastAttempt.time));
    const outcome = status.lastAttempt?.outcome ?? 'never';
    for (const each of jobOutcomes)
      sample('lastOutcome', { ...labels, outcome: each }, each === outcome ? 1 : 0);
    sample('failing', labels, status.failing ? 1 : 0);
    sample('stale', labels, status.stale ? 1 : 0);
    sample('staleThreshold', labels, status.staleHours * 3600);
    if (status.pending) sample('pending', labels, status.pending.count);
    if (status.spec.kind === 'btrfs') {
      const record = input.transfer(status.spec.subvolume, status.spec.target);
      if (record.lastFullBytes !== undefined)
        sample('sendBytes', { ...labels, stream: 'full' }, record.lastFullBytes);
      if (record.lastIncrementalBytes !== undefined)
        sample('sendBytes', { ...labels, stream: 'incremental' }, record.lastIncrementalBytes);
      const copies = copiesOf.get(status.spec.target)?.[status.spec.subvolume];
      if (copies !== undefined) sample('targetSnapshots', labels, copies);
    }
    if (status.lastWork?.durationMs !== undefined)
      sample('successDuration', labels, status.lastWork.durationMs / 1000);
    if (status.spec.kind === 'restic' && status.lastWork?.bytes !== undefined)
      sample('addedBytes', labels, status.lastWork.bytes);
    if (status.repositorySnapshots) sample('repositorySnapshots', labels, status.repositorySnapshots.count);
    if (status.drill) {
      sample('drillTime', labels, seconds(status.drill.time));
      sample('drillSuccess', labels, status.drill.ok ? 1 : 0);
    }
    if (status.verify) {
      sample('verifyTime', labels, seconds(status.verify.time));
      sample('verifySuccess', labels, status.verify.ok ? 1 : 0);
    }
  };
  for (const each of status.jobs) jobSamples(each);
  for (const space of status.space) {
    const labels = { target: space.target };
    sample('targetSize', labels, space.sizeBytes);
    sample('targetUsed', labels, space.usedBytes);
    sample('targetFree', labels, space.freeBytes);
    sample('targetMeasured', labels, seconds(space.time));
    if (space.bytesPerDay !== undefined) sample('targetGrowth', labels, space.bytesPerDay / 86_400);
    if (space.fullInDays !== undefined)
      sample('targetFull', labels, seconds(space.time) + space.fullInDays * 86_400);
  }

  // Only families with samples, in the declared order (no empty families in the file).
  const registry = new Registry();
  for (const key of Object.keys(metricFamilies) as FamilyKey[]) {
    const metric = metrics.get(key);
    if (metric) registry.registerMetric(metric);
  }
  return registry;
}

/** The exposition text of a status (what `snapkeep metrics` prints and runs write). */
export function renderStatusMetrics(input: MetricsInput): Promise<string> {
  return statusRegistry(input).metrics();
}
