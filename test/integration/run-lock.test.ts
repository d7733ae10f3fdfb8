// The run lock with real processes: what blocks a run and what must not (an empty lock file, a
// PID that now belongs to someone else, a SIGKILLed holder), runs started together (never both
// holding it), --lock-wait (waits for the holder, then runs) and its absence (exit 11 naming the
// holder). Ordered by events: lines the holders append, the journal, processes in /proc.
import { appendFileSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { childrenOf, isRunning, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';
import { spawn } from 'node:child_process';

const lockModule = fileURLToPath(new URL('../../dist/state/lock.js', import.meta.url));

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock']);
});

interface World {
  readonly base: string;
  readonly configPath: string;
  readonly stateDir: string;
  readonly lockFile: string;
  readonly journal: string;
}

/** One small filesystem: a subvolume with a file, sent to a directory on the same filesystem. */
async function makeWorld(): Promise<World> {
  const disk = await cleanups.loopBtrfs('lock', 256);
  const base = await cleanups.tempDir('lock');
  const data = join(disk.mountPoint, 'data');
  await createSubvolume(data);
  await writeRandomData(data, 1);
  await runChecked({ file: 'mkdir', args: ['-p', join(disk.mountPoint, 'backups')] });
  const configPath = join(base, 'snapkeep.yaml');
  const stateDir = join(base, 'state');
  await runChecked({ file: 'mkdir', args: ['-p', stateDir] });
  await writeFile(
    configPath,
    `state_dir: ${stateDir}
targets:
  disk: { path: ${join(disk.mountPoint, 'backups')} }
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${join(disk.mountPoint, 'snapshots')}
    targets: [disk]
`,
  );
  return {
    base,
    configPath,
    stateDir,
    lockFile: join(stateDir, 'snapkeep.lock'),
    journal: join(stateDir, 'journal.ndjson'),
  };
}

/**
 * A process that takes the lock through snapkeep's own lock module when told `take` on stdin,
 * appends `start <id>` / `end <id>` to `events` around holding it, and lets go when told
 * `release` (or at once with `hold: false`). Exits 11 when the lock was refused.
 */
