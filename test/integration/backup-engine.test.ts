// The backup engine without the CLI: what a schedule, a notifier or the dashboard would call.
// Driven with a collecting sink against real restic repositories (0.14 and 0.18): the events it
// reports, in order, and the journal it writes are the whole contract; no command module, no
// stdout.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadResolvedConfig } from '../../src/config/config-cache.js';
import { backupSets, type BackupEvent } from '../../src/restic/backup-run.js';
import { Restic } from '../../src/restic/restic.js';
import { backupText } from '../../src/cli/backup-command.js';
import { runChecked } from '../../src/exec/command.js';
import { readJournal } from '../../src/state/journal.js';
import { useCleanups } from '../helpers/cleanups.js';
import { writeRandomData } from '../helpers/btrfs-tree.js';
import { resticBinaries, type ResticBinary } from '../helpers/restic-binaries.js';

const cleanups = useCleanups(afterAll);
let binaries: ResticBinary[];
let base: string;

beforeAll(async () => {
  binaries = await resticBinaries();
  base = await cleanups.tempDir('backup-engine');
  process.env.TEST_BACKUP_ENGINE_PASSWORD = 'engine repository password';
});

async function writeConfig(directory: string): Promise<string> {
  const path = join(directory, 'snapkeep.yaml');
  await writeFile(
    path,
    `state_dir: ${join(directory, 'state')}
repositories:
  local:
    url: ${join(directory, 'repo')}
    password: env:TEST_BACKUP_ENGINE_PASSWORD
sources:
  uploads:
    type: directory
    paths: [${join(directory, 'uploads')}]
  gone:
    type: directory
    paths: [${join(directory, 'gone')}]
backup_sets:
  app:
    sources: [uploads]
    repository: local
  broken:
    sources: [gone]
    repository: local
`,
  );
  return path;
}

describe('the backup engine, called without the CLI', () => {
  for (const index of [0, 1])
    it(`restic #${index}: dry run, then a run with one good and one failing set: its events in order and its journal`, async () => {
      const binary = binaries[index]!;
      const directory = join(base, `v${binary.version}`);
      await writeRandomData(join(directory, 'uploads'), 1, 'file');
      await mkdir(join(directory, 'gone'), { recursive: true });
      const { resolved } = await loadResolvedConfig(await writeConfig(directory));
      // Valid when the config was read; gone by the time the run reads it.
      await rm(join(directory, 'gone'), { recursive: true });
      const restic = await Restic.detect(binary.path);

      const planned: BackupEvent[] = [];
      const dry = await backupSets({ config: resolved, sets: ['app'], dryRun: true, restic }, (event) =>
        planned.push(event),
      );
      expect(dry).toEqual({ exitCode: 0, outcomes: [] });
      expect(planned).toEqual([
        {
          type: 'plan',
          set: 'app',
          repository: 'local',
          repositoryUrl: join(directory, 'repo'),
          dryRun: true,
          items: [
            { source: 'uploads', type: 'directory', description: `back up ${join(directory, 'uploads')}` },
          ],
          repositoryExists: false,
        },
        { type: 'summary', command: 'backup', dryRun: true, exitCode: 0 },
      ]);
      expect(await readJournal(resolved.stateDir)).toEqual([]);

      const seen: BackupEvent[] = [];
      // Progress comes as often as restic reports (backup-progress.test.ts checks it): not here.
      const result = await backupSets({ config: resolved, sets: [], dryRun: false, restic }, (event) => {
        if (event.type !== 'progress') seen.push(event);
      });
      expect(result.exitCode).toBe(3);
      expect(seen.map((event) => `${event.type}${'set' in event ? ` ${event.set}` : ''}`)).toEqual([
        'item app',
        'item broken',
        'set app',
        'set broken',
        'summary',
      ]);
      const [good, bad, appSet, brokenSet, summary] = seen;
      expect(good).toMatchObject({ type: 'item', source: 'uploads', ok: true });
      expect(bad).toMatchObject({ type: 'item', source: 'gone', ok: false });
      expect(appSet).toEqual({ type: 'set', set: 'app', run: result.run, ok: true, offsite: [], items: 1 });
      expect(brokenSet).toMatchObject({ type: 'set', set: 'broken', run: result.run, ok: false, items: 1 });
      expect(summary).toEqual({
        type: 'summary',
        command: 'backup',
        dryRun: false,
        exitCode: 3,
        run: result.run,
      });
      expect(result.outcomes.map((outcome) => [outcome.set, outcome.ok])).toEqual([
        ['app', true],
        ['broken', false],
      ]);

      // restic's own figures, as it reports them: bytes read = the directory's size; new data =
      // what restic 0.17+ records in the snapshot's summary (0.14 keeps none: at least the data).
      const figures = (good as { item: { snapshotId: string; dataAdded?: number; bytesProcessed?: number } })
        .item;
      expect(figures.bytesProcessed).toBe(1024 * 1024);
      const listed = await runChecked({
        file: binary.path,
        args: ['-r', join(directory, 'repo'), 'snapshots', '--json', '--no-lock'],
        env: { RESTIC_PASSWORD: process.env.TEST_BACKUP_ENGINE_PASSWORD! },
      });
      const stored = (JSON.parse(listed.stdout) as { id: string; summary?: { data_added: number } }[]).find(
        (snapshot) => snapshot.id.startsWith(figures.snapshotId),
      )!;
      if (stored.summary) expect(figures.dataAdded).toBe(stored.summary.data_added);
      else expect(figures.dataAdded).toBeGreaterThanOrEqual(1024 * 1024);
      expect(backupText(good!)[0]).toMatch(/, added 1\.\d MiB of 1\.0 MiB read$/);

      // The run's journal: start, one line per item, the end with the exit code and the sets.
      const journal = (await readJournal(resolved.stateDir)).filter((entry) => entry.run === result.run);
      expect(journal.map((entry) => entry.event)).toEqual(['run-start', 'item', 'item', 'run-end']);
      expect(journal[0]).toMatchObject({ command: 'backup', sets: ['app', 'broken'] });
      expect(journal[1]).toMatchObject({ set: 'app', ok: true });
      expect(journal[2]).toMatchObject({ set: 'broken', ok: false });
      expect(journal[3]).toMatchObject({
        command: 'backup',
        exitCode: 3,
        sets: [
          { set: 'app', ok: true },
          { set: 'broken', ok: false },
        ],
      });
      // The secret never reached an event or the journal.
      expect(JSON.stringify(seen)).not.toContain('engine repository password');
      expect(await readFile(join(resolved.stateDir, 'journal.ndjson'), 'utf8')).not.toContain(
        'engine repository password',
      );
    });
});
