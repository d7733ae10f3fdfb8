// The root program: its global options, the option factories the commands share, and running
// what the command line asked for — errors become messages and the documented exit codes
// (errors.ts). Each command declares its flags in its own module under commands/, and its action
// imports the command's implementation only when it runs (`--help` and `status` load no more).
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, SnapkeepError, describeSystemError, exitCodeHelp, isSystemError } from '../errors.js';
import { maskSecrets, terminateAllChildren } from '../exec/command.js';
import { applyGlobalOptions } from './global-options.js';
import { parseLockWait } from '../state/lock.js';
import { configureRuns, interruptRuns } from '../state/run-lifecycle.js';
import { registerBackupCommand } from './commands/backup.js';
import { checkUsageErrorCode, registerCheckCommand } from './commands/check.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerDocumentationCommands } from './commands/documentation.js';
import { registerEngineCommands } from './commands/engine.js';
import { registerInfraCommands } from './commands/infra.js';
import { registerListCommand } from './commands/list.js';
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

/** Every command module, in the order `--help` lists their commands. */
const commandModules: readonly RegisterCommands[] = [
  registerDocumentationCommands,
  registerEngineCommands,
  registerListCommand,
  registerStatusCommand,
  registerCheckCommand,
  registerConfigCommands,
  registerRetentionCommands,
  registerRemoteCommands,
  registerBackupCommand,
  registerRestoreCommand,
  registerPullCommand,
  registerVerifyCommand,
  registerRepoCommands,
  registerInfraCommands,
  registerDoctorCommand,
  registerQuickstartCommand,
  registerScheduleCommands,
];

/** The whole command tree; an action hands its work to `defer` rather than running it. */
export function createProgram(version: string, defer: (action: Action) => void): Command {
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
  for (const register of commandModules) register(registration);
  return program;
}

export async function runCli(argv: readonly string[], version: string): Promise<number> {
  let pending: Action | undefined;
  const program = createProgram(version, (action) => {
    pending = action;
  });
  // --lock-wait of whichever command runs; parsed with the command (a bad value is exit 2).
  let lockWait: string | undefined;
  program.hook('preAction', (_program, command) => {
    lockWait = command.opts<{ lockWait?: string }>().lockWait;
    applyGlobalOptions(program, command);
  });

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0 through here; everything else is a usage error.
      if (error.code === checkUsageErrorCode) return error.exitCode;
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
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
    return await pending();
  } catch (error) {
    if (error instanceof SnapkeepError) {
      process.stderr.write(`snapkeep: ${maskSecrets(error.message)}\n`);
      return error.exitCode;
    }
    // The system refused a file operation: the path, the cause and the fix, not a stack trace.
    if (isSystemError(error)) {
      process.stderr.write(`snapkeep: ${maskSecrets(describeSystemError(error))}\n`);
      return ExitCode.fatal;
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`snapkeep: unexpected error: ${maskSecrets(message)}\n`);
    return ExitCode.fatal;
  }
}
