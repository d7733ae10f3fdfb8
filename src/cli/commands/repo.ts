// `snapkeep repo init | check-permissions`.
import type { CommandRegistration } from './registration.js';

export function registerRepoCommands(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption } = registration;
  const repo = program
    .command('repo')
    .description('restic repositories of the backup sets: create, check permissions');
  repo
    .command('init')
    .description(
      "create the missing repositories (offsite ones with their set's chunker parameters, so copies dedup)",
    )
    .argument('[names...]', 'repositories from the config (default: every one a backup set uses)')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((names: string[], options: { config?: string; json?: boolean; dryRun?: boolean }) => {
      defer(async () => {
        const { runRepoInit } = await import('../repo-command.js');
        return runRepoInit({
          config: options.config,
          json: options.json ?? false,
          dryRun: options.dryRun ?? false,
          names,
        });
      });
    });
  repo
    .command('check-permissions')
    .description(
      'prove with a canary snapshot what the configured identity can do in a repository: write and\nread (needed) and delete (must be refused for an append-only offsite). Exit 3 when it can delete.\nThe canary stays in the repository.',
    )
    .argument('<name>', 'repository from the config')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((name: string, options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runCheckPermissions } = await import('../repo-command.js');
        return runCheckPermissions({ config: options.config, json: options.json ?? false, name });
      });
    });
}
