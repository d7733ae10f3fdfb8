// Watching and starting real processes in tests: the CLI as a child whose PID the test knows
// (to signal it), children found through /proc, and waiting for events (never a fixed sleep).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cliPath } from './cli.js';

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Exit code (or 128 + signal number) and what it wrote, once it has exited. */
  readonly exited: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>;
}

/** Start `snapkeep args` (the built CLI); stdio defaults to ignore/pipe/pipe. */
export function startSnapkeep(
  args: readonly string[],
  options: { env?: Record<string, string>; stdio?: StdioOptions } = {},
): Started {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...options.env },
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) =>
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, pid: child.pid!, exited };
}

/** Poll `condition` until it holds (every 20 ms, up to `attempts` times); the event, not a delay. */
export async function waitUntil<T>(
  what: string,
  condition: () => T | undefined | false | Promise<T | undefined | false>,
  attempts = 1500,
): Promise<T> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const value = await condition();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly argv: readonly string[];
}

/** Every process now, from /proc. */
export function processes(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      found.push({ pid: Number(name), ppid, comm, argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export const childrenOf = (pid: number): ProcessInfo[] => processes().filter((entry) => entry.ppid === pid);

/** Children, their children and so on (a counted `btrfs send` runs under a small shell). */
export function descendantsOf(pid: number): ProcessInfo[] {
  const all = processes();
  const found: ProcessInfo[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const entry of all)
      if (parents.has(entry.ppid) && !parents.has(entry.pid)) {
        parents.add(entry.pid);
        found.push(entry);
        grew = true;
      }
  }
  return found;
}

export function isRunning(pid: number): boolean {
  try {
    // A zombie has exited: it only waits to be reaped.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILL these PIDs (those still there) and wait until they are gone. */
export async function killAndReap(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitUntil(`processes ${pids.join(', ')} to end`, () => pids.every((pid) => !isRunning(pid)));
}
