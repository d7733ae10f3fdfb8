// What `snapkeep notify test [CHANNEL]`, `snapkeep notify watchdog` and `notify-failure` (systemd's
// OnFailure= of a scheduled job) do; their flags are in commands/notify.ts and commands/schedule.ts,
// the observer that notifies at every run's start and end in run-observers.ts. The notify modules
// load only when something is sent.
import { ExitCode } from '../errors.js';
import { exitCodeOf } from '../state/run-lifecycle.js';
import { createOutput } from './output.js';

export interface NotifyFlags {
  config?: string;
  json?: boolean;
  dryRun?: boolean;
}

async function loadResolved(flag: string | undefined) {
  const { loadResolvedConfig } = await import('../config/config-cache.js');
  return (await loadResolvedConfig(flag)).resolved;
}

export async function runNotifyTest(channel: string | undefined, flags: NotifyFlags): Promise<number> {
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

export async function runNotifyWatchdog(flags: NotifyFlags): Promise<number> {
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
export async function runNotifyFailure(unit: string, flags: NotifyFlags): Promise<number> {
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
