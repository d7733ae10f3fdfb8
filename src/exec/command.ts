// The one module that spawns processes (DESIGN.md: "only exec/ spawns").
// Commands are data: a file and an argv array, never a shell string. Secrets reach children only
// through the environment or files, and every message built here masks known secret values.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boundToThisProcess, resolveExecutable } from './child-lifetime.js';
import { childProcess } from './child-process.js';
import { fifoDirectoryPrefix, removeStaleFifoDirectories } from './stale-fifos.js';

export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  /**
   * Extra environment variables, merged over what children inherit (process.env without the
   * secrets: see withholdFromChildren). Values here may be secrets: a child gets a secret only
   * when its spec passes it here.
   */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Text written to stdin (then closed). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

export interface CommandResult {
  readonly spec: CommandSpec;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

/** Values that must never appear in messages; registered by whoever resolves secrets. */
const knownSecrets = new Set<string>();

export function registerSecret(value: string): void {
  // Very short values would mask ordinary words; secrets that short are refused at config level.
  if (value.length >= 4) knownSecrets.add(value);
}

/** Variables of snapkeep's environment that hold secrets (named by `env:` references). */
const secretVariables = new Set<string>();

/**
 * No child inherits the variable `name` from snapkeep's environment (only one whose spec passes
 * it): the variables `env:` references name, declared as soon as the configuration is read, so
 * a child started before the secret is resolved does not get it either.
 */
export function withholdFromChildren(name: string): void {
  secretVariables.add(name);
}

export function maskSecrets(text: string): string {
  let masked = text;
  for (const secret of knownSecrets) masked = masked.split(secret).join('***');
  return masked;
}

/** Quote one argument for display only (never executed). */
function quoteForDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function formatCommand(spec: CommandSpec): string {
  return maskSecrets([spec.file, ...spec.args].map(quoteForDisplay).join(' '));
}

export class CommandError extends Error {
  constructor(
    readonly result: CommandResult,
    summary?: string,
  ) {
    const detail = lastLines(result.stderr) || lastLines(result.stdout);
    const status = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    super(maskSecrets(summary ?? `${formatCommand(result.spec)} ${status}${detail ? `: ${detail}` : ''}`));
    this.name = 'CommandError';
  }
}

function lastLines(text: string, count = 3): string {
  return text.trim().split('\n').slice(-count).join(' | ');
}

/** SNAPKEEP_DEBUG=1: every command on stderr with its start (ms since snapkeep started), outcome
 *  and duration; arguments are masked like every other message. */
const debug = Boolean(process.env.SNAPKEEP_DEBUG);

// Children alive right now, so an interrupt (SIGINT/SIGTERM) can stop them before we exit 130.
const liveChildren = new Set<ChildProcess>();

export function terminateAllChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of liveChildren) child.kill(signal);
}

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('close', () => liveChildren.delete(child));
}

/**
 * Start `spec` with these stdio wirings, among the children an interrupt stops, bound to this
 * process's life (child-lifetime.ts). `counted`: the bytes it writes are counted exactly (see
 * countingScript); its count is read with countOf. `then`: run by the counting shell after a
 * counted command that exited 0, its stdout the child's (see countingScript).
 */
function start(spec: CommandSpec, stdio: StdioOptions, counted = false, then?: CommandSpec): ChildProcess {
  const env = environmentFor(spec);
  // Found as spawn would find it; one that is not is spawned as it is, so spawn reports it
  // missing (ENOENT) as it always did.
  const executable = resolveExecutable(spec.file, env.PATH);
  const shell = counted ? resolveExecutable('sh', env.PATH) : undefined;
  let { file, args } = executable ? boundToThisProcess(executable, spec.args) : spec;
  if (executable && shell) {
    const first = [file, ...args];
    const thenExecutable = then && resolveExecutable(then.file, env.PATH);
    // One that is not found is not run: `false` stands in, so its report says it failed.
    const next = thenExecutable ? boundToThisProcess(thenExecutable, then.args) : undefined;
    ({ file, args } = boundToThisProcess(shell, [
      '-c',
      countingScript,
      'sh',
      String(first.length),
      ...first,
      ...(next ? [next.file, ...next.args] : then ? ['false'] : []),
    ]));
  }
  const child = childProcess().spawn(file, [...args], {
    cwd: spec.cwd,
    env,
    stdio: executable && shell ? ([...(stdio as readonly unknown[]), 'pipe'] as StdioOptions) : stdio,
  });
  if (debug) spawnedAt.set(child, performance.now());
  if (executable && shell) countOf.set(child, countReport(child));
  track(child);
  return child;
}

