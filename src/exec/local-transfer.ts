// One local transfer (`btrfs send -f FIFO` into `btrfs receive -f FIFO`, and the metadata-only
// send a copy is verified against) started as ONE child of snapkeep instead of three.
//
// Why: Node 20 forks on its main thread and waits there for the exec, and the wait grows with
// snapkeep's memory; with dozens of subvolumes the forks, not btrfs, bound a run. So the stages
// are started by a small bash script, off snapkeep's main thread, which reports back on its own
// fd. The policy stays what runPipeline's is: send and receive stand or fall together (the one
// left would wait for ever to open the FIFO, or take a truncated stream), the metadata read runs
// on its own (as runConsumingStdout), the stream is counted exactly (by command.ts's counting
// wrapper, a shell whose only child is the send).
//
// The script is fixed text; the commands reach it only as arguments ("$@"), never as text to
// interpret. Each stage is bound by setpriv to the script's life and the script to snapkeep's
// (child-lifetime.ts) — never a subshell of it, which a fork would leave unbound — so a killed
// snapkeep or a stopped script leaves no stage behind. A stage's stderr pipe closes only when it
// is gone, so this resolves only once every stage has ended.
// Where the script cannot run (no bash 5.1 for `wait -n -p`, a stage not found, a stage with its
// own environment) the stages are started one by one as before.
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { boundToThisProcess, resolveExecutable } from './child-lifetime.js';
import { childProcess } from './child-process.js';
import {
  acquireFifo,
  bytesWritten,
  countingCommand,
  debugCommandEnded,
  environmentFor,
  joinByFifo,
  releaseFifo,
  runConsumingStdout,
  sampleProgress,
  trackChild,
  type CommandResult,
  type CommandSpec,
  type ConsumedResult,
  type PipelineOptions,
  type PipelineResult,
} from './command.js';

/**
 * $1 $2 $3: how many of the arguments after them are the send's, the receive's and the metadata
 * send's argv (0: no metadata read); the send's is command.ts's counting wrapper around it, which
 * prints the stream's length on fd 3. Its fds: 1 the metadata stream, 3 its reports (`started
 * NAME PID`, `ended NAME STATUS`, and the count), 4 5 6 the stages' stderr (the receive's stdout
 * goes with its stderr). A stage that ends is reported at once, whatever the order.
 */
const transferScript = [
  '((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501)) || { echo unsupported >&3; exit 3; }',
  'send=("${@:4:$1}") receive=("${@:4+$1:$2}") metadata=("${@:4+$1+$2:$3}")',
  'declare -A stages',
  '"${receive[@]}" >&5 2>&5 3>&- 4>&- 5>&- 6>&- &',
  'stages[$!]=receive; echo "started receive $!" >&3',
  '"${send[@]}" >/dev/null 2>&4 4>&- 5>&- 6>&- &',
  'stages[$!]=send; echo "started send $!" >&3',
  'if (($3)); then',
  '  "${metadata[@]}" 2>&6 3>&- 4>&- 5>&- 6>&- &',
  '  stages[$!]=metadata; echo "started metadata $!" >&3',
  'fi',
  'exec >/dev/null 4>&- 5>&- 6>&-',
  'while ((${#stages[@]})); do',
  '  unset ended',
  '  wait -n -p ended "${!stages[@]}"; status=$?',
  '  [[ -v ended ]] || break',
  '  name=${stages[$ended]}; unset "stages[$ended]"',
  '  echo "ended $name $status" >&3',
  '  if ((status != 0)) && [[ $name != metadata ]]; then',
  '    for pid in "${!stages[@]}"; do [[ ${stages[$pid]} == metadata ]] || kill -TERM "$pid" 2>/dev/null; done',
  '  fi',
  'done',
].join('\n');

export interface LocalTransfer<T> {
  /** The send and the receive, as runJoinedByFifo's result (stages: send, receive). */
  readonly transfer: Promise<PipelineResult>;
  /** The metadata read, as runConsumingStdout's result; undefined when none was asked for. */
  readonly metadata?: Promise<ConsumedResult<T>>;
}

/** Set once bash said it is older than 5.1: the stages are then started one by one. */
let scriptUnsupported = false;

/**
 * `build(fifo)` gives the send (writing the FIFO) and the receive (reading it); `metadata`, if
 * given, is read by `consume` as it comes (runConsumingStdout's contract). Progress and the
 * stream's count as runJoinedByFifo's.
 */
