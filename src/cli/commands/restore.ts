// `snapkeep restore [name] [snapshot]`: listing restore points and bringing them back.
import type { CommandRegistration } from './registration.js';

export function registerRestoreCommand(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  program
    .command('restore')
    .summary('list restore points, or bring a snapshot or a backup-set run back')
    .description(
      'without a snapshot: list what can be restored (local snapshots and the copies on every target,\nwith dates and sizes). With one (a name or "latest"): bring it back as a writable subvolume at\n--to (default: the subvolume\'s own path). A copy on a target is received into the snapshot\ndirectory first, incrementally when a snapshot here has a copy there (--full: every byte from\nthe target), and stays as a snapshot so the next run continues incrementally. With --from the\ndata is read from there even when the snapshot is here too. --to must be on btrfs; on another\nbtrfs filesystem the snapshot is received there. An existing --to is never overwritten: --force moves\nit aside to <to>.before-restore.<time>.\nA backup set\'s run brings back its folders and databases (--only SOURCE: some of them); a\nfolder is merged (files created since stay) unless --exact moves those aside first.',
    )
    .argument('[name]', 'a subvolume or backup set from the config (default: all, for listing)')
    .argument('[snapshot]', 'snapshot name, backup run id, or "latest"')
    .option(
      '--from <where>',
      '"snapshots" (the local snapshot directory) or a target name: the data is read from there, also when a copy is here; default: the snapshot directory if it has it, else the first target that does',
    )
    .option(
      '--to <path>',
      "where the writable subvolume goes (default: the subvolume's path); with --path, where the copy goes (default: the working directory)",
    )
    .option(
      '--path <path>',
      'copy only this file or directory (relative to the subvolume, e.g. Documents/report.odt) out of the snapshot to --to, attributes kept; an existing one is never overwritten (--force moves it aside)',
    )
    .option('--read-only', 'only bring the read-only snapshot back into the snapshot directory')
    .option(
      '--full',
      'receive without a parent: every byte is read from the source (a restore drill); without it, a receive is incremental against a snapshot here when one pairs with a copy there',
    )
    .option(
      '--force',
      'if --to exists, move it aside (never deleted) and restore; backup sets: restore over an existing database',
    )
    .option(
      '--database <old=new>',
      'backup sets: restore database OLD as NEW (repeatable; default: its own name, which must not exist unless --force)',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option(
      '--only <source>',
      'backup sets: restore only this source of the set (its database, or one folder); repeat for more (--only database --only uploads); the other sources are not touched',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option(
      '--exact',
      "backup sets: a point-in-time restore of folders: what is in a folder but not in the run (files created after the backup) is first moved aside, never deleted, into <folder>.snapkeep-moved-<time>/ (relative paths kept); default (merge): restic restores the run's files and the others stay",
    )
    .option('-y, --yes', 'backup sets: overwrite files at their original paths without asking')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action(
      (
        subvolume: string | undefined,
        snapshot: string | undefined,
        options: {
          from?: string;
          to?: string;
          path?: string;
          readOnly?: boolean;
          full?: boolean;
          force?: boolean;
          database: string[];
          only: string[];
          exact?: boolean;
          yes?: boolean;
          config?: string;
          json?: boolean;
          dryRun?: boolean;
        },
      ) => {
        defer(async () => {
          const { runRestore } = await import('../restore-command.js');
          return runRestore({
            config: options.config,
            json: options.json ?? false,
            dryRun: options.dryRun ?? false,
            subvolume,
            snapshot,
            from: options.from,
            to: options.to,
            ...(options.path !== undefined ? { path: options.path } : {}),
            readOnly: options.readOnly ?? false,
            full: options.full ?? false,
            force: options.force ?? false,
            databases: options.database,
            only: options.only,
            exact: options.exact ?? false,
            yes: options.yes ?? false,
          });
        });
      },
    );
}