/**
 * Counting a stream exactly without Node in its path. The kernel's per-process counter of bytes
 * written (/proc/PID/io wchar) is exact for a process that writes only the stream (`btrfs send
 * -q`, `zstd -d -q`, `cat`), but it can be read only while the process lives, and a sample
 * before its exit misses the tail (a short stream entirely). When a parent reaps a child, the
 * kernel adds the child's counters to the parent's: a shell that runs the command, waits for
 * it and reads its own counter before and after (it writes nothing in between; the counter does
 * not start at 0: it includes what the spawning code wrote before exec) reads the child's
 * total, and reports it on fd 3. The command is bound to the shell's life as the shell to ours.
 * A fixed script: the commands reach it only as "$@" (N, the counted command's N words, then
 * the follow-up's), never as text to interpret.
 *
 * The follow-up (`then`) saves a process start on Node's main thread, where every start blocks
 * the event loop for a fork of the whole Node process: it runs after the count is taken (so it
 * is not counted), only when the counted command exited 0, with the shell's stdout and its
 * stderr on fd 3; its exit status follows on fd 3 as `then STATUS` (see countReport).
 */
const countingScript = [
  'written() { while read -r name value; do [ "$name" = wchar: ] && written=$value; done < /proc/$$/io; }',
  // The first N words (rotated to the end, then the rest shifted away), and the words after them.
  'first() { i=0; while [ "$i" -lt "$n" ]; do a=$1; shift; set -- "$@" "$a"; i=$((i + 1)); done; shift $(($# - n)); "$@"; }',
  'rest() { shift "$n"; "$@"; }',
  'n=$1; shift',
  'written; before=$written',
  // With a follow-up, stdout is the follow-up's alone.
  'if [ "$#" -gt "$n" ]; then first "$@" >/dev/null 3>&-; else first "$@" 3>&-; fi; status=$?',
  'written; echo $((written - before)) >&3',
  'if [ "$status" -eq 0 ] && [ "$#" -gt "$n" ]; then rest "$@" 2>&3 3>&-; printf "\\nthen %s\\n" "$?" >&3; fi',
  'exit $status',
].join('\n');

/** What a counting shell reported on fd 3 (countingScript). */
interface CountReport {
  /** The counted command's exact count; undefined if it did not end normally. */
  readonly count?: number;
  /** The follow-up's exit status and stderr, when it ran to its end. */
  readonly then?: { readonly status: number; readonly stderr: string };
}

// What a counted child reports after its command ended.
const countOf = new WeakMap<ChildProcess, Promise<CountReport>>();

function countReport(child: ChildProcess): Promise<CountReport> {
  const report = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
  if (!report) return Promise.resolve({});
  let text = '';
  report.setEncoding('utf8');
  report.on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve) => {
    report.once('close', () => {
      const counted = /^(\d+)\n/.exec(text);
      // The follow-up's stderr comes between the count and its status line (which starts with a
      // newline of its own: stderr need not end with one).
      const then = counted && /\nthen (\d+)\n$/.exec(text);
      resolve({
        ...(counted ? { count: Number(counted[1]) } : {}),
        ...(counted && then
          ? { then: { status: Number(then[1]), stderr: text.slice(counted[0].length, then.index) } }
          : {}),
      });
    });
    report.once('error', () => {
      resolve({});
    });
  });
}

/** The process whose /proc counters show a counted child's progress: the command the shell runs. */
async function countedProcessId(child: ChildProcess): Promise<number | undefined> {
  if (child.pid === undefined) return undefined;
  if (!countOf.has(child)) return child.pid;
  const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
  const first = Number(children.trim().split(/\s+/)[0]);
  return first > 0 ? first : undefined;
}

/** A moment worth seeing in SNAPKEEP_DEBUG's timeline (it goes where the command lines go). */
export function debugNote(text: string): void {
  if (debug) process.stderr.write(`snapkeep debug: +${performance.now().toFixed(0)}ms ${text}\n`);
}