export function runLocalTransfer<T>(
  build: (fifo: string) => readonly [CommandSpec, CommandSpec],
  metadata: CommandSpec | undefined,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
  options: PipelineOptions = {},
): LocalTransfer<T> {
  const running = (async () => {
    const fifo = await acquireFifo();
    const [send, receive] = build(fifo);
    const script = scriptFor(send, receive, metadata);
    if (!script) return startOneByOne(fifo, [send, receive], metadata, consume, options);
    const started = await runScript(script, fifo, [send, receive], metadata, consume, options);
    if (started !== 'unsupported') return started;
    scriptUnsupported = true;
    return startOneByOne(fifo, [send, receive], metadata, consume, options);
  })();
  const metadataDone = metadata && running.then(({ metadata: done }) => done!);
  // Whoever awaits one of them hears of a failure; the other must not count as unhandled.
  void metadataDone?.catch(() => undefined);
  return { transfer: running.then(({ transfer }) => transfer), metadata: metadataDone };
}

interface Started<T> {
  readonly transfer: Promise<PipelineResult>;
  readonly metadata?: Promise<ConsumedResult<T>>;
}

function startOneByOne<T>(
  fifo: string,
  specs: readonly [CommandSpec, CommandSpec],
  metadata: CommandSpec | undefined,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
  options: PipelineOptions,
): Started<T> {
  return {
    metadata: metadata && runConsumingStdout(metadata, consume),
    transfer: joinByFifo(fifo, specs, options),
  };
}

interface Script {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** How the script starts these stages, or undefined where it cannot (see the header). */
function scriptFor(send: CommandSpec, receive: CommandSpec, metadata?: CommandSpec): Script | undefined {
  if (scriptUnsupported) return undefined;
  const specs = metadata ? [send, receive, metadata] : [send, receive];
  if (specs.some((spec) => spec.env || spec.cwd || spec.input !== undefined || spec.timeoutMs))
    return undefined;
  const env = environmentFor(send);
  const bash = resolveExecutable('bash', env.PATH);
  const shell = resolveExecutable('sh', env.PATH);
  const argvs: string[][] = [];
  for (const spec of specs) {
    const executable = resolveExecutable(spec.file, env.PATH);
    if (!executable) return undefined; // started one by one, it is reported as not installed
    const bound = boundToThisProcess(executable, spec.args);
    argvs.push([bound.file, ...bound.args]);
  }
  if (!bash || !shell) return undefined;
  // Every process in the chain is bound to its parent's life: a subshell of the script would not
  // be (a fork clears the parent-death signal), so the count comes from a shell of its own.
  const counted = boundToThisProcess(shell, countingCommand(argvs[0]!));
  argvs[0] = [counted.file, ...counted.args];
  const counts = [argvs[0].length, argvs[1]!.length, argvs[2]?.length ?? 0].map(String);
  const bound = boundToThisProcess(bash, [
    '-c',
    transferScript,
    'snapkeep-transfer',
    ...counts,
    ...argvs.flat(),
  ]);
  return { ...bound, env };
}

/** What the script reported of one stage. */
interface StageReport {
  pid?: number;
  status?: number;
}

async function runScript<T>(
  script: Script,
  fifo: string,
  specs: readonly [CommandSpec, CommandSpec],
  metadata: CommandSpec | undefined,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
  options: PipelineOptions,
): Promise<Started<T> | 'unsupported'> {
  const startedAt = Date.now();
  const began = performance.now();
  const child = childProcess().spawn(script.file, [...script.args], {
    env: script.env,
    stdio: [
      'ignore',
      metadata ? 'pipe' : 'ignore',
      'pipe',
      'pipe',
      'pipe',
      'pipe',
      metadata ? 'pipe' : 'ignore',
    ],
  });
  trackChild(child);
  const reports = new Map<string, StageReport>();
  let count: number | undefined;
  const firstLine = readLines(child, 3, (line) => {
    const [word, name, value] = line.split(' ');
    if (/^\d+$/.test(line)) count = Number(line);
    else if ((word === 'started' || word === 'ended') && name && value !== undefined) {
      const report = reports.get(name) ?? {};
      if (word === 'started') report.pid = Number(value);
      else report.status = Number(value);
      reports.set(name, report);
    }
  });
  const stderrOf = [4, 5, 6, 2].map((fd) => collectText(child, fd));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('error', (error) => {
        resolve({ code: null, signal: null, error });
      });
      child.once('close', (code, signal) => {
        resolve({ code, signal });
      });
    },
  );
  const stop = (): void => {
    child.kill('SIGTERM');
  };
  options.signal?.addEventListener('abort', stop, { once: true });
  const stopSampling = sampleProgress(
    async () => bytesWritten(await firstChildOf(reports.get('send')?.pid)),
    startedAt,
    options,
  );
  const readMetadata = metadata && consumeMetadata(child, consume);

  const finished = ended.then(async ({ code, signal, error }) => {
    const sampled = stopSampling();
    options.signal?.removeEventListener('abort', stop);
    // Every stage is gone (each held its stderr pipe): the FIFO is empty and reusable.
    releaseFifo(fifo);
    if (error) throw error;
    const [sendStderr, receiveStderr, metadataStderr, scriptStderr] = await Promise.all(stderrOf);
    const resultOf = (name: string, spec: CommandSpec, stderr: string): CommandResult => {
      const status = reports.get(name)?.status;
      // Not reported: the script was stopped or failed itself, and the stage went with it.
      const outcome =
        status === undefined ? { exitCode: signal ? null : code, signal } : statusOutcome(status);
      debugCommandEnded(spec, began, outcome.exitCode, outcome.signal);
      return {
        spec,
        ...outcome,
        stdout: '',
        stderr: status === undefined ? `${stderr}${scriptStderr}` : stderr,
        durationMs: Date.now() - startedAt,
      };
    };
    return {
      transfer: {
        stages: [resultOf('send', specs[0], sendStderr!), resultOf('receive', specs[1], receiveStderr!)],
        // Exact once the send ended well (its subshell counted it), else the last sample.
        bytes: reports.get('send')?.status === 0 && count !== undefined ? count : sampled,
      },
      metadata: metadata && resultOf('metadata', metadata, metadataStderr!),
    };
  });
  if ((await firstLine) === 'unsupported') {
    await finished.catch(() => undefined);
    return 'unsupported';
  }
  return {
    transfer: finished.then(({ transfer }) => transfer),
    metadata: readMetadata?.(finished.then(({ metadata: result }) => result!)),
  };
}