function lockProcess(stateDir: string, events: string, id: string, hold: boolean) {
  const script = `
    import { appendFileSync } from 'node:fs';
    const { acquireLock } = await import(${JSON.stringify(lockModule)});
    const lines = [];
    let wake;
    process.stdin.on('data', (chunk) => { lines.push(...String(chunk).split('\\n').filter(Boolean)); wake?.(); });
    const next = async (word) => { while (!lines.includes(word)) await new Promise((r) => (wake = r)); };
    await next('take');
    let lock;
    try { lock = await acquireLock(${JSON.stringify(stateDir)}, 'run'); }
    catch (error) { process.stderr.write(String(error.message)); process.exit(error.exitCode ?? 1); }
    appendFileSync(${JSON.stringify(events)}, 'start ${id}\\n');
    process.stdout.write('held\\n');
    if (${hold}) await next('release');
    else await new Promise((r) => setTimeout(r, 50)); // holds a while, so an overlap could show
    appendFileSync(${JSON.stringify(events)}, 'end ${id}\\n');
    await lock.release();
    process.exit(0);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      resolve({ code, stderr });
    }),
  );
  cleanups.push(async () => {
    if (isRunning(child.pid!)) await killAndReap([child.pid!]);
  });
  return {
    pid: child.pid!,
    exited,
    tell: (word: string) => child.stdin.write(`${word}\n`),
    held: () => waitUntil(`process ${id} to hold the lock`, () => stdout.includes('held')),
  };
}

/** A PID that was just in use and is not any more. */
async function deadPid(): Promise<number> {
  const result = await runCommand({ file: 'sh', args: ['-c', 'echo $$'] });
  return Number(result.stdout.trim());
}

describe('run lock', () => {
  it('an empty lock file (a run that died on a full state directory) and a lock naming a live unrelated PID do not block', async () => {
    const world = await makeWorld();
    await writeFile(world.lockFile, '');
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    // A live PID on this host that is not snapkeep (as after a reboot gives it to something else).
    await writeFile(
      world.lockFile,
      `${JSON.stringify({ pid: process.pid, host: hostname(), command: 'run', startedAt: '2026-01-01T00:00:00Z' })}\n`,
    );
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    // The lock file stays (it is never deleted to release) and names no holder once released.
    expect(await readFile(world.lockFile, 'utf8')).toBe('');
  });

  it('20 pairs of runs started together over a stale lock never both hold it', async () => {
    const world = await makeWorld();
    const events = join(world.base, 'events');
    for (let trial = 0; trial < 20; trial++) {
      await writeFile(
        world.lockFile,
        `${JSON.stringify({ pid: await deadPid(), host: hostname(), command: 'run', startedAt: '2026-01-01T00:00:00Z' })}\n`,
      );
      await writeFile(events, '');
      const pair = [
        lockProcess(world.stateDir, events, `a${trial}`, false),
        lockProcess(world.stateDir, events, `b${trial}`, false),
      ];
      for (const contender of pair) contender.tell('take');
      const codes = (await Promise.all(pair.map((contender) => contender.exited))).map(
        (exited) => exited.code,
      );
      expect(codes.every((code) => code === 0 || code === 11)).toBe(true);
      const lines = readFileSync(events, 'utf8').split('\n').filter(Boolean);
      // Each holder's start is directly followed by its own end: no overlap.
      for (let index = 0; index < lines.length; index += 2)
        expect([lines[index], lines[index + 1]]).toEqual([
          lines[index],
          lines[index]!.replace('start', 'end'),
        ]);
      expect(lines.length / 2).toBe(codes.filter((code) => code === 0).length);
      expect(lines.length).toBeGreaterThan(0);
    }
  });

  it('a SIGKILLed holder frees the lock at once; without --lock-wait a second run exits 11 naming the holder', async () => {
    const world = await makeWorld();
    const holder = lockProcess(world.stateDir, join(world.base, 'events'), 'holder', true);
    holder.tell('take');
    await holder.held();
    const refused = await snapkeep(['run', '--config', world.configPath]);
    expectExit(refused, 11);
    expect(refused.stderr).toContain(
      `another snapkeep run holds the lock ${world.lockFile}: pid ${holder.pid} on ${hostname()} ("snapkeep run"`,
    );
    // Refused runs change nothing; one `run-refused` line remembers them (no run-start: no run).
    const journaled = (await readFile(world.journal, 'utf8')).split('\n').filter(Boolean);
    expect(journaled.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ event: 'run-refused', command: 'run', exitCode: 11 }),
    ]);
    process.kill(holder.pid, 'SIGKILL');
    await holder.exited;
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
  });

  it('--lock-wait waits for the holder, then runs; interrupted while waiting it exits 130 and leaves nothing', async () => {
    const world = await makeWorld();
    const holder = lockProcess(world.stateDir, join(world.base, 'events'), 'holder', true);
    holder.tell('take');
    await holder.held();

    // Interrupted while it waits: 130, its waiting flock gone, nothing journaled.
    const impatient = startSnapkeep(['run', '--config', world.configPath, '--lock-wait', '10m']);
    const waiter = await waitUntil('the run to wait in flock', () =>
      childrenOf(impatient.pid).find((child) => child.comm === 'flock'),
    );
    process.kill(impatient.pid, 'SIGTERM');
    expect((await impatient.exited).code).toBe(130);
    await waitUntil('its flock to end', () => !isRunning(waiter.pid));
    await expect(readFile(world.journal, 'utf8')).rejects.toThrow();

    const patient = startSnapkeep(['run', '--config', world.configPath, '--lock-wait', '1h30m']);
    await waitUntil('the run to wait in flock', () =>
      childrenOf(patient.pid).some((child) => child.comm === 'flock'),
    );
    // The holder marks its release in the journal, then lets go: the waiter's run must follow it.
    appendFileSync(
      world.journal,
      `${JSON.stringify({ time: new Date().toISOString(), run: 'holder', event: 'holder-released' })}\n`,
    );
    holder.tell('release');
    expect(await holder.exited).toMatchObject({ code: 0 });
    const exited = await patient.exited;
    expect(exited.code).toBe(0);
    const journal = (await readFile(world.journal, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // Snapshot, its latest pointer, the send, the target's latest pointer.
    expect(
      journal.map((entry) => (entry.event === 'step' ? `step ${String(entry.kind)}` : entry.event)),
    ).toEqual([
      'holder-released',
      'run-start',
      'step create-snapshot',
      'step update-latest',
      'step send',
      'step update-latest',
      'run-end',
    ]);
    expect(journal[1]).toMatchObject({ pid: patient.pid, command: 'run' });
    expect(typeof journal[1]!.lockWaitMs).toBe('number');
    expect(journal.at(-1)).toMatchObject({ exitCode: 0 });

    const bad = await snapkeep(['run', '--config', world.configPath, '--lock-wait', 'soon']);
    expectExit(bad, 2);
    expect(bad.stderr).toContain('--lock-wait soon: expected a duration');
  });
});
