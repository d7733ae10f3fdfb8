// Journal compaction against what else writes the journal at that moment, with real processes:
// a `snapshot --deadline` that runs without the lock while the holder compacts, and a
// compaction killed (SIGKILL) before it moved the files. Ordered by events: the other run
// happens inside the compaction (from its fold, between its read and its move), the kill once
// the compaction has written its new file and waits for the journal; never a fixed delay.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { compactJournal } from '../../src/state/journal-compaction.js';
import { readJournal } from '../../src/state/journal.js';
import { acquireLock } from '../../src/state/lock.js';
import { cliPath, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { descendantsOf, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['flock', 'dd']);
});

/** Lines of `count` finished runs (about 300 bytes each), and optionally one killed run. */
function history(count: number, killed = false): string {
  const lines: string[] = [];
  const at = (index: number, second: number): string =>
    new Date(Date.UTC(2026, 0, 1) + index * 3_600_000 + second * 1000).toISOString();
  for (let index = 0; index < count; index++) {
    const run = `r${index}`;
    const start = {
      v: 1,
      time: at(index, 0),
      run,
      event: 'run-start',
      command: 'snapshot',
      pid: 1,
      bootId: 'b',
      processStart: 1,
      config: 'x'.repeat(100),
    };
    lines.push(JSON.stringify(start));
    lines.push(
      JSON.stringify({
        v: 1,
        time: at(index, 1),
        run,
        event: 'run-end',
        command: 'snapshot',
        exitCode: 0,
        jobs: [{ subvolume: 'home', status: 'ok' }],
      }),
    );
  }
  if (killed)
    lines.push(
      JSON.stringify({
        v: 1,
        time: at(count, 0),
        run: 'killed',
        event: 'run-start',
        command: 'run',
        pid: 1,
        bootId: 'b',
        processStart: 1,
      }),
    );
  return `${lines.join('\n')}\n`;
}

/** A state directory with `journal` and a config whose subvolume is a plain directory: its job
 *  fails at once (not btrfs), and the run's start and end are journaled all the same. */
async function stateWith(journal: string): Promise<{ stateDir: string; configPath: string }> {
  const base = await cleanups.tempDir('compaction-race');
  const stateDir = join(base, 'state');
  await mkdir(stateDir);
  await mkdir(join(base, 'data'));
  await writeFile(join(stateDir, 'journal.ndjson'), journal);
  const configPath = join(base, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${stateDir}\nsubvolumes:\n  home:\n    path: ${join(base, 'data')}\n`,
  );
  return { stateDir, configPath };
}

describe('journal compaction and other writers', () => {
  it('a run without the lock that writes while the holder compacts loses no line', async () => {
    const { stateDir, configPath } = await stateWith(history(20, true));
    // This process is the locked run that compacts; the other run finds the lock held.
    const lock = await acquireLock(stateDir, 'run');
    cleanups.push(() => {
      lock.release();
      return Promise.resolve();
    });
    let other: ReturnType<typeof spawnSync> | undefined;
    const result = await compactJournal(stateDir, {
      maxBytes: 1,
      // Asked while the compaction folds what it read (is the killed run's process alive?):
      // the other run starts, writes its lines and ends right then.
      probe: () => {
        other ??= spawnSync(
          process.execPath,
          [cliPath, 'snapshot', '--deadline', '2s', '--config', configPath],
          {
            encoding: 'utf8',
          },
        );
        return false;
      },
    });
    expect(other?.status, String(other?.stderr)).toBe(3);
    expect(result.compacted).toBe(true);
    const events = await readJournal(stateDir);
    expect(events[0]?.event).toBe('checkpoint');
    const start = events.find((event) => event.event === 'run-start' && event.deadline === '2s');
    expect(start, 'the lockless run’s start is in the journal').toBeDefined();
    expect(String(start!.lockNotHeld)).toContain('another snapkeep run holds the lock');
    expect(events.filter((event) => event.run === start!.run).map((event) => event.event)).toEqual([
      'run-start',
      'run-end',
    ]);
  });

  it('a compaction killed before it moved the files leaves its temporary file, which the next one removes', async () => {
    const { stateDir, configPath } = await stateWith(history(1000));
    const journal = join(stateDir, 'journal.ndjson');
    const before = await readFile(journal, 'utf8');
    expect(before.length).toBeGreaterThan(256 * 1024);
    // A line being written (a shared lock on the journal, as every writer without the run lock
    // holds one): the compaction waits for it with its new file written.
    const writer = spawn('flock', ['--shared', '--no-fork', journal, 'sleep', '600'], { stdio: 'ignore' });
    cleanups.push(() => killAndReap([writer.pid!]));
    await waitUntil(
      'the shared lock to be held',
      async () => (await runCommand({ file: 'flock', args: ['--nonblock', journal, 'true'] })).exitCode !== 0,
    );
    const run = startSnapkeep(['snapshot', '--config', configPath]);
    cleanups.push(() => killAndReap([run.pid, ...descendantsOf(run.pid).map((entry) => entry.pid)]));
    const temporary = join(stateDir, `journal.ndjson.${run.pid}.tmp`);
    await waitUntil(
      'the compaction to have written its new file and to wait for the journal',
      async () =>
        (await stat(temporary).catch(() => undefined)) !== undefined &&
        descendantsOf(run.pid).some((entry) => entry.comm === 'flock'),
    );
    await killAndReap([run.pid, ...descendantsOf(run.pid).map((entry) => entry.pid)]);
    expect((await readdir(stateDir)).sort()).toContain(`journal.ndjson.${run.pid}.tmp`);
    expect(await readFile(journal, 'utf8')).toBe(before);

    await killAndReap([writer.pid!]);
    expectExit(await snapkeep(['snapshot', '--config', configPath]), 3);
    expect((await readdir(stateDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    const events = await readJournal(stateDir);
    expect(events[0]?.event).toBe('checkpoint');
    expect(events.map((event) => event.event)).toEqual(['checkpoint', 'run-start', 'run-end']);
  });
});
