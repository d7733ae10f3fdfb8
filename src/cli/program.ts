// The root program: its global options, the option factories the commands share, and running
// what the command line asked for — errors become messages and the documented exit codes
// (errors.ts). Each command declares its flags in its own module under commands/, and its action
// imports the command's implementation only when it runs (`--help` and `status` load no more).
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, SnapkeepError, describeSystemError, exitCodeHelp, isSystemError } from '../errors.js';
import { maskSecrets, terminateAllChildren } from '../exec/command.js';
import { applyGlobalOptions, commandPath } from './global-options.js';
import { beginJsonRun, endJsonRun, inJsonRun } from './output.js';
import { shapeHelp } from './help-text.js';
import { parseLockWait } from '../state/lock.js';
import { configureRuns, interruptRuns } from '../state/run-lifecycle.js';
import { registerBackupCommand } from './commands/backup.js';
import { checkUsageErrorCode, registerCheckCommand } from './commands/check.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerDocumentationCommands } from './commands/documentation.js';
import { registerEngineCommands } from './commands/engine.js';
import { registerInfraCommands } from './commands/infra.js';
import { registerListCommand } from './commands/list.js';
import { registerMetricsCommand } from './commands/metrics.js';
import { registerNotifyCommands } from './commands/notify.js';
import { registerPullCommand } from './commands/pull.js';
import { registerQuickstartCommand } from './commands/quickstart.js';
import type { Action, CommandRegistration, RegisterCommands } from './commands/registration.js';
import { registerRemoteCommands } from './commands/remote.js';
import { registerRepoCommands } from './commands/repo.js';
import { registerRestoreCommand } from './commands/restore.js';
import { registerRetentionCommands } from './commands/retention.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerStatusCommand } from './commands/status.js';
import { registerVerifyCommand } from './commands/verify.js';
import { observeRuns } from './run-observers.js';

export interface GlobalOptions {
  readonly config?: string;
  readonly json: boolean;
}

const configOption = (): Option =>
  new Option(
    '-c, --config <file>',
    'configuration file (default: $SNAPKEEP_CONFIG, else /etc/snapkeep/snapkeep.yaml)',
  );
const jsonOption = (): Option => new Option('--json', 'print NDJSON events on stdout (one object per line)');
const dryRunOption = (): Option => new Option('-n, --dry-run', 'print the plan and change nothing');
/** For the commands that run through the run lifecycle (they take the lock). */
const lockWaitOption = (): Option =>
  new Option(
    '--lock-wait <duration>',
    'when another run holds the lock, wait for it up to this long (e.g. 90s, 30m, 2h) instead of exiting 11 at once (for scheduled jobs)',
  );

interface CommandModule {
  /** The top-level commands it adds (test/unit/cli/command-tree.test.ts holds it to that). */
  readonly commands: readonly string[];
  readonly register: RegisterCommands;
  /** It describes the whole tree (man page, completion), so it needs every command. */
  readonly wantsWholeTree?: boolean;
}

/** Every command module, in the order `--help` lists their commands. */
const commandModules: readonly CommandModule[] = [
  { commands: ['completion', 'man'], register: registerDocumentationCommands, wantsWholeTree: true },
  { commands: ['run', 'snapshot', 'resume', 'prune', 'clean'], register: registerEngineCommands },
  { commands: ['list'], register: registerListCommand },
  { commands: ['diff'], register: registerDiffCommand },
  { commands: ['status'], register: registerStatusCommand },
  { commands: ['check'], register: registerCheckCommand },
  { commands: ['config'], register: registerConfigCommands },
  { commands: ['retention'], register: registerRetentionCommands },
  { commands: ['remote'], register: registerRemoteCommands },
  { commands: ['backup'], register: registerBackupCommand },
  { commands: ['restore'], register: registerRestoreCommand },
  { commands: ['pull'], register: registerPullCommand },
  { commands: ['verify'], register: registerVerifyCommand },
  { commands: ['repo'], register: registerRepoCommands },
  { commands: ['infra'], register: registerInfraCommands },
  { commands: ['doctor'], register: registerDoctorCommand },
  { commands: ['quickstart'], register: registerQuickstartCommand },
  { commands: ['schedule', 'notify-failure'], register: registerScheduleCommands },
  { commands: ['notify'], register: registerNotifyCommands },
  { commands: ['metrics'], register: registerMetricsCommand },
];

/**
 * The top-level command `args` (the words after `snapkeep`) run, when only the program's own
 * options come before it; undefined when anything else does (then the whole tree is built).
 */
export function commandNamed(args: readonly string[]): string | undefined {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '-c' || arg === '--config') index++;
    else if (arg === '-q' || arg === '--quiet' || arg.startsWith('--config=')) continue;
    else return arg.startsWith('-') ? undefined : arg;
  }
  return undefined;
}

