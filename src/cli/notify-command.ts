// `snapkeep notify test [CHANNEL]`, `snapkeep notify watchdog` and what `notify-failure` (systemd's
// OnFailure= of a scheduled job) runs; and the run observer that notifies at every run's start and
// end. Registered by program.ts in one call; the notify modules load only when something is sent.
import { Option, type Command } from 'commander';
import { ExitCode } from '../errors.js';
import { addRunObserver, exitCodeOf, type RunObserver } from '../state/run-lifecycle.js';
import { createOutput } from './output.js';

type Action = () => Promise<number>;

export interface NotifyRegistration {
  readonly defer: (action: Action) => void;
  readonly configOption: () => Option;
  readonly jsonOption: () => Option;
  readonly dryRunOption: () => Option;
}

interface Flags {
  config?: string;
  json?: boolean;
  dryRun?: boolean;
}

async function loadResolved(flag: string | undefined) {
  const { loadResolvedConfig } = await import('../config/config-cache.js');
  return (await loadResolvedConfig(flag)).resolved;
}

/** The configuration the running command read (no second load at a run's start and end). */
async function runConfig(flag: string | undefined) {
  const { resolvedConfigOfProcess } = await import('../config/config-cache.js');
  return (await resolvedConfigOfProcess(flag)).resolved;
}

/**
 * Notifications at the run lifecycle's hook points. The config is the one the command read (its
 * --config); a scheduled run's job is its SNAPKEEP_JOB. Whatever
 * happens here never changes the run's exit code (run-lifecycle.ts journals a throw).
 */
export function runNotifier(flags: () => Flags | undefined): RunObserver {
  let starting: Promise<void> | undefined;
  return {
    name: 'notify',
    started(run) {
      const job = process.env.SNAPKEEP_JOB || undefined;
      const current = flags();
      if (!job || !current) return;
      starting = (async () => {
        const resolved = await runConfig(current.config);
        if (resolved.notify.channels.length === 0) return;
        const { notifyRunStarted } = await import('../notify/notifier.js');
        await notifyRunStarted(resolved, run, job, { reporter: createOutput(current.json ?? false) });
      })();
      return starting;
    },
    async ended(run) {
      const current = flags();
      if (!current) return;
      // Its /start goes out before its end (healthchecks pairs them); a failed start is journaled.
      await starting?.catch(() => undefined);
      const resolved = await runConfig(current.config);
      if (resolved.notify.channels.length === 0) return;
      const { notifyRunEnded } = await import('../notify/notifier.js');
      await notifyRunEnded(resolved, run, process.env.SNAPKEEP_JOB || undefined, {
        reporter: createOutput(current.json ?? false),
      });
    },
  };
}

async function runTest(channel: string | undefined, flags: Flags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const resolved = await loadResolved(flags.config);
  const { testChannels } = await import('../notify/notifier.js');
  const results = await testChannels(resolved, channel, { reporter: output });
  const failed = results.filter((result) => !result.ok);
  output.text(
    failed.length === 0
      ? `all ${results.length} channel(s) answered`
      : `${failed.length} of ${results.length} channel(s) failed: ${failed.map((result) => result.channel).join(', ')}`,
  );
  return exitCodeOf(results.map((result) => (result.ok ? ExitCode.ok : ExitCode.partial)));
}

async function runWatchdogCommand(flags: Flags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const resolved = await loadResolved(flags.config);
  if (resolved.notify.channels.length === 0) {
    output.text('no notification channels configured (notify:): nothing to watch for');
    return ExitCode.ok;
  }
  const { runWatchdog } = await import('../notify/notifier.js');
  const report = await runWatchdog(resolved, { reporter: output, dryRun: flags.dryRun ?? false });
  if (!flags.dryRun && report.sent.length === 0) output.text('nothing to tell');
  // A channel that failed is journaled and tried again next time; the watchdog itself did its work.
  return ExitCode.ok;
}

/** `notify-failure <unit>`: what systemd's OnFailure= runs for a scheduled job (exit 0 always). */
export async function runNotifyFailure(unit: string, flags: Flags): Promise<number> {
  // The unit's log gets the pointer whatever else happens.
  process.stderr.write(
    `snapkeep: scheduled job ${unit} failed; its log: journalctl -u ${unit}; its journal: snapkeep status\n`,
  );
  const output = createOutput(flags.json ?? false);
  const resolved = await loadResolved(flags.config);
  if (resolved.notify.channels.length === 0) {
    output.text('no notification channels configured (notify:): nobody to tell');
    return ExitCode.ok;
  }
  const { notifyUnitFailed } = await import('../notify/notifier.js');
  const result = [process.env.MONITOR_SERVICE_RESULT, process.env.MONITOR_EXIT_STATUS]
    .filter((part) => part !== undefined && part !== '')
    .join(', ');
  await notifyUnitFailed(
    resolved,
    {
      unit,
      ...(process.env.MONITOR_INVOCATION_ID ? { invocation: process.env.MONITOR_INVOCATION_ID } : {}),
      ...(result ? { result } : {}),
    },
    { reporter: output, dryRun: flags.dryRun ?? false },
  );
  return ExitCode.ok;
}

// The command that runs: its --config and --json are the observer's (read when a run starts).
// One observer per process, however often a command tree is built (tests build several).
let running: Command | undefined;
let observing = false;

export function registerNotifyCommands(program: Command, registration: NotifyRegistration): void {
  const { defer, configOption, jsonOption, dryRunOption } = registration;
  program.hook('preAction', (_program, command) => {
    running = command;
  });
  if (!observing) {
    observing = true;
    addRunObserver(runNotifier(() => running?.opts<Flags>()));
  }

  const notify = program
    .command('notify')
    .description('notifications (the "notify:" section): e-mail, ntfy, webhooks, healthchecks pings');
  notify
    .command('test')
    .description(
      'send a test message to every channel (or CHANNEL) and print what each answered (exit 3: one failed)',
    )
    .argument('[channel]', 'a channel name from notify:')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((channel: string | undefined, flags: Flags) => {
      defer(() => runTest(channel, flags));
    });
  notify
    .command('watchdog')
    .description(
      "what the schedules' watchdog job runs: notify about jobs that are stale or failing even if no backup ran (--dry-run: the decisions and why)",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((flags: Flags) => {
      defer(() => runWatchdogCommand(flags));
    });
}
