// `snapkeep list [what] [names...]`.
import { Option } from 'commander';
import type { CommandRegistration } from './registration.js';

export function registerListCommand({ program, defer, configOption, jsonOption }: CommandRegistration): void {
  program
    .command('list')
    .description("list snapshots, target copies and how they relate, and the backup sets' restore points")
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(
      new Option(
        '--what <kind>',
        'what to list (also as the first argument, as btrbk spells it: list latest)',
      )
        .choices(['all', 'snapshots', 'backups', 'latest', 'sets'])
        .default('all'),
    )
    .argument('[names...]', 'limit to these subvolumes or backup sets (first: a kind, e.g. latest)')
    .action((subvolumes: string[], options: { config?: string; json?: boolean; what: string }) => {
      defer(async () => {
        const { runList } = await import('../list-command.js');
        return runList({
          config: options.config,
          json: options.json ?? false,
          what: options.what,
          only: subvolumes,
        });
      });
    });
}
