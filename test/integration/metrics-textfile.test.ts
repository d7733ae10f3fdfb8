// Prometheus metrics with the real components: scheduled-style runs (SNAPKEEP_JOB set) on real
// btrfs and restic write the textfile, a real prometheus-node-exporter serves it with
// `node_textfile_scrape_error 0`, `promtool check metrics` finds no problem, and the values are
// the ground truth — the journal's times and durations, `btrfs send | wc -c` of the snapshots
// sent, the listing of the target and of the snapshot directory. No secret in any sample.
import { open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSnapshot } from '../../src/btrfs/btrfs-commands.js';
import { localSendFeatures } from '../../src/btrfs/send-features.js';
import { runChecked, runCommand, type CommandResult } from '../../src/exec/command.js';
import { cliPath, events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { diskWorld, type DiskWorld } from '../helpers/disk-world.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { snapshotsIn, writeRandomData } from '../helpers/btrfs-tree.js';
import { freePort } from '../helpers/net.js';
import {
  parseExposition,
  samplesOf,
  startNodeExporter,
  valueOf,
  type Sample,
} from '../helpers/prometheus.js';

const cleanups = useCleanups(afterAll);
const secrets = {
  password: 'metrics-repo-password-7f3a',
  keyId: 'AKIAMETRICSKEYID0001',
  secretKey: 'metrics-secret-access-key-9c1e',
};
const secretEnv = {
  MX_RESTIC_PASSWORD: secrets.password,
  MX_KEY_ID: secrets.keyId,
  MX_SECRET_KEY: secrets.secretKey,
};

let world: DiskWorld;
let textfileDir: string;
let textfile: string;
let snapshotDir: string;
let configPath: string;
let config = '';

const data = { kind: 'btrfs', source: 'data', destination: 'disk' };
const gone = { kind: 'btrfs', source: 'data', destination: 'gone' };
const offsite = { kind: 'restic', source: 'app', destination: 'offsite' };
const docs = { kind: 'restic', source: 'docs', destination: 'local' };

interface JournalLine {
  readonly time: string;
  readonly run: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

async function journal(): Promise<JournalLine[]> {
  return (await readFile(join(world.stateDir, 'journal.ndjson'), 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as JournalLine);
}

/** `snapkeep ARGS` as a schedule starts it (SNAPKEEP_JOB), with the secrets in its environment. */
const scheduled = (job: string, args: readonly string[], path = configPath): Promise<CommandResult> =>
  snapkeep([...args, '--config', path], { env: { ...secretEnv, SNAPKEEP_JOB: job } });
const byHand = (args: readonly string[], path = configPath): Promise<CommandResult> =>
  snapkeep([...args, '--config', path], { env: secretEnv });

/** `btrfs send [-p parent] snapshot | wc -c` with the options snapkeep's local sends use. */
async function streamLength(snapshot: string, parent?: string): Promise<number> {
  const send = sendSnapshot(snapshot, parent, undefined, await localSendFeatures());
  const counted = await runChecked({
    file: 'sh',
    args: ['-c', '"$@" | wc -c', 'sh', send.file, ...send.args],
  });
  return Number(counted.stdout.trim());
}

const withoutStatusTime = (text: string): string =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('snapkeep_status_timestamp_seconds '))
    .join('\n');

const sortedSamples = (samples: readonly Sample[]): string[] =>
  samples
    .filter((sample) => sample.name.startsWith('snapkeep_'))
    .map((sample) => `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())} ${sample.value}`)
    .sort();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'restic', 'promtool', 'prometheus-node-exporter']);
  world = await diskWorld(cleanups, 'mx', 256);
  snapshotDir = join(world.source.mountPoint, 'snapshots');
  textfileDir = join(world.base, 'textfile');
  textfile = join(textfileDir, 'snapkeep.prom');
  await runChecked({ file: 'mkdir', args: ['-p', textfileDir, join(world.base, 'files')] });
  await writeRandomData(world.data, 4);
  await writeRandomData(join(world.base, 'files'), 1);
  // Nothing listens there: the offsite copy fails at once (probe refused).
  const closed = await freePort();
  config = `state_dir: ${world.stateDir}
targets:
  disk: { path: ${world.targetDir} }
  gone: { path: ${join(world.base, 'not-mounted', 'backups')} }
subvolumes:
  data:
    path: ${world.data}
    snapshot_dir: ${snapshotDir}
    targets: [disk, gone]
repositories:
  local:
    url: ${join(world.base, 'repo')}
    password: env:MX_RESTIC_PASSWORD
  offsite:
    url: s3:https://127.0.0.1:${closed}/bucket/app
    password: env:MX_RESTIC_PASSWORD
    env: { AWS_ACCESS_KEY_ID: env:MX_KEY_ID, AWS_SECRET_ACCESS_KEY: env:MX_SECRET_KEY }
sources:
  files: { type: directory, paths: [${join(world.base, 'files')}] }
backup_sets:
  app: { sources: [files], repository: local, offsite: [offsite] }
  docs: { sources: [files], repository: local }
schedules:
  nightly: { command: run, when: daily }
  nightly-backup: { command: backup, when: daily }
`;
  configPath = join(world.base, 'metrics.yaml');
  await writeFile(configPath, `${config}metrics:\n  textfile_dir: ${textfileDir}\n`);
});

