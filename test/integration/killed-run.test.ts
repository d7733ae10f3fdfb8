// A run whose node process alone is killed mid-send (what the OOM killer does), followed at once
// by the next run, again and again: no child of the killed run may live on, and in the end every
// copy on the target is its snapshot, file by file (contents and modes). Before children were
// bound to snapkeep's life, the orphaned `btrfs receive` finished its stream into the next run's
// copy of the same name and stamped it received: a corrupt copy that passed verification.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { cliPath, expectExit, snapkeep } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, writeRandomData } from '../helpers/btrfs-tree.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'setpriv']);
});

interface ProcessInfo {
  readonly pid: number;
  readonly parent: number;
  readonly state: string;
  /** Clock ticks after boot: with the pid, it names one process even if the pid is reused. */
  readonly startTime: string;
  readonly command: string;
}

async function processInfo(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
    // comm may hold spaces and parentheses: the fields after it start at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, parent: Number(fields[1]), state: fields[0]!, startTime: fields[19]!, command };
  } catch {
    return undefined; // gone
  }
}

async function descendantsOf(root: number): Promise<ProcessInfo[]> {
  const all = (
    await Promise.all(
      (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map((name) => processInfo(Number(name))),
    )
  ).filter((info): info is ProcessInfo => info !== undefined);
  const found: ProcessInfo[] = [];
  let parents = new Set([root]);
  while (parents.size > 0) {
    const children = all.filter((info) => parents.has(info.parent));
    found.push(...children);
    parents = new Set(children.map((info) => info.pid));
  }
  return found;
}

/** Alive: the same process (pid and start time) exists and is not a zombie waiting for init. */
async function alive(recorded: ProcessInfo): Promise<boolean> {
  const now = await processInfo(recorded.pid);
  return now !== undefined && now.startTime === recorded.startTime && now.state !== 'Z';
}

/** Polls for an event, up to `attempts` polls; whether it happened. */
async function eventually(happened: () => Promise<boolean>, attempts = 1000): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (await happened()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

interface Entry {
  readonly mode: number;
  readonly size: number;
  readonly content: string;
}

/** Every file, directory and link below `root`: mode, size, and a digest of the contents. */
async function manifest(root: string): Promise<Record<string, Entry>> {
  const result: Record<string, Entry> = {};
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    const content = info.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : info.isSymbolicLink()
        ? await readlink(path)
        : '';
    result[relative(root, path) || '.'] = {
      mode: info.mode,
      size: info.isDirectory() ? 0 : info.size,
      content,
    };
    if (info.isDirectory()) for (const name of (await readdir(path)).sort()) await walk(join(path, name));
  };
  await walk(root);
  return result;
}

describe('a run killed without a chance to clean up (only its node process, by SIGKILL)', () => {
  it('leaves no child alive, and the runs right after it still end with every copy equal to its snapshot', async () => {
    const source = await createLoopBtrfs('killsrc', 2048);
    cleanups.push(() => source.cleanup());
    const target = await createLoopBtrfs('killtgt', 2048);
    cleanups.push(() => target.cleanup());
    const base = await makeTempDir('killed-run');
    cleanups.push(async () => {
      await runCommand({ file: 'rm', args: ['-rf', base] });
    });
    const data = join(source.mountPoint, 'data');
    const snapshots = join(source.mountPoint, 'snapshots');
    const backups = join(target.mountPoint, 'backups');
    await createSubvolume(data);
    await runCommand({ file: 'mkdir', args: ['-p', backups] });
    const configPath = join(base, 'snapkeep.yaml');
    await writeFile(
      configPath,
      `state_dir: ${join(base, 'state')}
targets:
  disk: { path: ${backups} }
defaults:
  snapshot_retention: { preserve_min: all }
  target_retention: { preserve_min: all }
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${snapshots}
    targets: [disk]
`,
    );
    // Incompressible data in large files, and small files whose modes must survive.
    await writeRandomData(data, 320);
    await writeFile(join(data, 'exact.bin'), Buffer.alloc(2_500_000, 7));
    for (const [name, mode] of [
      ['private', 0o600],
      ['script', 0o755],
      ['shared', 0o664],
    ] as const) {
      await writeFile(join(data, name), name);
      await chmod(join(data, name), mode);
    }

    /** Copies that are read-only and carry a received UUID (what verification requires). */
    const completeCopies = async (): Promise<string[]> => {
      const names: string[] = [];
      for (const name of await readdir(backups)) {
        const shown = await show(join(backups, name)).catch(() => undefined);
        if (shown?.readonly && shown.receivedUuid) names.push(name);
      }
      return names;
    };
    const survivors: string[] = [];
    /** The FIFO directories of this process (`snapkeep-fifo-<pid>-XXXXXX`) in the temp directory. */
    const fifoDirectoriesOf = async (pid: number): Promise<string[]> =>
      (await readdir(tmpdir())).filter((name) => name.startsWith(`snapkeep-fifo-${pid}-`));
    const killedPids: number[] = [];
    /** One run, its node process killed once its receive is writing into a new partial copy. */
    const killedRun = async (round: string): Promise<void> => {
      // What the receive writes into: a name that is not a complete copy (the garbage of the
      // killed run before may carry the same name again).
      const complete = new Set(await completeCopies());
      const run = spawn(process.execPath, [cliPath, 'run', '--config', configPath], { stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => {
        run.once('close', () => {
          resolve();
        });
      });
      cleanups.push(() => {
        run.kill('SIGKILL');
        return Promise.resolve();
      });
      let children: ProcessInfo[] = [];
      const receiving = await eventually(async () => {
        children = await descendantsOf(run.pid!);
        const receive = children.find((info) => /\bbtrfs receive\b/.test(info.command));
        if (!receive) return false;
        const io = await readFile(`/proc/${receive.pid}/io`, 'utf8').catch(() => '');
        const written = Number(/^wchar:\s*(\d+)/m.exec(io)?.[1] ?? 0);
        const partial = (await readdir(backups)).some((name) => !complete.has(name));
        return partial && written > 1024 * 1024;
      });
      expect(
        receiving,
        `${round}: the receive never started writing; children of killed runs still alive: ${survivors.join('; ') || 'none'}`,
      ).toBe(true);
      // Its FIFO is there now; its exit handler, which would remove it, never runs.
      expect(await fifoDirectoriesOf(run.pid!)).toHaveLength(1);
      killedPids.push(run.pid!);
      children = await descendantsOf(run.pid!);
      // Frozen first: a child that outlives its parent must still be found alive below, instead of
      // ending on its own because its stream happened to finish meanwhile.
      for (const child of children) process.kill(child.pid, 'SIGSTOP');
      process.kill(run.pid!, 'SIGKILL');
      await exited;
      const gone = await eventually(
        async () => !(await Promise.all(children.map(alive))).includes(true),
        500,
      );
      if (!gone) {
        for (const child of children)
          if (await alive(child)) {
            survivors.push(`${round}: pid ${child.pid} ${child.command}`);
            // As the OOM killer leaves it: the orphan goes on.
            process.kill(child.pid, 'SIGCONT');
          }
      }
    };

    // A full send killed, again and again, each next run starting at once.
    for (const round of ['full 1', 'full 2', 'full 3']) await killedRun(round);
    expectExit(await snapkeep(['run', '--config', configPath]), 0);
    // Then the incrementals that follow.
    await writeRandomData(data, 160, 'more');
    await chmod(join(data, 'private'), 0o640);
    for (const round of ['incremental 1', 'incremental 2', 'incremental 3']) await killedRun(round);
    expectExit(await snapkeep(['run', '--config', configPath]), 0);

    expect(survivors).toEqual([]);
    // The runs after them removed what the killed ones left in the temp directory.
    for (const pid of killedPids) expect(await fifoDirectoriesOf(pid)).toEqual([]);
    const copies = (await readdir(backups)).sort();
    expect(copies.length).toBeGreaterThanOrEqual(2);
    for (const copy of copies)
      expect(await manifest(join(backups, copy)), `${copy} equals its snapshot`).toEqual(
        await manifest(join(snapshots, copy)),
      );
  }, 900_000);
});