// When each child started (SNAPKEEP_DEBUG only): stages of a pipe may start at different times.
const spawnedAt = new WeakMap<ChildProcess, number>();

/**
 * What a child's environment is: snapkeep's own without any variable that holds a secret (named
 * by an `env:` reference, or whose value is one registered as secret, under whatever name), then
 * what its spec passes. So psql, mkfifo or btrfs never see the restic password; restic gets it
 * because its spec says so.
 */
function environmentFor(spec: CommandSpec): NodeJS.ProcessEnv {
  const inherited: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || secretVariables.has(name)) continue;
    if (knownSecrets.has(value)) continue;
    inherited[name] = value;
  }
  // LC_ALL=C: we parse tool output, so it must not be translated.
  return { ...inherited, LC_ALL: 'C', ...spec.env };
}

/** What a caller watches of a running command, besides its result. */
export interface CommandObserver {
  /** Each whole line of stdout as it comes (restic's --json status lines); stdout is kept too. */
  readonly onStdoutLine?: (line: string) => void;
}

/** Calls `onLine` for each whole line of the chunks fed to it (the last one when it ends). */
function lineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  let partial = '';
  return (chunk) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  };
}

/** `stdout: false`: its stdout is someone else's to read (runConsumingStdout); the result's is ''. */
function collect(
  child: ChildProcess,
  spec: CommandSpec,
  startedAt: number,
  { stdout = true, onStdoutLine }: { readonly stdout?: boolean } & CommandObserver = {},
): Promise<CommandResult> {
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  if (stdout) child.stdout?.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  if (stdout && onStdoutLine) child.stdout?.on('data', lineSplitter(onStdoutLine));
  child.stderr?.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    if (spec.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs);
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      // The code stays on the error: callers that know better install hints check it.
      reject(
        Object.assign(
          new Error(
            error.code === 'ENOENT'
              ? `${spec.file}: command not found (is it installed? run scripts/install-deps.sh)`
              : maskSecrets(`${spec.file}: ${error.message}`),
          ),
          { code: error.code },
        ),
      );
    });
    child.once('close', (exitCode, signal) => {
      if (timer) clearTimeout(timer);
      if (debug) {
        // Started at +N ms of this process; the duration is the process's own.
        const now = performance.now();
        const began = spawnedAt.get(child) ?? now;
        process.stderr.write(
          `snapkeep debug: +${began.toFixed(0)}ms ${formatCommand(spec)} → ${signal ?? `exit ${exitCode}`} in ${(now - began).toFixed(0)} ms\n`,
        );
      }
      resolve({
        spec,
        exitCode,
        signal,
        stdout: Buffer.concat(stdoutChunks).toString('utf8'),
        stderr: Buffer.concat(stderrChunks).toString('utf8'),
        durationMs: Date.now() - startedAt,
      });
    });
  });
}

