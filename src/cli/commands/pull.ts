// `snapkeep pull <from> <name>`.
import type { CommandRegistration } from './registration.js';

export function registerPullCommand(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  program
    .command('pull')
    .summary("fetch another device's latest snapshot from a shared target")
    .description(
      "fetch another device's snapshot (default: the newest) from a shared target onto this machine:\nthe new-machine and second-device case. Pulled snapshots stay in --into (the newest is the next\npull's incremental parent); --checkout also makes a writable subvolume from it.",
    )
    .argument(
      '<from>',
      'a target name from the config, an ssh://user@host[:port]/dir URL, or a local directory',
    )
    .argument('<name>', "the snapshot basename there (the other device's subvolume, e.g. home)")
    .requiredOption(
      '--into <dir>',
      'local btrfs directory that keeps the pulled snapshots (created if missing)',
    )
    .option('--snapshot <name>', 'a snapshot name instead of the newest')
    .option('--checkout <path>', 'also create a writable subvolume at <path> from the pulled snapshot')
    .option('--force', 'if --checkout exists, move it aside (never deleted) first')
    .option(
      '--keep <n>',
      'pulled snapshots of <name> to keep in --into (at least 1)',
      (value: string) => Number(value),
      3,
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action(
      (
        from: string,
        name: string,
        options: {
          into: string;
          snapshot?: string;
          checkout?: string;
          force?: boolean;
          keep: number;
          config?: string;
          json?: boolean;
          dryRun?: boolean;
        },
      ) => {
        defer(async () => {
          const { runPull } = await import('../pull-command.js');
          return runPull({
            config: options.config,
            json: options.json ?? false,
            dryRun: options.dryRun ?? false,
            from,
            name,
            snapshot: options.snapshot,
            into: options.into,
            checkout: options.checkout,
            keep: options.keep,
            force: options.force ?? false,
          });
        });
      },
    );
}