/**
 * The program and its commands; an action hands its work to `defer` rather than running it.
 * With `command` (a top-level command's name), only the module that adds it registers: what
 * that command parses and prints is the same, and the other modules' flags are not built.
 */
export function createProgram(version: string, defer: (action: Action) => void, command?: string): Command {
  const program = new Command('snapkeep')
    .description(
      'btrfs snapshots sent incrementally to other disks and SSH hosts with btrbk-compatible retention, and application data (PostgreSQL, folders) in restic, local and offsite; plan-then-apply, a journal of every action.',
    )
    .version(version, '-V, --version')
    // Global flags: btrbk's users type `snapkeep -c FILE run`; cron wants only errors.
    .addOption(configOption())
    .addOption(new Option('-q, --quiet', 'print only warnings and errors (for cron); --json events stay'))
    .addHelpText(
      'after',
      `\n${exitCodeHelp}\n\nStart with: snapkeep quickstart   (a sandbox on loop devices; no real data touched)`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  const registration: CommandRegistration = {
    program,
    version,
    defer,
    configOption,
    jsonOption,
    dryRunOption,
    lockWaitOption,
  };
  const wanted = commandModules.find((module) => command !== undefined && module.commands.includes(command));
  const modules = wanted && !wanted.wantsWholeTree ? [wanted] : commandModules;
  for (const module of modules) module.register(registration);
  shapeHelp(program);
  // Notifications and the metrics textfile follow every run, whichever modules were built.
  observeRuns(program, version);
  return program;
}

export async function runCli(argv: readonly string[], version: string): Promise<number> {
  let pending: Action | undefined;
  const program = createProgram(
    version,
    (action) => {
      pending = action;
    },
    commandNamed(argv.slice(2)),
  );
  // --lock-wait of whichever command runs; parsed with the command (a bad value is exit 2).
  let lockWait: string | undefined;
  program.hook('preAction', (_program, command) => {
    lockWait = command.opts<{ lockWait?: string }>().lockWait;
    // The --json contract (output.ts): from here on, the command ends with one summary event.
    if (command.opts<{ json?: boolean }>().json === true) beginJsonRun(commandPath(command));
    applyGlobalOptions(program, command);
  });
  /** The exit code, after the --json run's error event (when `error`) and summary. */
  const finish = (exitCode: number, error?: string): number => {
    endJsonRun(exitCode, error === undefined ? undefined : { message: error });
    return exitCode;
  };

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0 through here; everything else is a usage error.
      if (error.code === checkUsageErrorCode) return error.exitCode;
      if (error.exitCode === 0) return ExitCode.ok;
      // A usage error of a --json command line is an event too (commander said it on stderr).
      if (!inJsonRun() && jsonRequested(argv.slice(2)))
        beginJsonRun(commandPath(commandOf(program, argv.slice(2))));
      return finish(ExitCode.usage, error.message.replace(/^error: /, ''));
    }
    throw error;
  }
  if (!pending) {
    program.outputHelp();
    return ExitCode.usage;
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    // The run's end first (with the signal), so what its children report as they die is not it.
    const observed = interruptRuns(signal);
    terminateAllChildren();
    process.stderr.write(`snapkeep: interrupted (${signal})\n`);
    finish(ExitCode.interrupted, `interrupted (${signal})`);
    // Close SSH master connections (they would otherwise linger for ControlPersist), briefly.
    const exit = (): never => process.exit(ExitCode.interrupted);
    setTimeout(exit, 1000).unref();
    const closed = import('../remote/ssh-host.js').then(({ closeAllSshHosts }) => closeAllSshHosts());
    void Promise.allSettled([observed, closed]).finally(exit);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    configureRuns({ lockWaitSeconds: lockWait === undefined ? undefined : parseLockWait(lockWait) });
    return finish(await pending());
  } catch (error) {
    if (error instanceof SnapkeepError) {
      process.stderr.write(`snapkeep: ${maskSecrets(error.message)}\n`);
      return finish(error.exitCode, error.message);
    }
    // The system refused a file operation: the path, the cause and the fix, not a stack trace.
    if (isSystemError(error)) {
      process.stderr.write(`snapkeep: ${maskSecrets(describeSystemError(error))}\n`);
      return finish(ExitCode.fatal, describeSystemError(error));
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`snapkeep: unexpected error: ${maskSecrets(message)}\n`);
    return finish(
      ExitCode.fatal,
      `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** The deepest command `args` names (for a line commander refused). */
function commandOf(program: Command, args: readonly string[]): Command {
  let command = program;
  for (const arg of args) {
    if (arg === '--') break;
    const sub = command.commands.find(
      (candidate) => candidate.name() === arg || candidate.aliases().includes(arg),
    );
    if (sub) command = sub;
  }
  return command;
}

/** Did the command line ask for --json (before any `--`)? */
function jsonRequested(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}
