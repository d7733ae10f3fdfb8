// Which process a run is, in a form that stays true across reboots and PID reuse: a PID alone
// may belong to an unrelated process later (after a reboot, or once PIDs wrap), so a run records
// the boot it ran in and its process's start time (clock ticks after boot, /proc/<pid>/stat
// field 22); the same PID with the same boot id and start time is the same process.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface ProcessIdentity {
  readonly pid: number;
  readonly host: string;
  /** /proc/sys/kernel/random/boot_id; undefined where there is none (not Linux). */
  readonly bootId?: string;
  /** Field 22 of /proc/<pid>/stat (starttime). */
  readonly processStart?: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

let bootIdCache: string | undefined;

export function currentBootId(): string | undefined {
  bootIdCache ??= readText('/proc/sys/kernel/random/boot_id')?.trim();
  return bootIdCache;
}

/** The start time of a live process, or undefined when there is no such process. */
export function processStartOf(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so count after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[22 - 3]);
  return Number.isSafeInteger(start) ? start : undefined;
}

export function currentProcessIdentity(): ProcessIdentity {
  return {
    pid: process.pid,
    host: hostname(),
    bootId: currentBootId(),
    processStart: processStartOf(process.pid),
  };
}

/**
 * Whether the process that recorded `identity` is still alive: same host, same boot, and the
 * PID's process started at the recorded time. Without a recorded boot id or start time (an
 * entry of an older snapkeep) the answer is no: such a run cannot be told apart from a stranger
 * with its PID.
 */
export function isProcessAlive(identity: Partial<ProcessIdentity>): boolean {
  if (identity.pid === undefined || identity.bootId === undefined || identity.processStart === undefined)
    return false;
  if (identity.host !== undefined && identity.host !== hostname()) return false;
  if (identity.bootId !== currentBootId()) return false;
  return processStartOf(identity.pid) === identity.processStart;
}
