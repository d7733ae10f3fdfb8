// The metrics are the derived status in Prometheus's words: each value is a field of the
// JobStatus / TargetSpace / last runs that `status` prints, in base units; nothing that is not
// a config name becomes a label (messages may hold secrets); no sample carries a timestamp.
import { describe, expect, it } from 'vitest';
import { jobOutcomes, renderStatusMetrics } from '../../../src/metrics/status-metrics.js';
import { textfileDecision } from '../../../src/metrics/textfile-observer.js';
import { deriveStatus, type JobSpec } from '../../../src/state/derive-status.js';
import { parseJournal, type JournalEvent } from '../../../src/state/journal-events.js';
import type { TransferRecord } from '../../../src/state/transfer-state.js';
import { parseExposition, samplesOf, valueOf } from '../../helpers/prometheus.js';

const identity = { pid: 4242, host: 'h', bootId: 'b', processStart: 77 };
const secret = 'hunter2-in-a-url';
const line = (fields: Record<string, unknown>): string => JSON.stringify({ v: 1, ...fields });
const parse = (...lines: string[]): JournalEvent[] => parseJournal(lines.join('\n')).events;
const at = (iso: string): number => Date.parse(iso) / 1000;

const jobs: JobSpec[] = [
  { kind: 'btrfs', subvolume: 'home', target: 'usb' },
  { kind: 'btrfs', subvolume: 'home', target: 'nas' },
  { kind: 'btrfs', subvolume: 'srv', target: 'usb' },
  { kind: 'restic', set: 'app', repository: 'local', primary: true },
  { kind: 'restic', set: 'app', repository: 's3', primary: false },
];

const space = (used: number) => ({
  target: 'usb',
  path: '/mnt/usb',
  sizeBytes: 1000,
  usedBytes: used,
  freeBytes: 1000 - used,
  copies: { home: 3, srv: 0 },
});

// Two runs of `run` a day apart (usb grows 100 bytes a day), home → nas failing on the second,
// srv never sent; one backup whose offsite copy failed with a message holding a secret; a drill.
const journal = parse(
  line({ time: '2026-11-22T00:00:00Z', run: 'r1', event: 'run-start', command: 'run', ...identity }),
  line({
    time: '2026-11-22T00:00:05Z',
    run: 'r1',
    event: 'run-end',
    command: 'run',
    exitCode: 0,
    durationMs: 5000,
    jobs: [{ subvolume: 'home', status: 'ok' }],
    space: [space(400)],
  }),
  line({ time: '2026-11-23T00:00:00Z', run: 'r2', event: 'run-start', command: 'run', ...identity }),
  line({
    time: '2026-11-23T00:00:02Z',
    run: 'r2',
    event: 'step',
    kind: 'create-snapshot',
    subvolume: 'home',
    name: 'home.20261123T0000',
    ok: true,
  }),
  line({
    time: '2026-11-23T00:00:04Z',
    run: 'r2',
    event: 'step',
    kind: 'send',
    subvolume: 'home',
    target: 'usb',
    name: 'home.20261123T0000',
    ok: true,
    bytes: 4096,
  }),
  line({
    time: '2026-11-23T00:00:07Z',
    run: 'r2',
    event: 'run-end',
    command: 'run',
    exitCode: 3,
    durationMs: 7250,
    jobs: [
      { subvolume: 'home', target: 'usb', status: 'ok' },
      { subvolume: 'home', target: 'nas', status: 'unreachable', message: `ssh://u:${secret}@nas` },
      { subvolume: 'srv', target: 'usb', status: 'failed', message: 'No space left on device' },
    ],
    space: [space(500)],
  }),
  line({ time: '2026-11-23T01:00:00Z', run: 'r3', event: 'run-start', command: 'backup', sets: ['app'] }),
  line({
    time: '2026-11-23T01:00:09Z',
    run: 'r3',
    event: 'run-end',
    command: 'backup',
    exitCode: 3,
    durationMs: 9000,
    sets: [{ set: 'app', ok: false, offsite: [{ repository: 's3', ok: false, error: `s3:${secret}` }] }],
  }),
  line({
    time: '2026-11-23T02:00:00Z',
    run: 'r4',
    event: 'drill',
    kind: 'btrfs',
    subvolume: 'home',
    target: 'usb',
    snapshot: 'home.20261123T0000',
    ok: false,
    detail: 'differs: /etc/x',
  }),
  line({ time: '2026-11-23T02:00:00Z', run: 'r4', event: 'verify', repository: 'local', ok: true }),
);
const now = new Date('2026-11-23T12:00:00Z');
const transfers: Record<string, TransferRecord> = {
  'home/usb': { lastFullBytes: 1_048_576, lastIncrementalBytes: 4096 },
};
// Every target was looked at by a run (its copies recorded): the runs that named no target are its.
const status = deriveStatus(journal, () => ({ ownCopies: [] }), { primaryOf: () => 'local' }, now, {
  jobs,
  probe: () => false,
});

