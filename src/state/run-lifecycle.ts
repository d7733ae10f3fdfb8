// The run lifecycle every command that changes something goes through (`run`, `snapshot`,
// `resume`, `prune`, `clean`, `backup`, `verify`, `restore`, `pull`, `infra apply|destroy`):
// take the lock (waiting for another run only when asked: --lock-wait), journal `run-start`
// with what identifies this process later, run the body, journal `run-end` with the exit code,
// tell the observers (where notifications attach). An interrupt (SIGINT, SIGTERM) writes the
// end with its signal; a run killed outright (SIGKILL, power loss) leaves a start without an end
// whose process is gone, which run-history.ts reports as killed.
//
// A run with a deadline (`answerBy`: `snapshot --deadline`, the pre-sleep job) is back by then
// whatever the state directory does. A frozen or hung disk there must not keep a closed laptop
// awake, and a write that waits in the kernel cannot be abandoned by the thread that made it (nor
// can the process exit while one of its threads waits there). So such a run writes nothing there
// itself: the lock is taken on a read-only descriptor (lock.ts acquireLockBy), its lines go
// through a JournalWriter (processes; journal.ts), and the journal is not compacted (compaction
// is upkeep: it reads and rewrites the whole file, and the next run without a deadline does it).
// Lines the state directory has not taken by the deadline are left behind and named in the error
// the run ends with (exit 3 unless the body's own code says more): what the run did stands.
//
// A run the lock refuses (exit 11) journals `run-refused` and is told to the observers too.
import { ExitCode, SnapkeepError } from '../errors.js';
import { abandonLockWaits } from '../exec/flock.js';
import { Journal, JournalWriter, newRunId } from './journal.js';
import { compactJournal } from './journal-compaction.js';
import { acquireLock, acquireLockBy, lockPath, type HeldLock } from './lock.js';
import { currentProcessIdentity } from './process-identity.js';

export type RunCommand =
  | 'run'
  | 'snapshot'
  | 'resume'
  | 'prune'
  | 'clean'
  | 'backup'
  | 'verify'
  | 'restore'
  | 'pull'
  | 'infra-apply'
  | 'infra-destroy';

export interface RunRequest {
  readonly stateDir: string;
  readonly command: RunCommand;
  /** What `run-start` records besides the lifecycle's own fields (config path, names, …). */
  readonly fields?: Record<string, unknown>;
  /** The clock the run id is made from (tests and previews pass their plan's clock). */
  readonly now?: Date;
  /**
   * Wait for the lock only this long, then run without it (`snapshot --deadline`: see
   * btrfs-run.ts for why that is safe). `run-start` then says so in `lockNotHeld`.
   */
  readonly lockOptionalAfterSeconds?: number;
  /**
   * Epoch ms by which withRun returns, whatever the state directory does (see the top of this
   * file); with lockOptionalAfterSeconds.
   */
  readonly answerBy?: number;
}

export interface Run {
  /** The run id: every journal line of the run carries it (`run`); also restic's run tag. */
  readonly id: string;
  readonly command: RunCommand;
  readonly stateDir: string;
  /** Appends with this run's id; closed once the run's end is written. */
  readonly journal: Journal;
}

/** What a body returns: its exit code (see exitCodeOf), and fields for `run-end`. */
export interface RunResult {
  readonly exitCode: number;
  readonly fields?: Record<string, unknown>;
}

export interface RunEnded {
  readonly id: string;
  readonly command: RunCommand;
  readonly stateDir: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly exitCode: number;
  /** The signal that interrupted the run. */
  readonly signal?: NodeJS.Signals;
  /** The error that ended the run early. */
  readonly error?: string;
  /** The body's fields (as in `run-end`). */
  readonly fields: Record<string, unknown>;
  /** The lock refused the run (exit 11): it never started; `run-refused` records it. */
  readonly refused?: boolean;
}

export interface RunStarted {
  readonly id: string;
  readonly command: RunCommand;
  readonly stateDir: string;
  readonly startedAt: string;
}

/**
 * Where notifications attach: told about every run's end, after it is journaled (interrupted
 * runs too, within the second an interrupt leaves). A failing or throwing observer is journaled
 * (`observer-failed`) and changes nothing else: never the run's exit code.
 */
export interface RunObserver {
  readonly name: string;
  /** Told once `run-start` is written; never waited for (the run goes on at once). */
  started?(run: RunStarted): void | Promise<void>;
  ended(run: RunEnded): void | Promise<void>;
}

