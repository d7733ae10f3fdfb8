// `snapkeep notify test [CHANNEL]` and `snapkeep notify watchdog`; their actions are in
// notify-command.ts (notify-failure, what a scheduled unit's OnFailure= runs, is in schedule.ts).
import type { NotifyFlags } from '../notify-command.js';
import type { CommandRegistration } from './registration.js';

const notifyCommand = () => import('../notify-command.js');

export function registerNotifyCommands({
  program,
  defer,
  configOption,
  jsonOption,
  dryRunOption,
}: CommandRegistration): void {
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
    .action((channel: string | undefined, flags: NotifyFlags) => {
      defer(async () => (await notifyCommand()).runNotifyTest(channel, flags));
    });
  notify
    .command('watchdog')
    .description(
      "what the schedules' watchdog job runs: notify about jobs that are stale or failing even if no backup ran (--dry-run: the decisions and why)",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((flags: NotifyFlags) => {
      defer(async () => (await notifyCommand()).runNotifyWatchdog(flags));
    });
}