async function render() {
  const text = await renderStatusMetrics({
    status,
    transfer: (subvolume, target) => transfers[`${subvolume}/${target}`] ?? {},
    version: '9.8.7',
  });
  return { text, samples: parseExposition(text) };
}

const home = { kind: 'btrfs', source: 'home', destination: 'usb' };
const nas = { kind: 'btrfs', source: 'home', destination: 'nas' };
const srv = { kind: 'btrfs', source: 'srv', destination: 'usb' };
const local = { kind: 'restic', source: 'app', destination: 'local' };
const s3 = { kind: 'restic', source: 'app', destination: 's3' };

describe('metrics of the derived status', () => {
  it('per job: last success and attempt as unix seconds, failing, stale and its threshold, pending', async () => {
    const { samples } = await render();
    const byId = Object.fromEntries(status.jobs.map((job) => [job.id, job]));
    expect(valueOf(samples, 'snapkeep_job_last_success_timestamp_seconds', home)).toBe(
      at(byId['home → usb']!.lastSuccess!.time),
    );
    expect(byId['home → usb']!.lastSuccess!.time).toBe('2026-11-23T00:00:07Z');
    expect(valueOf(samples, 'snapkeep_job_last_attempt_timestamp_seconds', nas)).toBe(
      at('2026-11-23T00:00:07Z'),
    );
    // home → nas succeeded with the first run (no target named: every target).
    expect(valueOf(samples, 'snapkeep_job_last_success_timestamp_seconds', nas)).toBe(
      at('2026-11-22T00:00:05Z'),
    );
    for (const job of status.jobs) {
      const labels =
        job.spec.kind === 'btrfs'
          ? { kind: 'btrfs', source: job.spec.subvolume, destination: job.spec.target }
          : job.spec.kind === 'snapshot'
            ? { kind: 'snapshot', source: job.spec.subvolume, destination: 'snapshots' }
            : { kind: 'restic', source: job.spec.set, destination: job.spec.repository };
      expect(valueOf(samples, 'snapkeep_job_failing', labels), job.id).toBe(job.failing ? 1 : 0);
      expect(valueOf(samples, 'snapkeep_job_stale', labels), job.id).toBe(job.stale ? 1 : 0);
      expect(valueOf(samples, 'snapkeep_job_stale_threshold_seconds', labels)).toBe(job.staleHours * 3600);
      // One series per outcome, 1 for the job's.
      const outcomes = samplesOf(samples, 'snapkeep_job_last_outcome', labels);
      expect(outcomes.map((sample) => sample.labels.outcome)).toEqual(jobOutcomes);
      expect(outcomes.filter((sample) => sample.value === 1).map((sample) => sample.labels.outcome)).toEqual([
        job.lastAttempt?.outcome ?? 'never',
      ]);
    }
    expect(valueOf(samples, 'snapkeep_job_failing', nas)).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_failing', s3)).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...srv, outcome: 'failed' })).toBe(1);
    // srv never succeeded: no last success (not a 0 that reads as 1970), stale.
    expect(samplesOf(samples, 'snapkeep_job_last_success_timestamp_seconds', srv)).toEqual([]);
    expect(valueOf(samples, 'snapkeep_job_stale', srv)).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_stale_threshold_seconds', home)).toBe(26 * 3600);
    // The second run's snapshot reached usb, not nas.
    expect(valueOf(samples, 'snapkeep_job_pending_snapshots', nas)).toBe(byId['home → nas']!.pending!.count);
    expect(byId['home → nas']!.pending!.count).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_pending_snapshots', home)).toBe(0);
    // restic jobs have no pending count.
    expect(samplesOf(samples, 'snapkeep_job_pending_snapshots', local)).toEqual([]);
  });

  it('send stream sizes from the transfer state, copies on the target, drills and checks', async () => {
    const { samples } = await render();
    expect(valueOf(samples, 'snapkeep_job_last_send_bytes', { ...home, stream: 'full' })).toBe(1_048_576);
    expect(valueOf(samples, 'snapkeep_job_last_send_bytes', { ...home, stream: 'incremental' })).toBe(4096);
    expect(samplesOf(samples, 'snapkeep_job_last_send_bytes', srv)).toEqual([]);
    expect(valueOf(samples, 'snapkeep_job_target_snapshots', home)).toBe(3);
    expect(valueOf(samples, 'snapkeep_job_target_snapshots', srv)).toBe(0);
    expect(samplesOf(samples, 'snapkeep_job_target_snapshots', nas)).toEqual([]); // never measured
    expect(valueOf(samples, 'snapkeep_job_last_drill_success', home)).toBe(0);
    expect(valueOf(samples, 'snapkeep_job_last_drill_timestamp_seconds', home)).toBe(
      at('2026-11-23T02:00:00Z'),
    );
    expect(samplesOf(samples, 'snapkeep_job_last_drill_success', nas)).toEqual([]);
    expect(valueOf(samples, 'snapkeep_job_last_verify_success', local)).toBe(1);
  });

  it('target space and its forecast; the newest run of each command; build info; runs', async () => {
    const { samples } = await render();
    const usb = status.space.find((entry) => entry.target === 'usb')!;
    expect(valueOf(samples, 'snapkeep_target_size_bytes', { target: 'usb' })).toBe(1000);
    expect(valueOf(samples, 'snapkeep_target_used_bytes', { target: 'usb' })).toBe(500);
    expect(valueOf(samples, 'snapkeep_target_free_bytes', { target: 'usb' })).toBe(500);
    expect(valueOf(samples, 'snapkeep_target_measured_timestamp_seconds', { target: 'usb' })).toBe(
      at('2026-11-23T00:00:07Z'),
    );
    expect(valueOf(samples, 'snapkeep_target_used_growth_bytes_per_second', { target: 'usb' })).toBeCloseTo(
      usb.bytesPerDay! / 86_400,
    );
    // 500 free at ~100 a day: full about 5 days after the measurement.
    expect(usb.fullInDays).toBeCloseTo(5, 2);
    expect(
      valueOf(samples, 'snapkeep_target_full_forecast_timestamp_seconds', { target: 'usb' }),
    ).toBeCloseTo(at(usb.time) + usb.fullInDays! * 86_400);
    expect(valueOf(samples, 'snapkeep_run_last_duration_seconds', { command: 'run' })).toBe(7.25);
    expect(valueOf(samples, 'snapkeep_run_last_exit_code', { command: 'backup' })).toBe(3);
    expect(valueOf(samples, 'snapkeep_run_last_end_timestamp_seconds', { command: 'backup' })).toBe(
      at('2026-11-23T01:00:09Z'),
    );
    expect(valueOf(samples, 'snapkeep_build_info', { version: '9.8.7' })).toBe(1);
    expect(valueOf(samples, 'snapkeep_status_timestamp_seconds')).toBe(now.getTime() / 1000);
    expect(valueOf(samples, 'snapkeep_runs_total')).toBe(status.runCount);
  });

  it('no timestamps, no process metrics, labels only from names, no message or secret anywhere', async () => {
    const { text, samples } = await render();
    expect(samples.length).toBeGreaterThan(40);
    expect(samples.filter((sample) => sample.timestamped)).toEqual([]);
    expect(samples.every((sample) => sample.name.startsWith('snapkeep_'))).toBe(true);
    const labelNames = new Set(samples.flatMap((sample) => Object.keys(sample.labels)));
    expect([...labelNames].sort()).toEqual(
      ['command', 'destination', 'kind', 'outcome', 'source', 'stream', 'target', 'version'].sort(),
    );
    expect(text).not.toContain(secret);
    expect(text).not.toContain('No space left');
    expect(text).not.toContain('differs');
    // Counters, and only counters, end in _total.
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      expect(name!.endsWith('_total'), name).toBe(type === 'counter');
  });

  it('an empty journal: every job never attempted and stale, no timestamps made up', async () => {
    const empty = deriveStatus([], () => ({}), {}, now, { jobs, probe: () => false });
    const samples = parseExposition(
      await renderStatusMetrics({ status: empty, transfer: () => ({}), version: '1.0.0' }),
    );
    expect(samplesOf(samples, 'snapkeep_job_last_success_timestamp_seconds')).toEqual([]);
    expect(samplesOf(samples, 'snapkeep_job_last_attempt_timestamp_seconds')).toEqual([]);
    expect(samplesOf(samples, 'snapkeep_run_last_end_timestamp_seconds')).toEqual([]);
    expect(samplesOf(samples, 'snapkeep_job_stale').map((sample) => sample.value)).toEqual([1, 1, 1, 1, 1]);
    expect(samplesOf(samples, 'snapkeep_job_last_outcome', { outcome: 'never' }).map((s) => s.value)).toEqual(
      [1, 1, 1, 1, 1],
    );
  });
});