/** Run a command to completion; a non-zero exit is a result, not an exception. */
export function runCommand(spec: CommandSpec, observer: CommandObserver = {}): Promise<CommandResult> {
  const startedAt = Date.now();
  const child = start(spec, [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']);
  if (spec.input !== undefined) child.stdin?.end(spec.input);
  return collect(child, spec, startedAt, observer);
}

/** Run a command and throw a CommandError (masked, with the tail of stderr) unless it exits 0. */
export async function runChecked(spec: CommandSpec): Promise<CommandResult> {
  const result = await runCommand(spec);
  if (result.exitCode !== 0) throw new CommandError(result);
  return result;
}

export interface ConsumedResult<T> {
  /** How the command ended; its stdout went to the consumer (here ''). */
  readonly result: CommandResult;
  /** What the consumer returned; undefined when the command failed on its own before it could. */
  readonly consumed?: T;
}

/**
 * Run a command whose stdout is read as it comes by `consume` (a btrfs send stream: too large to
 * collect into one string, and binary): chunk by chunk with backpressure — the command waits while
 * the consumer is busy — so it is never held whole. The consumer should read to the end; if it
 * returns before, the rest is discarded (the command sees a closed pipe). A consumer that throws
 * while the command still writes stops it (SIGTERM) and its error is thrown: the stream was bad. One
 * that throws after the stream ended is thrown too unless the command failed on its own: then the
 * result says why (a stream cut short by a failing command is that command's failure).
 */
export async function runConsumingStdout<T>(
  spec: CommandSpec,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
): Promise<ConsumedResult<T>> {
  const startedAt = Date.now();
  const child = start(spec, ['ignore', 'pipe', 'pipe']);
  const done = collect(child, spec, startedAt, { stdout: false });
  // Awaited below; a spawn failure must not count as unhandled while the consumer runs.
  void done.catch(() => undefined);
  const stdout = child.stdout!;
  let consumed: T;
  try {
    consumed = await consume(stdout);
  } catch (error) {
    const streamEnded = stdout.readableEnded;
    if (!streamEnded) child.kill('SIGTERM');
    stdout.destroy();
    const result = await done;
    if (streamEnded && result.exitCode !== 0) return { result };
    throw error;
  }
  stdout.destroy();
  return { result: await done, consumed };
}

export interface PipeProgress {
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface PipelineResult {
  /** One result per stage, in pipeline order (with measure 'consumer': see there). */
  readonly stages: readonly CommandResult[];
  /** The stream's length: exact when the counted stage ended normally, else the last sample. */
  readonly bytes: number;
}

export interface PipelineOptions {
  readonly onProgress?: (progress: PipeProgress) => void;
  readonly progressIntervalMs?: number;
  /**
   * Where the stream is counted (see countingWrapper): at the first stage, which writes exactly
   * the stream (`btrfs send`; the default), or as the last stage reads it ('consumer', when the
   * stream comes from another host): then a counting `cat` runs before the last stage (and is
   * among the stages), because no local process writes exactly the stream there (an ssh client
   * on a shared connection writes none of it, zstd only when the host compresses).
   */
  readonly measure?: 'producer' | 'consumer';
  /** Aborting kills every stage (used for interrupts and tests). */
  readonly signal?: AbortSignal;
}

/** Bytes a process has written so far (wchar), from /proc (Linux): progress without Node in the
 *  data path. */
async function bytesWritten(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const io = await readFile(`/proc/${pid}/io`, 'utf8');
    const match = /^wchar:\s*(\d+)/m.exec(io);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The counting stage of a stream that comes from elsewhere (measure 'consumer'). */
const streamCounter: CommandSpec = { file: 'cat', args: [] };

/**
 * stage | stage | …, joined at the file-descriptor level: the bulk data never passes through
 * Node, so a pipeline costs what the shell's pipe costs. If any stage fails, the others are
 * killed so a half-written stream is never mistaken for a complete one.
 */
export async function runPipeline(
  stageSpecs: readonly CommandSpec[],
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  if (stageSpecs.length < 2) throw new Error('a pipeline needs at least two stages');
  const specs =
    options.measure === 'consumer'
      ? [...stageSpecs.slice(0, -1), streamCounter, stageSpecs.at(-1)!]
      : stageSpecs;
  const counted = options.measure === 'consumer' ? specs.length - 2 : 0;
  const startedAt = Date.now();
  const children: ChildProcess[] = [];
  for (const [index, spec] of specs.entries()) {
    const previous = children.at(-1);
    const child = start(spec, [previous?.stdout ?? 'ignore', 'pipe', 'pipe'], index === counted);
    // The next stage owns the read end now; closing ours makes EOF/EPIPE propagate as in a shell.
    previous?.stdout?.destroy();
    children.push(child);
  }
  return superviseStages(children, specs, startedAt, options, children[counted]!);
}

/**
 * Waits for stages that together move one stream and samples progress from /proc. A stage that
 * fails stops every stage (unless `onStageFailed` decides otherwise), so a half-written stream is
 * never mistaken for a complete one. `counted`: the stage started counted (see start()).
 */
async function superviseStages(
  children: readonly ChildProcess[],
  specs: readonly CommandSpec[],
  startedAt: number,
  options: PipelineOptions,
  counted: ChildProcess,
  onStageFailed: (index: number, stopAll: () => void) => void | Promise<void> = (_index, stopAll) => {
    stopAll();
  },
  /** A stage whose stdout someone else reads (a follow-up's, see runJoinedByFifo). */
  readElsewhere?: ChildProcess,
): Promise<PipelineResult> {
  const stopSampling = sampleProgress(
    async () => bytesWritten(await countedProcessId(counted)),
    startedAt,
    options,
  );
  const killAll = (): void => {
    for (const child of children) child.kill('SIGTERM');
  };
  options.signal?.addEventListener('abort', killAll, { once: true });

  const done = children.map((child, index) =>
    collect(child, specs[index]!, startedAt, { stdout: child !== readElsewhere }).then(async (result) => {
      if (result.exitCode !== 0) await onStageFailed(index, killAll);
      return result;
    }),
  );
  try {
    const stages = await Promise.all(done);
    const sampled = stopSampling();
    return { stages, bytes: (await countOf.get(counted))?.count ?? sampled };
  } finally {
    stopSampling();
    options.signal?.removeEventListener('abort', killAll);
  }
}

/**
 * Reports progress from /proc counters while a stream runs (when asked to); the returned
 * function stops sampling and gives the last sample (the length when no exact count came).
 */
function sampleProgress(
  count: () => Promise<number | undefined>,
  startedAt: number,
  options: PipelineOptions,
): () => number {
  let lastBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  if (options.onProgress) {
    const report = options.onProgress;
    const interval = options.progressIntervalMs ?? 500;
    const sample = (): void => {
      void count().then((bytes) => {
        if (bytes !== undefined && !finished) {
          lastBytes = Math.max(lastBytes, bytes);
          report({ bytes: lastBytes, elapsedMs: Date.now() - startedAt });
        }
      });
      if (!finished) timer = setTimeout(sample, interval);
    };
    timer = setTimeout(sample, interval);
  }
  return () => {
    finished = true;
    if (timer) clearTimeout(timer);
    return lastBytes;
  };
}

/**
 * Named pipes for processes that open their stream by path, one per concurrent use, in a private
 * directory made on first use and removed when this process exits (or, if it is killed, by the
 * next run: stale-fifos.ts). A FIFO is reused after both
 * ends have closed (nothing is left in it then); creating one costs a `mkfifo` process (Node has
 * no mkfifo), so they are kept.
 */
const fifoPool = {
  directory: undefined as Promise<string> | undefined,
  idle: [] as string[],
  made: 0,
  /** A FIFO being made for prepareFifo (fifty snapshots at once must not make fifty). */
  preparing: false,
};

async function acquireFifo(): Promise<string> {
  const idle = fifoPool.idle.pop();
  if (idle) return idle;
  fifoPool.directory ??= (async () => {
    // What killed runs left (their exit handler never ran) goes first: it is small and async.
    await removeStaleFifoDirectories(tmpdir());
    const directory = await mkdtemp(join(tmpdir(), fifoDirectoryPrefix()));
    process.once('exit', () => {
      rmSync(directory, { recursive: true, force: true });
    });
    return directory;
  })();
  const fifo = join(await fifoPool.directory, String(fifoPool.made++));
  const made = await runCommand({ file: 'mkfifo', args: ['-m', '600', '--', fifo] });
  if (made.exitCode !== 0) throw new Error(`mkfifo ${fifo}: ${made.stderr.trim()}`);
  return fifo;
}

/** Remove the FIFOs now (this process exiting does it too; for callers that live on, e.g. tests). */
export async function closeFifoPool(): Promise<void> {
  const directory = fifoPool.directory;
  fifoPool.directory = undefined;
  fifoPool.idle.length = 0;
  if (directory) await rm(await directory, { recursive: true, force: true });
}

/** Make one FIFO ahead of its use (its mkfifo then overlaps other work); errors surface later. */
export function prepareFifo(): void {
  if (fifoPool.idle.length > 0 || fifoPool.made > 0 || fifoPool.preparing) return;
  fifoPool.preparing = true;
  void acquireFifo()
    .then(
      (fifo) => fifoPool.idle.push(fifo),
      () => undefined,
    )
    .finally(() => (fifoPool.preparing = false));
}

/**
 * producer and consumer joined by a kernel pipe they open themselves by path (`btrfs send -f`,
 * `btrfs receive -f`). Node's stdio pipe is a socketpair, and `btrfs receive` reads its stream
 * in many small pieces: through a socket a local transfer took ~20 % longer than the shell's
 * `send | receive` (measured: 38 vs 31 ms for a 10 MB incremental stream); through a FIFO it
 * costs the same. Failure handling and progress are runPipeline's. `then`: a command the
 * producer's process runs after it (FollowUp).
 */
export async function runJoinedByFifo<T = never>(
  build: (fifo: string) => readonly [CommandSpec, CommandSpec],
  options: PipelineOptions = {},
  then?: FollowUp<T>,
): Promise<JoinedResult<T>> {
  const fifo = await acquireFifo();
  const [producerSpec, consumerSpec] = build(fifo);
  const startedAt = Date.now();
  // Counted at the producer, which writes exactly the stream (the receive reads other files too).
  const producer = start(producerSpec, ['ignore', 'pipe', 'pipe'], true, then?.spec);
  const consumer = start(consumerSpec, ['ignore', 'pipe', 'pipe']);
  const followed = then && consumeFollowUp(producer, then);
  // Settled below; a rejection must not count as unhandled while the stages run.
  void followed?.catch(() => undefined);
  try {
    const result = await superviseStages(
      [producer, consumer],
      [producerSpec, consumerSpec],
      startedAt,
      options,
      producer,
      undefined,
      then ? producer : undefined,
    );
    // A follow-up whose output could not be read does not undo the transfer: it says why.
    return followed && then
      ? {
          ...result,
          then: await followed.catch((error: unknown): ConsumedResult<T> => ({
            result: {
              spec: then.spec,
              exitCode: null,
              signal: null,
              stdout: '',
              stderr: error instanceof Error ? error.message : String(error),
              durationMs: Date.now() - startedAt,
            },
          })),
        }
      : result;
  } finally {
    // Both ends are closed once both processes are gone: the FIFO is empty and reusable.
    fifoPool.idle.push(fifo);
  }
}

/**
 * A command run after the producer of runJoinedByFifo has ended well, by the process that
 * counted it (countingScript), so it costs no process start of its own; its stdout is read by
 * `consume` as runConsumingStdout's is.
 */
export interface FollowUp<T> {
  readonly spec: CommandSpec;
  readonly consume: (stdout: AsyncIterable<Buffer>) => Promise<T>;
}

export interface JoinedResult<T> extends PipelineResult {
  /** The follow-up's, when one was asked for; exit code null when it did not run. */
  readonly then?: ConsumedResult<T>;
}

/** The follow-up's result, with runConsumingStdout's rules for a consumer that throws. */
async function consumeFollowUp<T>(child: ChildProcess, then: FollowUp<T>): Promise<ConsumedResult<T>> {
  const startedAt = Date.now();
  const stdout = child.stdout!;
  const outcome = await then.consume(stdout).then(
    (value) => ({ value }),
    (error: unknown) => ({ error, streamEnded: stdout.readableEnded }),
  );
  stdout.destroy();
  const report = (await countOf.get(child))?.then;
  if (debug) debugNote(`then ${formatCommand(then.spec)} → ${report ? `exit ${report.status}` : 'not run'}`);
  const result: CommandResult = {
    spec: then.spec,
    exitCode: report?.status ?? null,
    signal: null,
    stdout: '',
    stderr: report?.stderr ?? 'not run: the command before it did not end well',
    durationMs: Date.now() - startedAt,
  };
  if ('error' in outcome) {
    if (outcome.streamEnded && result.exitCode !== 0) return { result };
    throw outcome.error;
  }
  return result.exitCode === 0 ? { result, consumed: outcome.value } : { result };
}

export interface FanOutResult {
  readonly producer: CommandResult;
  readonly tee: CommandResult;
  /** In the order of `consumers`. */
  readonly consumers: readonly CommandResult[];
  readonly bytes: number;
}

/**
 * One stream to several places: producer | tee -p FIFO…, each FIFO read by its own consumer that
 * opens it by path (`btrfs receive -f`). How snapkeep sends a snapshot once to every local target
 * that needs the same stream, instead of once per target (btrbk's way).
 *
 * A consumer that fails does not stop the others: `tee -p` drops an output whose reader is gone
 * and goes on with the rest (and exits 0). A failed producer or tee ends everything, as in
 * runPipeline, so no consumer can finish a truncated stream quietly.
 */
export async function runFanOut(
  producerSpec: CommandSpec,
  consumers: readonly ((fifo: string) => CommandSpec)[],
  options: PipelineOptions = {},
): Promise<FanOutResult> {
  const fifos: string[] = [];
  try {
    for (let index = 0; index < consumers.length; index++) fifos.push(await acquireFifo());
    const consumerSpecs = consumers.map((build, index) => build(fifos[index]!));
    const teeSpec: CommandSpec = { file: 'tee', args: ['-p', '--', ...fifos] };
    const startedAt = Date.now();
    const consumerChildren = consumerSpecs.map((spec) => start(spec, ['ignore', 'pipe', 'pipe']));
    const producer = start(producerSpec, ['ignore', 'pipe', 'pipe'], true);
    const tee = start(teeSpec, [producer.stdout!, 'ignore', 'pipe']);
    // tee owns the read end now; closing ours lets EOF/EPIPE propagate as in a shell.
    producer.stdout?.destroy();

    let failedConsumers = 0;
    const { stages, bytes } = await superviseStages(
      [producer, tee, ...consumerChildren],
      [producerSpec, teeSpec, ...consumerSpecs],
      startedAt,
      options,
      // Counted at the producer: tee's and the consumers' counters would count the stream again.
      producer,
      async (index, stopAll) => {
        if (index < 2 || ++failedConsumers === consumerChildren.length) {
          stopAll();
          return;
        }
        await releaseWriter(fifos[index - 2]!, tee);
      },
    );
    const [producerResult, teeResult, ...consumerResults] = stages;
    return { producer: producerResult!, tee: teeResult!, consumers: consumerResults, bytes };
  } finally {
    // Every process is gone: the FIFOs are empty and reusable.
    fifoPool.idle.push(...fifos);
  }
}

/**
 * A consumer that died before opening its FIFO would leave tee waiting in open() for ever. A
 * read end opened and closed at once is not enough: tee may reach that open() only later. So the
 * read end stays open until tee has the FIFO open (its /proc fd list shows it) or is gone; then
 * it is closed, tee's next write to it fails with EPIPE, and `tee -p` drops that output.
 */
async function releaseWriter(fifo: string, writer: ChildProcess): Promise<void> {
  const handle = await open(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return;
  const opened = async (): Promise<boolean> => {
    const descriptors = await readdir(`/proc/${writer.pid}/fd`).catch(() => undefined);
    if (!descriptors) return true; // gone
    const targets = await Promise.all(
      descriptors.map((fd) => readlink(`/proc/${writer.pid}/fd/${fd}`).catch(() => '')),
    );
    return targets.includes(fifo);
  };
  try {
    while (writer.exitCode === null && writer.signalCode === null && !(await opened()))
      await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    await handle.close();
  }
}

export interface GuardedPipeResult {
  readonly producer: CommandResult;
  readonly consumer: CommandResult;
}

/**
 * producer | consumer where the consumer sees end-of-stream only if the producer succeeded. The
 * producer writes straight into the consumer's stdin (fd level, no copy through Node), but this
 * process keeps its own write end of that pipe open, so the producer exiting does not end the
 * stream. Exit 0: the stream is closed and the consumer finishes. Anything else: the consumer is
 * interrupted (SIGINT, then SIGKILL) while its input is still open — for `restic backup --stdin`
 * this means no snapshot of a truncated dump (restic cannot see the producer's status itself).
 *
 * The pipe is a FIFO from the pool (acquireFifo) rather than Node's stdio 'pipe', which is
 * a socketpair: pg_dump writes in small pieces, and through a socket that cost 2-4 % of a
 * 300 MB dump into restic compared with a shell pipe (measured; a kernel pipe is what
 * `pg_dump | restic` uses).
 *
 * The producer may come later (a function): the consumer starts at once and the producer when
 * its argv is known. restic spends ~0.7 s opening the repository before it reads a byte, so starting it first
 * takes whatever comes before the dump (a psql session exporting its snapshot) off the critical
 * path. The function learns when the consumer is ready to read (the first
 * stdout line matching `readyLine`, or its exit), so the caller can use the time before (see
 * withDumpSnapshot). A producer that cannot be built interrupts the consumer like one that fails.
 */
export async function runGuardedPipe(
  producerSpec: CommandSpec | ((consumerReady: Promise<void>) => Promise<CommandSpec>),
  consumerSpec: CommandSpec,
  options: { readonly readyLine?: RegExp; readonly consumer?: CommandObserver } = {},
): Promise<GuardedPipeResult> {
  const startedAt = Date.now();
  const fifo = await acquireFifo();
  // Opening either end of a FIFO waits for the other: both opens run at once (thread pool).
  const [readEnd, writeEnd] = await Promise.all([open(fifo, 'r'), open(fifo, 'w')]);
  let writeOpen = true;
  const closeWriteEnd = async (): Promise<void> => {
    if (!writeOpen) return;
    writeOpen = false;
    await writeEnd.close();
  };
  try {
    const consumer = start(consumerSpec, [readEnd.fd, 'pipe', 'pipe']);
    const consumerDone = collect(consumer, consumerSpec, startedAt, options.consumer);
    // Settles when the consumer is gone, never rejects: what waits for its end without reporting
    // its failure (that is awaited below) must not leave a rejection unhandled.
    const consumerGone = consumerDone.then(
      () => undefined,
      () => undefined,
    );
    const consumerReady = new Promise<void>((resolve) => {
      const readyLine = options.readyLine;
      if (!readyLine) {
        resolve();
        return;
      }
      const onData = (chunk: Buffer): void => {
        if (!readyLine.test(chunk.toString('utf8'))) return;
        consumer.stdout?.off('data', onData);
        debugNote(`${consumerSpec.file} is ready to read`);
        resolve();
      };
      consumer.stdout?.on('data', onData);
      // A consumer that ends (or never starts) is as ready as it will be.
      void consumerGone.then(resolve);
    });
    const interruptConsumer = (): void => {
      consumer.kill('SIGINT');
      const killer = setTimeout(() => consumer.kill('SIGKILL'), 5000);
      void consumerGone.then(() => {
        clearTimeout(killer);
      });
    };
    // Collected at once: a producer that cannot be built or started reports it on the next tick.
    const producerDone = (async () =>
      typeof producerSpec === 'function' ? producerSpec(consumerReady) : producerSpec)()
      .then((spec) => collect(start(spec, ['ignore', writeEnd.fd, 'pipe']), spec, startedAt))
      .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    // The children hold their own copies; this process keeps only the write end.
    await readEnd.close();
    const producerResult = await producerDone;
    if (producerResult instanceof Error) {
      // The producer never ran (not installed, say): the consumer must not see a clean end either.
      interruptConsumer();
      await consumerDone.catch(() => undefined);
      throw producerResult;
    }
    if (producerResult.exitCode === 0) await closeWriteEnd();
    else interruptConsumer();
    const consumerResult = await consumerDone;
    return { producer: producerResult, consumer: consumerResult };
  } finally {
    await closeWriteEnd();
    await readEnd.close().catch(() => undefined);
    // Both processes are gone and both ends closed: the FIFO is empty and reusable.
    fifoPool.idle.push(fifo);
  }
}

export interface Session {
  /** Send `text`, then wait until the process has echoed `marker`; the lines printed before it. */
  exchange(text: string, marker: string): Promise<string[]>;
  /** Close stdin and wait for the process to end. */
  close(): Promise<CommandResult>;
}

/**
 * A long-lived process fed through stdin, read line by line (a psql session that holds a
 * transaction open while other processes work). Each exchange ends at a marker line the caller
 * makes the process print; an exit before it rejects with the process's stderr.
 */
export function openSession(spec: CommandSpec): Session {
  const startedAt = Date.now();
  const child = start(spec, ['pipe', 'pipe', 'pipe']);
  let buffered = '';
  let stderr = '';
  const lines: string[] = [];
  let waiting:
    { marker: string; resolve: (lines: string[]) => void; reject: (error: Error) => void } | undefined;
  const settle = (): void => {
    if (!waiting) return;
    const at = lines.indexOf(waiting.marker);
    if (at < 0) return;
    const before = lines.splice(0, at + 1).slice(0, at);
    const { resolve } = waiting;
    waiting = undefined;
    resolve(before);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
    settle();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const done = collect(child, spec, startedAt);
  void done.then((result) => {
    if (waiting) {
      const { reject } = waiting;
      waiting = undefined;
      reject(
        new Error(
          maskSecrets(
            `${spec.file} ended (exit ${result.exitCode ?? result.signal}): ${stderr.trim() || result.stderr.trim()}`,
          ),
        ),
      );
    }
  });
  child.stdin?.on('error', () => undefined);
  return {
    exchange(text, marker) {
      return new Promise((resolve, reject) => {
        waiting = { marker, resolve, reject };
        child.stdin?.write(text);
        settle();
      });
    },
    async close() {
      child.stdin?.end();
      return done;
    },
  };
}
