// Journal compaction: the journal stays bounded, and what is derived from the compacted journal
// is what the whole history gives — a job's last success and last failure are never lost.
import { appendFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveStatus, type JobSpec } from '../../../src/state/derive-status.js';
import { compactJournal } from '../../../src/state/journal-compaction.js';
import { parseJournal } from '../../../src/state/journal-events.js';
import { readJournal } from '../../../src/state/journal.js';

const never = (): boolean => false;
const none = () => ({});
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const subvolumes = ['home', 'root', 'srv'];
const targets = ['usb', 'nas'];
const jobs: JobSpec[] = [
  ...subvolumes.flatMap((subvolume) =>
    targets.map((target): JobSpec => ({ kind: 'btrfs', subvolume, target })),
  ),
  { kind: 'restic', set: 'db', repository: 'local', primary: true },
  { kind: 'restic', set: 'db', repository: 's3', primary: false },
];

/** The lines of run `index`, 4 hours apart: srv → nas fails once (run 4) and never again. */
function runLines(index: number): string[] {
  const time = (seconds: number): string =>
    new Date(Date.UTC(2026, 0, 1) + index * 4 * 3_600_000 + seconds * 1000).toISOString();
  const run = `r${index}`;
  const line = (seconds: number, fields: Record<string, unknown>): string =>
    JSON.stringify({ v: 1, time: time(seconds), run, ...fields });
  const failing = index === 4;
  if (index % 2 === 1)
    return [
      line(0, { event: 'run-start', command: 'backup', sets: ['db'], pid: 1, bootId: 'b', processStart: 1 }),
      line(1, { event: 'item', set: 'db', what: 'dump', ok: true }),
      line(2, { event: 'offsite', set: 'db', repository: 's3', ok: index !== 5, error: 'refused' }),
      line(3, {
        event: 'run-end',
        command: 'backup',
        exitCode: index === 5 ? 10 : 0,
        sets: [
          { set: 'db', ok: index !== 5, offsite: [{ repository: 's3', ok: index !== 5, error: 'refused' }] },
        ],
      }),
    ];
  return [
    line(0, { event: 'run-start', command: 'run', pid: 1, bootId: 'b', processStart: 1 }),
    ...subvolumes.flatMap((subvolume) => [
      line(1, {
        event: 'step',
        kind: 'create-snapshot',
        subvolume,
        name: `${subvolume}.${index}`,
        ok: true,
        reason: 'x'.repeat(100),
      }),
      // Retention: the snapshot of ten runs ago goes (what is left is what pending counts from).
      ...(index >= 20
        ? [
            line(1, {
              event: 'step',
              kind: 'delete-snapshot',
              subvolume,
              name: `${subvolume}.${index - 20}`,
              ok: true,
            }),
          ]
        : []),
      ...targets.map((target) =>
        line(2, {
          event: 'step',
          kind: 'send',
          subvolume,
          target,
          name: `${subvolume}.${index}`,
          ok: !(failing && subvolume === 'srv' && target === 'nas'),
          ...(failing && subvolume === 'srv' && target === 'nas' ? { error: 'No space left on device' } : {}),
        }),
      ),
    ]),
    line(3, {
      event: 'run-end',
      command: 'run',
      exitCode: failing ? 3 : 0,
      jobs: subvolumes.map((subvolume) =>
        failing && subvolume === 'srv'
          ? { subvolume, target: 'nas', status: 'failed', message: 'No space left on device' }
          : { subvolume, status: 'ok' },
      ),
    }),
  ];
}

describe('journal compaction', () => {
  it('a long history compacted at every run start answers as the whole history does, in a bounded file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapkeep-compaction-'));
    dirs.push(dir);
    const journalPath = join(dir, 'journal.ndjson');
    const all: string[] = [];
    let compactions = 0;
    let largest = 0;
    for (let index = 0; index < 401; index++) {
      // As withRun does: compact (under the lock), then the run writes its lines.
      const result = await compactJournal(dir, { maxBytes: 8 * 1024, probe: never, keepArchives: 3 });
      if (result.compacted) compactions++;
      // A snapshot-only run (pre-sleep) last: its snapshots are pending.
      const lines = index === 400 ? runLines(index).slice(0, 2) : runLines(index);
      if (index === 400) lines[0] = lines[0]!.replace('"command":"run"', '"command":"snapshot"');
      if (index === 400)
        lines.push(
          JSON.stringify({
            ...JSON.parse(lines[1]!),
            event: 'run-end',
            command: 'snapshot',
            exitCode: 0,
            jobs: [],
          }),
        );
      for (const line of lines) appendFileSync(journalPath, `${line}\n`);
      all.push(...lines);
      largest = Math.max(largest, (await stat(journalPath)).size);
    }
    expect(compactions).toBeGreaterThan(10);
    expect(largest).toBeLessThan(16 * 1024);
    expect((await readdir(join(dir, 'journal.d'))).length).toBe(3);

    const now = new Date(Date.UTC(2026, 0, 1) + 401 * 4 * 3_600_000);
    const whole = deriveStatus(parseJournal(all.join('\n')).events, none, {}, now, { jobs, probe: never });
    const compacted = deriveStatus(await readJournal(dir), none, {}, now, { jobs, probe: never });
    expect(compacted.jobs).toEqual(whole.jobs);
    expect(compacted.lastRun).toEqual(whole.lastRun);
    expect(compacted.lastRuns).toEqual(whole.lastRuns);
    expect(compacted.runCount).toBe(401);

    const job = Object.fromEntries(compacted.jobs.map((entry) => [entry.id, entry]));
    // The one failure, 396 runs and many compactions ago, is still the job's last failure.
    expect(job['srv → nas']!.lastFailure).toMatchObject({ run: 'r4', message: 'No space left on device' });
    expect(job['db → s3']!.lastFailure).toMatchObject({ run: 'r5', message: 'refused' });
    expect(job['home → usb']!.lastSuccess).toMatchObject({ run: 'r398' });
    expect(job['home → usb']!.pending).toMatchObject({ count: 1, names: ['home.400'] });
  });

  it('a journal under the size, or with a run still going, is left as it is', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapkeep-compaction-'));
    dirs.push(dir);
    expect(await compactJournal(dir)).toMatchObject({ compacted: false, reason: 'no journal' });
    for (const line of runLines(0).slice(0, 3)) appendFileSync(join(dir, 'journal.ndjson'), `${line}\n`);
    expect((await compactJournal(dir)).compacted).toBe(false);
    expect(await compactJournal(dir, { maxBytes: 1, probe: () => true })).toMatchObject({
      compacted: false,
      reason: 'run r0 is still running',
    });
  });
});