describe('which runs write the textfile', () => {
  const configured = { textfileDir: '/var/lib/prometheus/node-exporter', textfileRuns: 'scheduled' } as const;
  const run = { stateDir: '/var/lib/snapkeep' };

  it('scheduled runs by default; every run with textfile_runs: all; none without a directory', () => {
    expect(textfileDecision(configured, run, { stateDir: run.stateDir, scheduledJob: 'nightly' })).toEqual({
      write: true,
      directory: '/var/lib/prometheus/node-exporter',
    });
    expect(textfileDecision(configured, run, { stateDir: run.stateDir })).toMatchObject({ write: false });
    expect(
      textfileDecision({ ...configured, textfileRuns: 'all' }, run, { stateDir: run.stateDir }),
    ).toMatchObject({ write: true });
    expect(
      textfileDecision({ textfileRuns: 'all' }, run, { stateDir: run.stateDir, scheduledJob: 'nightly' }),
    ).toMatchObject({ write: false, reason: 'metrics.textfile_dir is not set' });
  });

  it('never for a run of another state directory (a sandbox must not overwrite the real metrics)', () => {
    expect(
      textfileDecision(
        { ...configured, textfileRuns: 'all' },
        { stateDir: '/tmp/sandbox' },
        {
          stateDir: run.stateDir,
          scheduledJob: 'nightly',
        },
      ),
    ).toMatchObject({ write: false });
  });
});

