// `snapkeep backup [sets...]`.
import type { CommandRegistration } from './registration.js';

export function registerBackupCommand(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  program
    .command('backup')
    .summary('back up application data (directories, PostgreSQL) into restic, then offsite')
    .description(
      'back up application data into restic: every backup set (or the named ones) — directories and\nPostgreSQL dumps streamed into restic with no temporary file — as one run, restorable as one\npoint, then copied to the offsite repositories and compared. A dump that fails leaves no snapshot\nand the run is no restore point. Repositories are created when missing.',
    )
    .argument('[sets...]', 'backup sets from the config (default: all)')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action((sets: string[], options: { config?: string; json?: boolean; dryRun?: boolean }) => {
      defer(async () => {
        const { runBackup } = await import('../backup-command.js');
        return runBackup({
          config: options.config,
          json: options.json ?? false,
          dryRun: options.dryRun ?? false,
          sets,
        });
      });
    });
}