const observers = new Set<RunObserver>();

export function addRunObserver(observer: RunObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

interface Settings {
  /** --lock-wait: how long a run waits for another to finish; undefined = fail at once (11). */
  lockWaitSeconds?: number;
}

const settings: Settings = {};

/** Set once by the CLI from its flags (--lock-wait), before the command runs. */
export function configureRuns(change: Settings): void {
  Object.assign(settings, change);
}

/**
 * The one rule from job outcomes to the exit code (README "Exit codes"): 0 when every job
 * succeeded; when every job that did not succeed ended the same way, that way's code (10 when
 * each was unreachable, 3 when each failed); otherwise 3, partial. A run's parts that report a
 * summary code (btrfs jobs and backup sets of one `prune`) combine by the same rule.
 */
export function exitCodeOf(codes: readonly number[]): number {
  const problems = new Set(codes.filter((code) => code !== ExitCode.ok));
  if (problems.size === 0) return ExitCode.ok;
  if (problems.size === 1) return [...problems][0]!;
  return ExitCode.partial;
}

interface ActiveRun {
  readonly run: Run;
  readonly lock: HeldLock & { notHeld?: string };
  readonly startedAt: Date;
  /** With a deadline: the run's lines go through it, and the lock is let go once it settled. */
  readonly writer?: { readonly journal: JournalWriter; readonly answerBy: number };
  ended: boolean;
}

// One run per process at a time; a withRun inside it (a verify's restore drill) joins it.
let active: ActiveRun | undefined;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Write the end, close the journal, release the lock: synchronous, so an interrupt can too. */
function endRun(
  state: ActiveRun,
  end: { exitCode: number; signal?: NodeJS.Signals; error?: string; fields?: Record<string, unknown> },
): { ended: RunEnded; journalError?: unknown } {
  state.ended = true;
  if (active === state) active = undefined;
  const endedAt = new Date();
  const ended: RunEnded = {
    id: state.run.id,
    command: state.run.command,
    stateDir: state.run.stateDir,
    startedAt: state.startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    exitCode: end.exitCode,
    signal: end.signal,
    error: end.error,
    fields: end.fields ?? {},
  };
  let journalError: unknown;
  try {
    state.run.journal.appendNow(
      'run-end',
      Object.assign({ command: state.run.command }, end.fields, {
        command: state.run.command,
        exitCode: end.exitCode,
        ...(end.signal ? { signal: end.signal } : {}),
        ...(end.error !== undefined ? { error: end.error } : {}),
        durationMs: endedAt.getTime() - state.startedAt.getTime(),
      }),
    );
  } catch (error) {
    journalError = error;
  }
  state.run.journal.close();
  if (!state.writer) state.lock.release();
  return { ended, journalError };
}

/** A deadline run's lines that did not reach the journal in time, as the error the run ends with. */
function notRecorded(
  path: string,
  exitCode: number,
  { pending, failed }: { pending: readonly string[]; failed: readonly string[] },
): SnapkeepError | undefined {
  if (pending.length === 0 && failed.length === 0) return undefined;
  const parts = [
    ...(pending.length > 0
      ? [
          `${pending.length} line(s) still waited for the state directory at the deadline (${pending.join(', ')}; a write already under way lands if the directory answers later)`,
        ]
      : []),
    ...(failed.length > 0 ? [`writing failed: ${failed.join('; ')}`] : []),
  ];
  return new SnapkeepError(
    `NOT RECORDED: this run is not (fully) in the journal ${path}: ${parts.join('; ')}. What it did stands (the snapshots it reports as taken are there, and the next run finds them); status does not know of it.`,
    exitCode === ExitCode.ok ? ExitCode.partial : (exitCode as ExitCode),
  );
}

function observerFailed(stateDir: string, run: string, observer: RunObserver, error: unknown): void {
  try {
    new Journal(stateDir, run).appendNow('observer-failed', {
      observer: observer.name,
      error: messageOf(error),
    });
  } catch {
    // The state directory refuses writes; the run's own end says more than this would.
  }
}

async function notifyObservers(ended: RunEnded, answerBy?: number): Promise<void> {
  await Promise.all(
    [...observers].map(async (observer) => {
      try {
        await observer.ended(ended);
      } catch (error) {
        // After the lock is let go: written as a run without the lock writes (journal.ts), so a
        // compaction the next run starts meanwhile keeps it. A state directory that refuses it
        // changes nothing: the run's own end says more than this would.
        const writer = new JournalWriter(ended.stateDir);
        new Journal(ended.stateDir, ended.id, writer).appendNow('observer-failed', {
          observer: observer.name,
          error: messageOf(error),
        });
        await writer.settle(answerBy);
      }
    }),
  );
}

function notifyStarted(started: RunStarted): void {
  for (const observer of observers)
    if (observer.started)
      void Promise.resolve()
        .then(() => observer.started?.(started))
        .catch((error: unknown) => {
          observerFailed(started.stateDir, started.id, observer, error);
        });
}

/**
 * The lock refused the run (exit 11): journal `run-refused` (a run that never started has no
 * `run-start`), and tell the observers, so a scheduled run that could not run is not silent.
 */
async function refuseRun(request: RunRequest, error: SnapkeepError, asked: number): Promise<void> {
  const id = newRunId(request.now ?? new Date(asked));
  const fields = {
    command: request.command,
    exitCode: ExitCode.locked,
    error: error.message,
    ...(process.env.SNAPKEEP_JOB ? { job: process.env.SNAPKEEP_JOB } : {}),
    ...(process.env.INVOCATION_ID ? { invocation: process.env.INVOCATION_ID } : {}),
  };
  try {
    new Journal(request.stateDir, id).appendNow('run-refused', fields);
  } catch {
    // The refusal itself is what the caller reports (exit 11).
  }
  await notifyObservers({
    id,
    command: request.command,
    stateDir: request.stateDir,
    startedAt: new Date(asked).toISOString(),
    endedAt: new Date().toISOString(),
    exitCode: ExitCode.locked,
    error: error.message,
    fields: {},
    refused: true,
  });
}

/** The lock if another run lets go of it within `waitSeconds`; else a stand-in saying why not. */
async function lockUnlessHeld(
  stateDir: string,
  command: RunCommand,
  waitSeconds: number,
  answerBy: number | undefined,
): Promise<HeldLock & { notHeld?: string }> {
  try {
    return answerBy === undefined
      ? await acquireLock(stateDir, command, { waitSeconds })
      : // Making a missing lock file (the only writes here) gets the lock's share of the time.
        await acquireLockBy(
          stateDir,
          command,
          waitSeconds,
          Math.min(answerBy, Date.now() + waitSeconds * 1000),
        );
  } catch (error) {
    // Under a deadline a state directory that does not answer is no reason to stop either.
    const locked = error instanceof SnapkeepError && error.exitCode === ExitCode.locked;
    if (!locked && answerBy === undefined) throw error;
    return {
      path: lockPath(stateDir),
      holder: { ...currentProcessIdentity(), command, startedAt: new Date().toISOString() },
      notHeld: locked ? error.message : `the lock could not be taken: ${messageOf(error)}`,
      release() {},
    };
  }
}

/**
 * Run `body` as one run of `command`: locked, journaled from start to end, its exit code the
 * body's (or the error's). Errors propagate after the end is written. Nested in a run of this
 * process, the body joins that run (no second lock, no second start and end).
 */
export async function withRun(
  request: RunRequest,
  body: (run: Run) => Promise<number | RunResult>,
): Promise<number> {
  if (active) {
    const joined = await body(active.run);
    return typeof joined === 'number' ? joined : joined.exitCode;
  }
  const waitSeconds = settings.lockWaitSeconds;
  const asked = Date.now();
  let lock: HeldLock & { notHeld?: string };
  try {
    lock =
      request.lockOptionalAfterSeconds === undefined
        ? await acquireLock(request.stateDir, request.command, { waitSeconds })
        : await lockUnlessHeld(
            request.stateDir,
            request.command,
            request.lockOptionalAfterSeconds,
            request.answerBy,
          );
  } catch (error) {
    if (error instanceof SnapkeepError && error.exitCode === ExitCode.locked)
      await refuseRun(request, error, asked);
    throw error;
  }
  // Under the lock no other run writes: the moment to keep the journal bounded (never by a run
  // that goes on without the lock, nor under a deadline). A compaction that fails leaves the
  // journal as it was and never fails the run.
  if (lock.notHeld === undefined && request.answerBy === undefined)
    await compactJournal(request.stateDir).catch(() => undefined);
  const startedAt = new Date();
  const id = newRunId(request.now ?? startedAt);
  const writer =
    request.answerBy === undefined
      ? undefined
      : { journal: new JournalWriter(request.stateDir), answerBy: request.answerBy };
  const run: Run = {
    id,
    command: request.command,
    stateDir: request.stateDir,
    journal: new Journal(request.stateDir, id, writer?.journal),
  };
  try {
    const { pid, host, bootId, processStart } = lock.holder;
    // command first, for people reading the journal; the lifecycle's fields win over the caller's.
    run.journal.appendNow(
      'run-start',
      Object.assign({ command: request.command }, request.fields, {
        command: request.command,
        pid,
        host,
        bootId,
        processStart,
        ...(process.env.SNAPKEEP_JOB ? { job: process.env.SNAPKEEP_JOB } : {}),
        ...(process.env.INVOCATION_ID ? { invocation: process.env.INVOCATION_ID } : {}),
        ...(waitSeconds || request.lockOptionalAfterSeconds !== undefined
          ? { lockWaitMs: startedAt.getTime() - asked }
          : {}),
        ...(lock.notHeld === undefined ? {} : { lockNotHeld: lock.notHeld }),
      }),
    );
  } catch (error) {
    lock.release();
    throw error;
  }
  const state: ActiveRun = { run, lock, startedAt, ...(writer ? { writer } : {}), ended: false };
  active = state;
  notifyStarted({
    id,
    command: request.command,
    stateDir: request.stateDir,
    startedAt: startedAt.toISOString(),
  });
  let result: RunResult;
  let failure: Error | undefined;
  try {
    const returned = await body(run);
    result = typeof returned === 'number' ? { exitCode: returned } : returned;
  } catch (error) {
    failure = error instanceof Error ? error : new Error(messageOf(error));
    result = { exitCode: error instanceof SnapkeepError ? error.exitCode : ExitCode.fatal };
  }
  // Interrupted meanwhile: the end is written, the process is on its way out.
  if (state.ended) return ExitCode.interrupted;
  const { ended, journalError } = endRun(state, {
    ...result,
    ...(failure !== undefined ? { error: failure.message } : {}),
  });
  const unrecorded =
    writer && notRecorded(run.journal.path, result.exitCode, await writer.journal.settle(writer.answerBy));
  lock.release();
  await notifyObservers(ended, writer?.answerBy);
  if (failure !== undefined) throw failure;
  if (unrecorded) throw unrecorded;
  if (journalError !== undefined)
    throw new SnapkeepError(
      `the run's end could not be written to the journal ${run.journal.path}: ${messageOf(journalError)}`,
    );
  return result.exitCode;
}

/**
 * An interrupt (SIGINT, SIGTERM): stop waiting for a lock, write the active run's end with the
 * signal and exit code 130, release the lock. Call before stopping the children, so what they
 * report on their way down is not the run's end. Resolves when the observers are done.
 */
export function interruptRuns(signal: NodeJS.Signals): Promise<void> {
  abandonLockWaits();
  const state = active;
  if (!state) return Promise.resolve();
  const { ended } = endRun(state, { exitCode: ExitCode.interrupted, signal });
  // After the caller has stopped the children (it does so right after this returns).
  const cleaned = new Promise((resolve) => setImmediate(resolve)).then(() =>
    Promise.allSettled([...interruptCleanups].map((cleanup) => cleanup())),
  );
  // A deadline run's end is written by a process started after this returns (journal.ts), so
  // stopping the children does not stop it; it is waited for as long as the exit allows.
  const written = state.writer?.journal.settle(state.writer.answerBy).then(() => {
    state.lock.release();
  });
  return Promise.all([notifyObservers(ended, state.writer?.answerBy), cleaned, written]).then(
    () => undefined,
  );
}

const interruptCleanups = new Set<() => Promise<void>>();

/**
 * Work an interrupt waits for (within the second it leaves), started once the children are
 * stopped: removing what a run made only for itself (a drill's scratch copy). Returns the way to
 * withdraw it once the run removed it itself.
 */
export function cleanUpOnInterrupt(cleanup: () => Promise<void>): () => void {
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

// A process that exits with a run still open (process.exit elsewhere, an uncaught exception)
// writes the end it can, rather than leaving the run to look killed.
process.on('exit', (code) => {
  if (!active) return;
  endRun(active, {
    exitCode: code === 0 ? ExitCode.fatal : code,
    error: 'snapkeep exited before the run ended',
  });
});
