// The runs the journal records, each with how it ended: what `status` and `doctor logs` report
// as "the last run" (one implementation, so they cannot disagree). A run whose start has no end
// is still running only while its process is (same boot, same process start time); otherwise it
// was killed (SIGKILL, a crash, power loss) and is reported so, never as the run before it.
import type { JournalEntry } from './journal.js';
import { isProcessAlive, type ProcessIdentity } from './process-identity.js';

export type RunState = 'ok' | 'failed' | 'interrupted' | 'killed' | 'running';

export interface RecordedRun {
  readonly id: string;
  readonly command: string;
  readonly state: RunState;
  /** When the run started (its start entry), or ended where no start was recorded. */
  readonly time: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  readonly exitCode?: number;
  readonly signal?: string;
  readonly error?: string;
  readonly pid?: number;
  readonly start?: JournalEntry;
  readonly end?: JournalEntry;
}

/** Is the process that wrote this start entry alive? (Injectable for tests.) */
export type RunProbe = (start: JournalEntry) => boolean;

export const processProbe: RunProbe = (start) => isProcessAlive(start as Partial<ProcessIdentity>);

// `backup` journaled its own start and end before the run lifecycle; those runs stay readable
// (what else older versions wrote at their ends was not a run's outcome: not shown as one).
const legacyStarts = new Map([['backup-start', 'backup']]);
const legacyEnds = new Map([['backup-end', 'backup']]);

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function exitCodeOfEnd(end: JournalEntry): number | undefined {
  if (typeof end.exitCode === 'number') return end.exitCode;
  if (typeof end.ok === 'boolean') return end.ok ? 0 : 1;
  return undefined;
}

function finished(
  id: string,
  command: string,
  start: JournalEntry | undefined,
  end: JournalEntry,
): RecordedRun {
  const exitCode = exitCodeOfEnd(end);
  const signal = text(end.signal);
  return {
    id,
    command,
    state: signal ? 'interrupted' : exitCode === 0 ? 'ok' : 'failed',
    time: start?.time ?? end.time,
    startedAt: start?.time,
    endedAt: end.time,
    exitCode,
    signal,
    error: text(end.error),
    pid: typeof start?.pid === 'number' ? start.pid : undefined,
    start,
    end,
  };
}

/** Every run in the journal, in the order they started (an end without a start: where it ended). */
export function recordedRuns(
  journal: readonly JournalEntry[],
  probe: RunProbe = processProbe,
): RecordedRun[] {
  const runs: { command: string; start?: JournalEntry; end?: JournalEntry }[] = [];
  // Started and not yet ended, by run id (and by kind: a legacy backup pairs with its own end).
  const open = new Map<string, number>();
  for (const entry of journal) {
    const legacy = legacyStarts.has(entry.event) || legacyEnds.has(entry.event);
    const key = `${legacy ? 'legacy' : ''}\u0000${entry.run}`;
    const startCommand = entry.event === 'run-start' ? text(entry.command) : legacyStarts.get(entry.event);
    const endCommand = entry.event === 'run-end' ? text(entry.command) : legacyEnds.get(entry.event);
    if (startCommand !== undefined) {
      open.set(key, runs.length);
      runs.push({ command: startCommand, start: entry });
    } else if (endCommand !== undefined) {
      const index = open.get(key);
      open.delete(key);
      if (index === undefined) runs.push({ command: endCommand, end: entry });
      else runs[index] = { ...runs[index]!, command: endCommand, end: entry };
    }
  }
  return runs.map(({ command, start, end }) => {
    if (end) return finished(end.run, command, start, end);
    const entry = start!;
    return {
      id: entry.run,
      command,
      state: probe(entry) ? 'running' : 'killed',
      time: entry.time,
      startedAt: entry.time,
      pid: typeof entry.pid === 'number' ? entry.pid : undefined,
      start: entry,
    };
  });
}

/** The newest run (of these commands, when given), however it ended. */
export function lastRecordedRun(
  journal: readonly JournalEntry[],
  options: { readonly commands?: readonly string[]; readonly probe?: RunProbe } = {},
): RecordedRun | undefined {
  const runs = recordedRuns(journal, options.probe);
  const commands = options.commands;
  return commands ? runs.filter((run) => commands.includes(run.command)).at(-1) : runs.at(-1);
}

/** One line for people: "snapkeep run, exit 0" / "interrupted by SIGTERM (exit 130)" / "killed …". */
export function describeRunOutcome(run: RecordedRun): string {
  switch (run.state) {
    case 'ok':
    case 'failed':
      return `exit ${run.exitCode ?? '?'}${run.error ? `: ${run.error}` : ''}`;
    case 'interrupted':
      return `interrupted by ${run.signal ?? 'a signal'} (exit ${run.exitCode ?? 130})`;
    case 'running':
      return `still running (pid ${run.pid ?? '?'})`;
    case 'killed':
      return `killed: it never ended and its process${run.pid === undefined ? '' : ` (pid ${run.pid})`} is gone (SIGKILL, a crash or power loss)`;
  }
}
