// The one module that spawns processes (DESIGN.md: "only exec/ spawns").
// Commands are data: a file and an argv array, never a shell string. Secrets reach children only
// through the environment or files, and every message built here masks known secret values.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as fsConstants, rmSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  /** Extra environment variables (merged over process.env). Values here may be secrets. */
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

/** Start `spec` with these stdio wirings, among the children an interrupt stops. */
function start(spec: CommandSpec, stdio: StdioOptions): ChildProcess {
  const child = spawn(spec.file, [...spec.args], { cwd: spec.cwd, env: environmentFor(spec), stdio });
  if (debug) spawnedAt.set(child, performance.now());
  track(child);
  return child;
}

/** A moment worth seeing in SNAPKEEP_DEBUG's timeline (it goes where the command lines go). */
export function debugNote(text: string): void {
  if (debug) process.stderr.write(`snapkeep debug: +${performance.now().toFixed(0)}ms ${text}\n`);
}

// When each child started (SNAPKEEP_DEBUG only): stages of a pipe may start at different times.
const spawnedAt = new WeakMap<ChildProcess, number>();

function environmentFor(spec: CommandSpec): NodeJS.ProcessEnv {
  // LC_ALL=C: we parse tool output, so it must not be translated.
  return { ...process.env, LC_ALL: 'C', ...spec.env };
}