/**
 * The metadata stream read by `consume` as it comes (runConsumingStdout's contract): a consumer
 * that throws while the stream runs closes it (the metadata send then ends on a closed pipe) and
 * its error is what the read gives, unless the stream had ended and the send failed on its own.
 */
function consumeMetadata<T>(
  child: ChildProcess,
  consume: (stdout: AsyncIterable<Buffer>) => Promise<T>,
): (result: Promise<CommandResult>) => Promise<ConsumedResult<T>> {
  const stdout = child.stdout!;
  const consumed = consume(stdout).then(
    (value) => ({ value }),
    (error: unknown) => ({ error, streamEnded: stdout.readableEnded }),
  );
  // Read to its end or not, the rest is not wanted.
  void consumed.then(() => stdout.destroy());
  return async (resultPromise) => {
    const [outcome, result] = await Promise.all([consumed, resultPromise]);
    if ('value' in outcome) return { result, consumed: outcome.value };
    if (outcome.streamEnded && result.exitCode !== 0) return { result };
    throw outcome.error;
  };
}

/** How a stage ended by its shell status: 128 + N is signal N (as the shell reports a kill). */
function statusOutcome(status: number): { exitCode: number | null; signal: NodeJS.Signals | null } {
  if (status > 128) {
    const signal = Object.entries(osConstants.signals).find(([, number]) => number === status - 128)?.[0];
    if (signal) return { exitCode: null, signal: signal as NodeJS.Signals };
  }
  return { exitCode: status, signal: null };
}

/** The first child of `pid` (the send its counting subshell runs), for progress from /proc. */
async function firstChildOf(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const first = Number(children.trim().split(/\s+/)[0]);
  return first > 0 ? first : undefined;
}

/** Calls `onLine` for each line on `fd`; gives the first line ('' if there is none). */
function readLines(child: ChildProcess, fd: number, onLine: (line: string) => void): Promise<string> {
  const stream = child.stdio[fd] as NodeJS.ReadableStream | null;
  let partial = '';
  let first: ((line: string) => void) | undefined;
  const firstLine = new Promise<string>((resolve) => (first = resolve));
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      onLine(line);
      first?.(line);
      first = undefined;
    }
  });
  stream?.once('close', () => first?.(''));
  if (!stream) first?.('');
  return firstLine;
}

function collectText(child: ChildProcess, fd: number): Promise<string> {
  const stream = child.stdio[fd] as NodeJS.ReadableStream | null;
  if (!stream) return Promise.resolve('');
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  return new Promise((resolve) => {
    stream.once('close', () => {
      resolve(text);
    });
    stream.once('error', () => {
      resolve(text);
    });
  });
}
