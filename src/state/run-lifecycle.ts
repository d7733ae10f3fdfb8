// The run lifecycle every command that changes something goes through (`run`, `snapshot`,
// `resume`, `prune`, `clean`, `backup`, `verify`, `restore`, `pull`, `infra apply|destroy`):
// take the lock (waiting for another run only when asked: --lock-wait), journal `run-start`
// with what identifies this process later, run the body, journal `run-end` with the exit code,
// tell the observers (where notifications attach). An interrupt (SIGINT, SIGTERM) writes the
// end with its signal; a run killed outright (SIGKILL, power loss) leaves a start without an end
// whose process is gone, which run-history.ts reports as killed. A run the lock refuses (exit 11)
// journals `run-refused` and is told to the observers too.
import { ExitCode, SnapkeepError } from '../errors.js';
import { abandonLockWaits } from '../exec/flock.js';
import { Journal, newRunId } from './journal.js';
import { compactJournal } from './journal-compaction.js';
import { acquireLock, lockPath, type HeldLock } from './lock.js';
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
  state.lock.release();
  return { ended, journalError };
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

async function notifyObservers(ended: RunEnded): Promise<void> {
  await Promise.all(
    [...observers].map(async (observer) => {
      try {
        await observer.ended(ended);
      } catch (error) {
        observerFailed(ended.stateDir, ended.id, observer, error);
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
): Promise<HeldLock & { notHeld?: string }> {
  try {
    return await acquireLock(stateDir, command, { waitSeconds });
  } catch (error) {
    if (!(error instanceof SnapkeepError) || error.exitCode !== ExitCode.locked) throw error;
    return {
      path: lockPath(stateDir),
      holder: { ...currentProcessIdentity(), command, startedAt: new Date().toISOString() },
      notHeld: error.message,
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
        : await lockUnlessHeld(request.stateDir, request.command, request.lockOptionalAfterSeconds);
  } catch (error) {
    if (error instanceof SnapkeepError && error.exitCode === ExitCode.locked)
      await refuseRun(request, error, asked);
    throw error;
  }
  // Under the lock no other run writes: the moment to keep the journal bounded (never by a run
  // that goes on without the lock). A compaction that fails leaves the journal as it was and
  // never fails the run.
  if (lock.notHeld === undefined) await compactJournal(request.stateDir).catch(() => undefined);
  const startedAt = new Date();
  const id = newRunId(request.now ?? startedAt);
  const run: Run = {
    id,
    command: request.command,
    stateDir: request.stateDir,
    journal: new Journal(request.stateDir, id),
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
  const state: ActiveRun = { run, lock, startedAt, ended: false };
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
  await notifyObservers(ended);
  if (failure !== undefined) throw failure;
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
  return Promise.all([notifyObservers(ended), cleaned]).then(() => undefined);
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
