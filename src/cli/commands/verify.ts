// `snapkeep verify [names...]`: restic checks and restore drills.
import type { CommandRegistration } from './registration.js';

export function registerVerifyCommand(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  program
    .command('verify')
    .summary('restic check, reading a rotating part of the data each run; --drill: restore drills')
    .description(
      "restic check of every repository the backup sets use, reading a different 1/N of the data each\nrun (the part is remembered in the state directory), so all of it is read every N runs.\n--drill also restores: each set's latest run, and one btrfs target copy per run (every\nsubvolume × target in turn), compared file by file with the snapshot it was sent from",
    )
    .argument('[names...]', 'backup sets and subvolumes from the config (default: all)')
    .option(
      '--parts <n>',
      'read 1/N of the pack data per run (1 = everything)',
      (value: string) => Number(value),
      12,
    )
    .option(
      '--drill',
      'also restore the latest run of each set into a scratch directory and scratch databases and\ncompare every table (rows and checksums) with what was dumped; and receive one btrfs target copy\n(the subvolume × target drilled longest ago) into a scratch subvolume and compare every file\nwith its local snapshot; scratch data is removed after',
    )
    .option(
      '--from <repository>',
      "backup sets: check only this repository (by its name in the config, e.g. an offsite one), and --drill restores from it instead of the set's own repository; btrfs copies are then not drilled",
    )
    .addOption(dryRunOption())
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(lockWaitOption())
    .action(
      (
        sets: string[],
        options: {
          parts: number;
          drill?: boolean;
          from?: string;
          dryRun?: boolean;
          config?: string;
          json?: boolean;
        },
      ) => {
        defer(async () => {
          const { runVerify } = await import('../verify-command.js');
          return runVerify({
            config: options.config,
            json: options.json ?? false,
            sets,
            parts: options.parts,
            drill: options.drill ?? false,
            ...(options.from !== undefined ? { from: options.from } : {}),
            dryRun: options.dryRun ?? false,
          });
        });
      },
    );
}