describe('per-job work and repository snapshot counts', () => {
  const backup = (run: string, time: string, snapshotPrefix: string) => [
    line({ time, run, event: 'run-start', command: 'backup', sets: ['app'], ...identity }),
    line({
      time,
      run,
      event: 'item',
      set: 'app',
      what: 'db',
      ok: true,
      durationMs: 1000,
      item: { snapshotId: `${snapshotPrefix}1`, dataAdded: 100 },
    }),
    line({
      time,
      run,
      event: 'item',
      set: 'app',
      what: 'uploads',
      ok: true,
      durationMs: 2500,
      item: { snapshotId: `${snapshotPrefix}2`, dataAdded: 50 },
    }),
    line({
      time,
      run,
      event: 'run-end',
      command: 'backup',
      exitCode: 0,
      sets: [
        { set: 'app', ok: true, offsite: [{ repository: 's3', ok: true, durationMs: 800, snapshots: 6 }] },
      ],
    }),
  ];
  const statusOf = (events: JournalEvent[]) =>
    deriveStatus(events, () => ({ ownCopies: [] }), { primaryOf: () => 'local' }, now, {
      jobs,
      probe: () => false,
    });
  const samplesFor = async (events: JournalEvent[]) =>
    parseExposition(
      await renderStatusMetrics({ status: statusOf(events), transfer: () => ({}), version: '1' }),
    );

  /** A prune's listing of app's own repository: 4 snapshots. */
  const listing = line({
    time: '2026-11-23T00:00:01Z',
    run: 'p',
    event: 'restic-snapshots',
    set: 'app',
    repository: 'local',
    primary: true,
    count: 4,
  });

  it("durations and restic's data added of the last success; counts from a listing plus snapshots made since", async () => {
    const listed = [
      line({ time: '2026-11-23T00:00:00Z', run: 'p', event: 'run-start', command: 'prune', ...identity }),
      listing,
      line({ time: '2026-11-23T00:00:02Z', run: 'p', event: 'run-end', command: 'prune', exitCode: 0 }),
    ];
    const send = [
      line({ time: '2026-11-23T03:00:00Z', run: 'r', event: 'run-start', command: 'run', ...identity }),
      line({
        time: '2026-11-23T03:00:02Z',
        run: 'r',
        event: 'step',
        kind: 'send',
        subvolume: 'home',
        target: 'usb',
        name: 'home.20261123T0300',
        ok: true,
        durationMs: 1500,
        bytes: 4096,
      }),
      line({ time: '2026-11-23T03:00:03Z', run: 'r', event: 'run-end', command: 'run', exitCode: 0 }),
    ];
    const samples = await samplesFor(parse(...listed, ...backup('b', '2026-11-23T01:00:00Z', 'a'), ...send));
    expect(valueOf(samples, 'snapkeep_job_last_success_duration_seconds', local)).toBe(3.5);
    expect(valueOf(samples, 'snapkeep_job_last_success_duration_seconds', s3)).toBe(0.8);
    expect(valueOf(samples, 'snapkeep_job_last_success_duration_seconds', home)).toBe(1.5);
    expect(valueOf(samples, 'snapkeep_job_last_success_added_bytes', local)).toBe(150);
    expect(samplesOf(samples, 'snapkeep_job_last_success_added_bytes', home)).toEqual([]);
    // 4 listed by prune, then the backup's two; the offsite count is the copy's own listing.
    expect(valueOf(samples, 'snapkeep_job_repository_snapshots', local)).toBe(6);
    expect(valueOf(samples, 'snapkeep_job_repository_snapshots', s3)).toBe(6);
  });

  it('a backup killed after its first item: that snapshot is counted (it exists)', async () => {
    const killed = backup('k', '2026-11-23T01:00:00Z', 'k').slice(0, 2); // start and one item, no end
    const samples = await samplesFor(parse(listing, ...killed));
    expect(valueOf(samples, 'snapkeep_job_repository_snapshots', local)).toBe(5);
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...local, outcome: 'killed' })).toBe(1);
  });

  it('no count for a repository never listed (the backup alone does not know the total)', async () => {
    const samples = await samplesFor(parse(...backup('b', '2026-11-23T01:00:00Z', 'a')));
    expect(samplesOf(samples, 'snapkeep_job_repository_snapshots', local)).toEqual([]);
    expect(valueOf(samples, 'snapkeep_job_repository_snapshots', s3)).toBe(6);
  });
});