function collect(child: ChildProcess, spec: CommandSpec, startedAt: number): Promise<CommandResult> {
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
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
export function runCommand(spec: CommandSpec): Promise<CommandResult> {
  const startedAt = Date.now();
  const child = start(spec, [spec.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']);
  if (spec.input !== undefined) child.stdin?.end(spec.input);
  return collect(child, spec, startedAt);
}

/** Run a command and throw a CommandError (masked, with the tail of stderr) unless it exits 0. */
export async function runChecked(spec: CommandSpec): Promise<CommandResult> {
  const result = await runCommand(spec);
  if (result.exitCode !== 0) throw new CommandError(result);
  return result;
}

export interface PipeProgress {
  readonly bytes: number;
  readonly elapsedMs: number;
}

export interface PipelineResult {
  /** One result per stage, in pipeline order. */
  readonly stages: readonly CommandResult[];
  readonly bytes: number;
}

export interface PipelineOptions {
  readonly onProgress?: (progress: PipeProgress) => void;
  readonly progressIntervalMs?: number;
  /**
   * Which end counts the stream: the first stage's bytes written (default) or the last stage's
   * bytes read. Count at the end that runs the btrfs command here: an ssh client's counters would
   * include its own traffic, a zstd's the compressed size.
   */
  readonly measure?: 'producer' | 'consumer';
  /** Aborting kills every stage (used for interrupts and tests). */
  readonly signal?: AbortSignal;
}

/** Bytes a process has written (wchar) or read (rchar) so far, from /proc (Linux). Lets us report
 *  progress without putting Node in the data path. */
async function bytesMoved(pid: number | undefined, counter: 'wchar' | 'rchar'): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const io = await readFile(`/proc/${pid}/io`, 'utf8');
    const match = new RegExp(`^${counter}:\\s*(\\d+)`, 'm').exec(io);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * stage | stage | …, joined at the file-descriptor level: the bulk data never passes through
 * Node, so a pipeline costs what the shell's pipe costs. If any stage fails, the others are
 * killed so a half-written stream is never mistaken for a complete one.
 */
export async function runPipeline(
  specs: readonly CommandSpec[],
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  if (specs.length < 2) throw new Error('a pipeline needs at least two stages');
  const startedAt = Date.now();
  const children: ChildProcess[] = [];
  for (const spec of specs) {
    const previous = children.at(-1);
    const child = start(spec, [previous?.stdout ?? 'ignore', 'pipe', 'pipe']);
    // The next stage owns the read end now; closing ours makes EOF/EPIPE propagate as in a shell.
    previous?.stdout?.destroy();
    children.push(child);
  }
  return superviseStages(children, specs, startedAt, options);
}

/**
 * Waits for stages that together move one stream and samples progress from /proc. A stage that
 * fails stops every stage (unless `onStageFailed` decides otherwise), so a half-written stream is
 * never mistaken for a complete one.
 */
async function superviseStages(
  children: readonly ChildProcess[],
  specs: readonly CommandSpec[],
  startedAt: number,
  options: PipelineOptions,
  onStageFailed: (index: number, stopAll: () => void) => void | Promise<void> = (_index, stopAll) => {
    stopAll();
  },
): Promise<PipelineResult> {
  const first = children[0]!;
  const last = children.at(-1)!;

  const stopSampling = sampleProgress(
    () => (options.measure === 'consumer' ? bytesMoved(last.pid, 'rchar') : bytesMoved(first.pid, 'wchar')),
    startedAt,
    options,
  );
  const killAll = (): void => {
    for (const child of children) child.kill('SIGTERM');
  };
  options.signal?.addEventListener('abort', killAll, { once: true });

  const done = children.map((child, index) =>
    collect(child, specs[index]!, startedAt).then(async (result) => {
      if (result.exitCode !== 0) await onStageFailed(index, killAll);
      return result;
    }),
  );
  try {
    const stages = await Promise.all(done);
    return { stages, bytes: stopSampling() };
  } finally {
    stopSampling();
    options.signal?.removeEventListener('abort', killAll);
  }
}

/**
 * Reports progress from /proc counters while a stream runs (when asked to); the returned
 * function stops sampling and gives the last count.
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
    // Early samples too: a short stream is over before the first regular one, and its size is
    // what later ETAs and the restore list show (still a lower bound: the tail is not sampled).
    const delays = [20, 60, 150].filter((delay) => delay < interval);
    const sample = (): void => {
      void count().then((bytes) => {
        if (bytes !== undefined && !finished) {
          lastBytes = Math.max(lastBytes, bytes);
          report({ bytes: lastBytes, elapsedMs: Date.now() - startedAt });
        }
      });
      if (!finished) timer = setTimeout(sample, delays.shift() ?? interval);
    };
    timer = setTimeout(sample, delays.shift() ?? interval);
  }
  return () => {
    finished = true;
    if (timer) clearTimeout(timer);
    return lastBytes;
  };
}

/**
 * Named pipes for processes that open their stream by path, one per concurrent use, in a private
 * directory made on first use and removed when this process exits. A FIFO is reused after both
 * ends have closed (nothing is left in it then); creating one costs a `mkfifo` process (Node has
 * no mkfifo), so they are kept.
 */
const fifoPool = { directory: undefined as Promise<string> | undefined, idle: [] as string[], made: 0 };

async function acquireFifo(): Promise<string> {
  const idle = fifoPool.idle.pop();
  if (idle) return idle;
  fifoPool.directory ??= mkdtemp(join(tmpdir(), 'snapkeep-fifo-')).then((directory) => {
    process.once('exit', () => {
      rmSync(directory, { recursive: true, force: true });
    });
    return directory;
  });
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
  if (fifoPool.idle.length > 0 || fifoPool.made > 0) return;
  void acquireFifo().then(
    (fifo) => fifoPool.idle.push(fifo),
    () => undefined,
  );
}

/**
 * producer and consumer joined by a kernel pipe they open themselves by path (`btrfs send -f`,
 * `btrfs receive -f`). Node's stdio pipe is a socketpair, and `btrfs receive` reads its stream
 * in many small pieces: through a socket a local transfer took ~20 % longer than the shell's
 * `send | receive` (measured: 38 vs 31 ms for a 10 MB incremental stream); through a FIFO it
 * costs the same. Failure handling and progress are runPipeline's.
 */
export async function runJoinedByFifo(
  build: (fifo: string) => readonly [CommandSpec, CommandSpec],
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  const fifo = await acquireFifo();
  const specs = build(fifo);
  const startedAt = Date.now();
  const children = specs.map((spec) => start(spec, ['ignore', 'pipe', 'pipe']));
  try {
    return await superviseStages(children, specs, startedAt, options);
  } finally {
    // Both ends are closed once both processes are gone: the FIFO is empty and reusable.
    fifoPool.idle.push(fifo);
  }
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
    const producer = start(producerSpec, ['ignore', 'pipe', 'pipe']);
    const tee = start(teeSpec, [producer.stdout!, 'ignore', 'pipe']);
    // tee owns the read end now; closing ours lets EOF/EPIPE propagate as in a shell.
    producer.stdout?.destroy();

    let failedConsumers = 0;
    const { stages, bytes } = await superviseStages(
      [producer, tee, ...consumerChildren],
      [producerSpec, teeSpec, ...consumerSpecs],
      startedAt,
      // Counted at the producer: tee's and the consumers' counters would count the stream again.
      { ...options, measure: 'producer' },
      async (index, stopAll) => {
        if (index < 2 || ++failedConsumers === consumerChildren.length) {
          stopAll();
          return;
        }
        // A consumer that died before opening its FIFO would leave tee waiting in open() for
        // ever: open and close the read end once, so tee sees EPIPE and drops it.
        await open(fifos[index - 2]!, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).then(
          (handle) => handle.close(),
          () => undefined,
        );
      },
    );
    const [producerResult, teeResult, ...consumerResults] = stages;
    return { producer: producerResult!, tee: teeResult!, consumers: consumerResults, bytes };
  } finally {
    // Every process is gone: the FIFOs are empty and reusable.
    fifoPool.idle.push(...fifos);
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
  options: { readonly readyLine?: RegExp } = {},
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
    const consumerDone = collect(consumer, consumerSpec, startedAt);
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