describe('the metrics textfile of scheduled runs', () => {
  let runExit: number | null = null;

  it('node_exporter serves it without a scrape error, with the journal’s times, the streams’ lengths and the real listings', async () => {
    const first = await scheduled('nightly', ['run']);
    runExit = first.exitCode;
    // The `gone` target is not there: that job fails, the run says so in its exit code.
    expect(first.exitCode, first.stderr).not.toBe(0);
    await writeRandomData(world.data, 1, 'more');
    const second = await scheduled('nightly', ['run']);
    expect(second.exitCode).toBe(first.exitCode);
    const backup = await scheduled('nightly-backup', ['backup']);
    expect(backup.exitCode, backup.stderr).not.toBe(0); // the offsite copy failed

    const exporter = await startNodeExporter(cleanups, textfileDir);
    const scraped = parseExposition(await exporter.scrape());
    expect(valueOf(scraped, 'node_textfile_scrape_error')).toBe(0);
    expect(samplesOf(scraped, 'node_textfile_mtime_seconds').map((sample) => sample.labels.file)).toEqual([
      textfile,
    ]);
    const written = await readFile(textfile, 'utf8');
    const samples = parseExposition(written);
    // node_exporter serves exactly what the run wrote.
    expect(sortedSamples(scraped)).toEqual(sortedSamples(samples));
    expect(samples.filter((sample) => sample.timestamped)).toEqual([]);

    const lines = await journal();
    const ends = lines.filter((line) => line.event === 'run-end');
    const lastRun = ends.filter((line) => line.command === 'run').at(-1)!;
    const lastBackup = ends.filter((line) => line.command === 'backup').at(-1)!;
    const seconds = (iso: string): number => Date.parse(iso) / 1000;
    // The newest run's end is when data → disk last succeeded and both of its jobs were attempted.
    expect(valueOf(samples, 'snapkeep_job_last_success_timestamp_seconds', data)).toBe(seconds(lastRun.time));
    expect(valueOf(samples, 'snapkeep_job_last_attempt_timestamp_seconds', gone)).toBe(seconds(lastRun.time));
    expect(samplesOf(samples, 'snapkeep_job_last_success_timestamp_seconds', gone)).toEqual([]);
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...gone, outcome: 'failed' })).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...data, outcome: 'ok' })).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_failing', gone)).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_failing', data)).toBe(0);
    expect(valueOf(samples, 'snapkeep_job_stale', gone)).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_stale', data)).toBe(0);
    // A daily schedule: stale at its first elapse after the last success plus its 5 min random
    // delay and 2 h of slack, so the threshold lies between those and a whole day more.
    const threshold = valueOf(samples, 'snapkeep_job_stale_threshold_seconds', data);
    expect(threshold).toBeGreaterThan(300 + 7200);
    expect(threshold).toBeLessThanOrEqual(86_400 + 300 + 7200);
    expect(valueOf(samples, 'snapkeep_run_last_duration_seconds', { command: 'run' })).toBe(
      (lastRun.durationMs as number) / 1000,
    );
    expect(valueOf(samples, 'snapkeep_run_last_exit_code', { command: 'run' })).toBe(lastRun.exitCode);
    expect(valueOf(samples, 'snapkeep_run_last_end_timestamp_seconds', { command: 'backup' })).toBe(
      seconds(lastBackup.time),
    );
    expect(valueOf(samples, 'snapkeep_runs_total')).toBe(ends.length);

    // Bytes: the lengths of the streams sent, counted again with `btrfs send | wc -c`.
    const snapshots = await snapshotsIn(snapshotDir);
    expect(snapshots).toHaveLength(2);
    const [older, newer] = snapshots.map((name) => join(snapshotDir, name));
    expect(valueOf(samples, 'snapkeep_job_last_send_bytes', { ...data, stream: 'full' })).toBe(
      await streamLength(older!),
    );
    expect(valueOf(samples, 'snapkeep_job_last_send_bytes', { ...data, stream: 'incremental' })).toBe(
      await streamLength(newer!, older),
    );
    // Counts: the copies on the target, and every snapshot pending for the target that never got one.
    expect(valueOf(samples, 'snapkeep_job_target_snapshots', data)).toBe(
      (await snapshotsIn(world.targetDir)).length,
    );
    expect(valueOf(samples, 'snapkeep_job_pending_snapshots', gone)).toBe(snapshots.length);
    expect(valueOf(samples, 'snapkeep_job_pending_snapshots', data)).toBe(0);
    // Space: the target's filesystem as the run measured it.
    const space = (lastRun.space as { target: string; sizeBytes: number; freeBytes: number }[])[0]!;
    expect(valueOf(samples, 'snapkeep_target_size_bytes', { target: 'disk' })).toBe(space.sizeBytes);
    expect(valueOf(samples, 'snapkeep_target_free_bytes', { target: 'disk' })).toBe(space.freeBytes);

    // restic: docs succeeded into its repository; app's copy offsite failed.
    expect(valueOf(samples, 'snapkeep_job_last_success_timestamp_seconds', docs)).toBe(
      seconds(lastBackup.time),
    );
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...docs, outcome: 'ok' })).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_last_outcome', { ...offsite, outcome: 'failed' })).toBe(1);
    expect(valueOf(samples, 'snapkeep_job_failing', offsite)).toBe(1);
    // Its work: the items' measured durations and restic's own "data added", as journaled.
    const docsItems = lines.filter(
      (line) => line.event === 'item' && line.run === lastBackup.run && line.set === 'docs',
    );
    expect(docsItems.length).toBeGreaterThan(0);
    const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);
    expect(valueOf(samples, 'snapkeep_job_last_success_duration_seconds', docs)).toBeCloseTo(
      sum(docsItems.map((line) => line.durationMs as number)) / 1000,
      9,
    );
    expect(valueOf(samples, 'snapkeep_job_last_success_added_bytes', docs)).toBe(
      sum(docsItems.map((line) => (line.item as { dataAdded: number }).dataAdded)),
    );
    // Before any listing nobody knows the repository's total: no sample rather than a guess.
    expect(samplesOf(samples, 'snapkeep_job_repository_snapshots', docs)).toEqual([]);

    const version = (await snapkeep(['--version'])).stdout.trim();
    expect(valueOf(samples, 'snapkeep_build_info', { version })).toBe(1);
    for (const secret of Object.values(secrets)) {
      expect(written).not.toContain(secret);
      expect(await exporter.scrape()).not.toContain(secret);
    }

    const lint = await runCommand({ file: 'promtool', args: ['check', 'metrics'], input: written });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.exitCode).toBe(0);
  });

  it('`snapkeep metrics` prints the same metrics (one status), which promtool accepts; a bad config is exit 2', async () => {
    const printed = await byHand(['metrics']);
    expectExit(printed, 0);
    expect(withoutStatusTime(printed.stdout)).toBe(withoutStatusTime(await readFile(textfile, 'utf8')));
    const lint = await runCommand({ file: 'promtool', args: ['check', 'metrics'], input: printed.stdout });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.exitCode).toBe(0);
    for (const secret of Object.values(secrets)) expect(printed.stdout).not.toContain(secret);

    // Every job as `status --json` has it: the same outcome, failing, stale and times.
    const samples = parseExposition(printed.stdout);
    const status = await byHand(['status', '--json']);
    const jobs = events(status.stdout).filter((event) => event.type === 'job-status');
    expect(jobs).toHaveLength(5);
    for (const job of jobs) {
      const labels =
        job.kind === 'btrfs'
          ? { kind: 'btrfs', source: job.subvolume as string, destination: job.target as string }
          : { kind: 'restic', source: job.set as string, destination: job.repository as string };
      const time = (field: unknown): number[] =>
        field === null ? [] : [Date.parse((field as { time: string }).time) / 1000];
      expect(
        valueOf(samples, 'snapkeep_job_last_outcome', { ...labels, outcome: job.outcome as string }),
      ).toBe(1);
      expect(valueOf(samples, 'snapkeep_job_failing', labels)).toBe(job.failing ? 1 : 0);
      expect(valueOf(samples, 'snapkeep_job_stale', labels)).toBe(job.stale ? 1 : 0);
      expect(
        samplesOf(samples, 'snapkeep_job_last_success_timestamp_seconds', labels).map((s) => s.value),
      ).toEqual(time(job.lastSuccess));
      expect(
        samplesOf(samples, 'snapkeep_job_last_attempt_timestamp_seconds', labels).map((s) => s.value),
      ).toEqual(time(job.lastAttempt));
    }

    const bad = join(world.base, 'bad.yaml');
    await writeFile(bad, `${config}metrics:\n  textfile_runs: sometimes\n`);
    const refused = await snapkeep(['metrics', '--config', bad]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/bad\.yaml:\d+:\d+: metrics\.textfile_runs: .*"sometimes"/);
  });

  it('`snapkeep metrics --write-textfile` writes the file from anywhere and prints its path; without textfile_dir: exit 2', async () => {
    const elsewhere = join(world.base, 'elsewhere');
    await runChecked({ file: 'mkdir', args: ['-p', elsewhere] });
    const path = join(world.base, 'elsewhere.yaml');
    await writeFile(path, `${config}metrics:\n  textfile_dir: ${elsewhere}\n`);
    const written = await byHand(['metrics', '--write-textfile'], path);
    expectExit(written, 0);
    expect(written.stdout).toBe(`${join(elsewhere, 'snapkeep.prom')}\n`);
    expect(withoutStatusTime(await readFile(join(elsewhere, 'snapkeep.prom'), 'utf8'))).toBe(
      withoutStatusTime(await readFile(textfile, 'utf8')),
    );
    const unset = join(world.base, 'unset.yaml');
    await writeFile(unset, config);
    const refused = await byHand(['metrics', '--write-textfile'], unset);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('metrics.textfile_dir is not set');
  });

  it('is replaced by a rename (a reader of the old file keeps it whole), mode 0644 under the units’ umask 077', async () => {
    const before = await readFile(textfile, 'utf8');
    const old = await open(textfile, 'r');
    try {
      const result = await runCommand({
        file: 'sh',
        args: [
          '-c',
          'umask 077 && exec "$@"',
          'sh',
          process.execPath,
          cliPath,
          'snapshot',
          '--config',
          configPath,
        ],
        env: { ...secretEnv, SNAPKEEP_JOB: 'sleep-snapshot' },
      });
      // `gone` is still not there (exit 10); the snapshot is taken and the metrics written.
      expect(result.exitCode, result.stderr).toBe(runExit);
      const after = await readFile(textfile, 'utf8');
      expect(after).not.toBe(before);
      // The old inode still holds the old text in full: the new file was renamed over it.
      expect((await old.readFile()).toString('utf8')).toBe(before);
      expect((await stat(textfile)).ino).not.toBe((await old.stat()).ino);
    } finally {
      await old.close();
    }
    expect((await stat(textfile)).mode & 0o777).toBe(0o644);
    expect(await readdir(textfileDir)).toEqual(['snapkeep.prom']); // no temporary file left
  });

  it('a run by hand leaves it alone; with textfile_runs: all it rewrites it', async () => {
    const before = await readFile(textfile, 'utf8');
    const runsBefore = valueOf(parseExposition(before), 'snapkeep_runs_total');
    expect((await byHand(['snapshot'])).exitCode).toBe(runExit);
    expect(await readFile(textfile, 'utf8')).toBe(before);

    const every = join(world.base, 'every-run.yaml');
    await writeFile(every, `${config}metrics:\n  textfile_dir: ${textfileDir}\n  textfile_runs: all\n`);
    expect((await byHand(['snapshot'], every)).exitCode).toBe(runExit);
    const after = parseExposition(await readFile(textfile, 'utf8'));
    const ends = (await journal()).filter((line) => line.event === 'run-end');
    expect(valueOf(after, 'snapkeep_runs_total')).toBe(ends.length);
    expect(ends.length).toBe(runsBefore + 2);
  });

  it("the set's snapshots in its repository: prune's listing, then one more backup, equal `restic snapshots`", async () => {
    await byHand(['prune']); // the offsite repository is unreachable: only its prune fails
    await byHand(['backup', 'docs']);
    const printed = await byHand(['metrics']);
    expectExit(printed, 0);
    const listed = await runChecked({
      file: 'restic',
      args: ['snapshots', '--json', '--no-lock', '--tag', 'snapkeep-set=docs'],
      env: { RESTIC_REPOSITORY: join(world.base, 'repo'), RESTIC_PASSWORD: secrets.password },
    });
    const count = (JSON.parse(listed.stdout) as unknown[]).length;
    expect(count).toBeGreaterThan(1);
    expect(valueOf(parseExposition(printed.stdout), 'snapkeep_job_repository_snapshots', docs)).toBe(count);
  });

  it('a directory that refuses the file: journaled as observer-failed, the run’s exit code unchanged', async () => {
    const blocked = join(world.base, 'a-file');
    await writeFile(blocked, 'not a directory\n');
    const refusing = join(world.base, 'refusing.yaml');
    await writeFile(refusing, `${config}metrics:\n  textfile_dir: ${join(blocked, 'textfile')}\n`);
    const result = await scheduled('nightly', ['run'], refusing);
    expect(result.exitCode).toBe(runExit);
    const lines = await journal();
    const end = lines.findLast((line) => line.event === 'run-end')!;
    const failed = lines.findLast((line) => line.event === 'observer-failed')!;
    expect(failed).toMatchObject({ run: end.run, observer: 'metrics' });
    expect(failed.error).toContain(join(blocked, 'textfile', 'snapkeep.prom'));
    expect(end.exitCode).toBe(runExit);
  });
});
