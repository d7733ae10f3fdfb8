// The run lifecycle through the built CLI on real btrfs: a run ended by SIGINT, SIGTERM or a
// SIGKILL of the node process alone is reported as interrupted (with the signal) or killed by
// `status` and `doctor logs`, never as the previous run's "exit 0"; and a closed stdout ends the
// output, never the run.
import { closeSync, openSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { cliPath, events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { diskWorld } from '../helpers/disk-world.js';
import { descendantsOf, isRunning, killAndReap, startSnapkeep, waitUntil } from '../helpers/processes.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock']);
});

interface World {
  readonly configPath: string;
  readonly stateDir: string;
  readonly data: string;
  readonly targetDir: string;
  /** The TMPDIR the CLI runs with (its FIFO directory goes there). */
  readonly tmp: string;
  readonly env: Record<string, string>;
}

async function makeWorld(sourceMiB = 1024): Promise<World> {
  const world = await diskWorld(cleanups, 'lc', sourceMiB);
  const tmp = join(world.base, 'tmp');
  await runChecked({ file: 'mkdir', args: ['-p', tmp] });
  return { ...world, tmp, env: { TMPDIR: tmp } };
}

async function journalOf(world: World): Promise<Record<string, unknown>[]> {
  try {
    return (await readFile(join(world.stateDir, 'journal.ndjson'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  } catch {
    return [];
  }
}

/** Run ids end with the PID of their process. */
const isOfProcess = (entry: Record<string, unknown>, pid: number): boolean =>
  String(entry.run).endsWith(`-${pid}`);

/** Start a run and wait until it is inside a transfer: its run-start is journaled, `btrfs send` runs. */
async function startTransfer(
  world: World,
): Promise<{ run: ReturnType<typeof startSnapkeep>; btrfs: number[] }> {
  const run = startSnapkeep(['run', '--config', world.configPath], { env: world.env });
  cleanups.push(async () => {
    if (isRunning(run.pid)) await killAndReap([run.pid]);
  });
  await waitUntil('the run-start line of the new run', async () =>
    (await journalOf(world)).some((entry) => entry.event === 'run-start' && isOfProcess(entry, run.pid)),
  );
  const btrfs = await waitUntil('btrfs send and receive of the run', () => {
    const children = descendantsOf(run.pid).filter((child) => child.comm === 'btrfs');
    return children.some((child) => child.argv[1] === 'send')
      ? children.map((child) => child.pid)
      : undefined;
  });
  cleanups.push(() => killAndReap(btrfs));
  return { run, btrfs };
}

interface StatusRun {
  state: string;
  exitCode?: number;
  signal?: string;
  command: string;
}

async function lastRunOf(world: World): Promise<{ json: StatusRun; text: string; doctor: string }> {
  const json = await snapkeep(['status', '--config', world.configPath, '--json']);
  expectExit(json, 3);
  const status = events(json.stdout).find((event) => event.type === 'status')!;
  const text = await snapkeep(['status', '--config', world.configPath]);
  expectExit(text, 3);
  const doctor = await snapkeep(['doctor', 'logs', '--config', world.configPath]);
  expectExit(doctor, 3);
  const lastRunLine = text.stdout.split('\n').find((line) => line.startsWith('last run:')) ?? '';
  const doctorLine =
    doctor.stdout
      .split('\n')
      .find((line) => /^ {2}\S+ +last run: /.test(line))
      ?.trim() ?? '';
  return { json: status.lastRun as StatusRun, text: lastRunLine, doctor: doctorLine };
}

describe('run lifecycle: interrupted and killed runs', () => {
  it('SIGINT, SIGTERM and SIGKILL of a run mid-send: status and doctor logs say interrupted (with the signal) or killed, never the previous exit 0', async () => {
    const world = await makeWorld();
    await writeRandomData(world.data, 1);
    expectExit(await snapkeep(['run', '--config', world.configPath], { env: world.env }), 0);
    await writeRandomData(world.data, 400, 'big');

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const { run, btrfs } = await startTransfer(world);
      process.kill(run.pid, signal);
      const exited = await run.exited;
      expect(exited.code).toBe(130);
      // The children were stopped, not left to run on.
      await waitUntil('the btrfs children to end', () => btrfs.every((pid) => !isRunning(pid)));

      const journal = await journalOf(world);
      const runId = journal.find((entry) => entry.event === 'run-start' && isOfProcess(entry, run.pid))!.run;
      const ofRun = journal.filter((entry) => entry.run === runId);
      expect(ofRun.at(-1)).toMatchObject({ event: 'run-end', exitCode: 130, signal, command: 'run' });
      expect(ofRun[0]).toMatchObject({ event: 'run-start', pid: run.pid });
      expect(ofRun[0]!.bootId).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof ofRun[0]!.processStart).toBe('number');

      const last = await lastRunOf(world);
      expect(last.json).toMatchObject({ state: 'interrupted', exitCode: 130, signal, command: 'run' });
      expect(last.text).toMatch(new RegExp(`snapkeep run, interrupted by ${signal} \\(exit 130\\)$`));
      expect(last.text).not.toMatch(/exit 0/);
      expect(last.doctor).toMatch(/^FAIL +last run: .*interrupted by SIG(INT|TERM)/);
      expect(last.doctor).toContain(signal);
      expect(exited.stderr).toContain(`interrupted (${signal})`);
    }

    // SIGKILL of the node process only: nothing can be written; the next reader recognises it.
    const { run, btrfs } = await startTransfer(world);
    process.kill(run.pid, 'SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    const killed = await lastRunOf(world);
    expect(killed.json).toMatchObject({ state: 'killed', command: 'run' });
    expect(killed.json.exitCode).toBeUndefined();
    expect(killed.text).toMatch(/snapkeep run, killed: it never ended and its process \(pid \d+\) is gone/);
    expect(killed.text).not.toMatch(/exit 0/);
    expect(killed.doctor).toMatch(/^FAIL +last run: .*killed/);
    await killAndReap(btrfs); // orphans, unless something else stopped them

    // The lock died with the killed process: the next run runs, and is the last run again.
    const after = await snapkeep(['run', '--config', world.configPath], { env: world.env });
    expectExit(after, 0);
    const status = await snapkeep(['status', '--config', world.configPath]);
    expectExit(status, 0);
    expect(status.stdout).toMatch(/last run: .* snapkeep run, exit 0/);
    const newest = (await readdir(world.targetDir)).sort().at(-1)!;
    expect(await treeChecksums(join(world.targetDir, newest))).toEqual(await treeChecksums(world.data));
  });

  it('a run still going is reported as running, not as the previous run', async () => {
    const world = await makeWorld();
    await writeRandomData(world.data, 1);
    expectExit(await snapkeep(['run', '--config', world.configPath], { env: world.env }), 0);
    await writeRandomData(world.data, 400, 'big');
    const { run } = await startTransfer(world);
    // Stopped, it stays alive (and mid-run) for as long as the checks take.
    process.kill(run.pid, 'SIGSTOP');
    const json = await snapkeep(['status', '--config', world.configPath, '--json']);
    expectExit(json, 0);
    const status = events(json.stdout).find((event) => event.type === 'status')!;
    expect(status.lastRun).toMatchObject({ state: 'running', pid: run.pid, command: 'run' });
    const text = await snapkeep(['status', '--config', world.configPath]);
    expect(text.stdout).toMatch(new RegExp(`snapkeep run, still running \\(pid ${run.pid}\\)`));
    process.kill(run.pid, 'SIGCONT');
    expect((await run.exited).code).toBe(0);
    expect((await snapkeep(['status', '--config', world.configPath])).stdout).toMatch(/snapkeep run, exit 0/);
  });
});

/** A pipe nobody reads any more (the reader is gone, as after `| head -1`): every write is EPIPE. */
async function closedPipe(directory: string): Promise<number> {
  const fifo = join(directory, `closed-${process.pid}-${Math.random().toString(16).slice(2)}`);
  await runChecked({ file: 'mkfifo', args: [fifo] });
  const reader = openSync(fifo, 'r+'); // a reader, so opening the write end does not block
  const writer = openSync(fifo, 'w');
  closeSync(reader);
  return writer;
}

describe('a closed stdout ends the output, never the command', () => {
  it('list, status and --help into a closed pipe: no stack trace, no EPIPE, exit as without the pipe', async () => {
    const world = await makeWorld(256);
    await writeRandomData(world.data, 1);
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    for (const [args, code] of [
      [['list', '--config', world.configPath], 0],
      [['status', '--config', world.configPath], 0],
      [['status', '--config', world.configPath, '--json'], 0],
      [['--help'], 0],
      [['run', '--help'], 0],
    ] as const) {
      const stdout = await closedPipe(world.tmp);
      const started = startSnapkeep(args, { stdio: ['ignore', stdout, 'pipe'] });
      closeSync(stdout);
      const exited = await started.exited;
      expect({ args, code: exited.code, stderr: exited.stderr }).toEqual({ args, code, stderr: '' });
    }
    // And the ordinary shell case: only the first line is read.
    const head = await runCommand({
      file: 'sh',
      args: [
        '-c',
        '"$0" "$1" --help | head -1; "$0" "$1" list --config "$2" | head -c1',
        process.execPath,
        cliPath,
        world.configPath,
      ],
    });
    expect(head.stderr).toBe('');
    expect(head.stdout).toMatch(/^Usage: snapkeep/);
  });

  it('run into a closed stdout and stderr: the run completes, is verified and journaled (exit 0), no FIFO directory left', async () => {
    const world = await makeWorld(512);
    await writeRandomData(world.data, 64);
    const stdout = await closedPipe(world.tmp);
    const stderr = await closedPipe(world.tmp);
    const run = startSnapkeep(['run', '--config', world.configPath], {
      env: world.env,
      stdio: ['ignore', stdout, stderr],
    });
    closeSync(stdout);
    closeSync(stderr);
    expect((await run.exited).code).toBe(0);
    const copies = (await readdir(world.targetDir)).filter((name) => !name.endsWith('.latest'));
    expect(copies).toHaveLength(1);
    expect(await treeChecksums(join(world.targetDir, copies[0]!))).toEqual(await treeChecksums(world.data));
    const journal = await journalOf(world);
    expect(journal.at(-1)).toMatchObject({ event: 'run-end', command: 'run', exitCode: 0 });
    expect(journal.filter((entry) => entry.event === 'step').map((entry) => [entry.kind, entry.ok])).toEqual([
      ['create-snapshot', true],
      ['update-latest', true],
      ['send', true],
      ['update-latest', true],
    ]);
    // Only the two pipes made here; the run's FIFO directory is gone.
    expect((await readdir(world.tmp)).filter((name) => !name.startsWith('closed-'))).toEqual([]);
    // The same with stdout piped to a reader that stops after one line.
    await writeRandomData(world.data, 8, 'more');
    const piped = await runCommand({
      file: 'sh',
      args: ['-c', '"$0" "$1" run --config "$2" | head -1', process.execPath, cliPath, world.configPath],
      env: world.env,
    });
    expect(piped.stderr).toBe('');
    expect((await journalOf(world)).at(-1)).toMatchObject({ event: 'run-end', exitCode: 0 });
    expect((await readdir(world.tmp)).filter((name) => !name.startsWith('closed-'))).toEqual([]);
  });
});
