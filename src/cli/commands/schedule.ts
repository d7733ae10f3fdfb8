// `snapkeep schedule show | install | remove | status | catch-up` and `notify-failure` (what the
// installed units run when a job fails); their actions are in schedule-command.ts and notify-command.ts.
import { Option, type Command } from 'commander';
import type { NotifyFlags } from '../notify-command.js';
import type { ScheduleFlags } from '../schedule-command.js';
import type { CommandRegistration } from './registration.js';

const scheduleCommand = () => import('../schedule-command.js');

export function registerScheduleCommands(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption } = registration;
  const backendOption = (): Option =>
    new Option('--backend <backend>', 'systemd (default where systemd runs) or cron').choices([
      'systemd',
      'cron',
    ]);
  const userOption = (): Option =>
    new Option('--user', "the user's systemd manager (~/.config/systemd/user)");
  const unitDirOption = (): Option =>
    new Option(
      '--unit-dir <dir>',
      'write the systemd units into DIR and run no systemctl (packagers, review)',
    );
  const cronFileOption = (): Option =>
    new Option('--cron-file <file>', 'the cron file to write (default /etc/cron.d/snapkeep)');
  const schedule = program
    .command('schedule')
    .description(
      'run snapkeep by itself: systemd timers (or cron) from the "schedules:" and "sleep:" sections',
    );
  const withCommon = (command: Command): Command =>
    command
      .addOption(configOption())
      .addOption(jsonOption())
      .addOption(backendOption())
      .addOption(userOption())
      .addOption(unitDirOption())
      .addOption(cronFileOption());
  withCommon(
    schedule.command('show').description('what would be installed, and the next 5 times each job runs'),
  ).action((flags: ScheduleFlags) => {
    defer(async () => (await scheduleCommand()).runScheduleShow(flags));
  });
  withCommon(
    schedule
      .command('install')
      .description(
        'install the timers and services (or the cron file) and enable them; all or nothing (a failure restores what was there)',
      ),
  )
    .addOption(dryRunOption())
    .action((flags: ScheduleFlags) => {
      defer(async () => (await scheduleCommand()).runScheduleInstall(flags));
    });
  withCommon(schedule.command('remove').description('disable and delete what schedule install installed'))
    .addOption(dryRunOption())
    .action((flags: ScheduleFlags) => {
      defer(async () => (await scheduleCommand()).runScheduleRemove(flags));
    });
  withCommon(
    schedule
      .command('status')
      .description(
        "installed or not, whether it matches the config, and each job's last and next run (exit 3 on drift)",
      ),
  ).action((flags: ScheduleFlags) => {
    defer(async () => (await scheduleCommand()).runScheduleStatus(flags));
  });
  schedule
    .command('catch-up')
    .description(
      "run each job whose scheduled time passed since its last success (cron's @reboot stand-in for Persistent=), decided from the journal",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((flags: ScheduleFlags) => {
      defer(async () => (await scheduleCommand()).runScheduleCatchUp(flags));
    });
  program
    .command('notify-failure')
    .description(
      "what a scheduled job's OnFailure= runs: the failed run (or the failure before one) is derived from the journal and notified",
    )
    .argument('<unit>', 'the unit that failed')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((unit: string, flags: NotifyFlags) => {
      defer(async () => (await import('../notify-command.js')).runNotifyFailure(unit, flags));
    });
}
