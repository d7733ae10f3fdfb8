// `snapkeep retention preview`.
import type { CommandRegistration } from './registration.js';

export function registerRetentionCommands({ program, defer, jsonOption }: CommandRegistration): void {
  const retention = program.command('retention').description('explore retention policies');
  retention
    .command('preview')
    .description(
      'read snapshot names (one per line) on stdin and show which a policy keeps or deletes, and why;\ndecisions equal btrbk 0.32.5 (timestamps are local time: set TZ)',
    )
    .requiredOption('--preserve <matrix>', 'preserve matrix, e.g. "24h 7d 4w 6m 2y" (or "no")')
    .option('--preserve-min <min>', 'all | latest | no | N[hdwmy]', 'no')
    .option('--day-of-week <day>', 'weeks start on this day', 'sunday')
    .option('--hour-of-day <hour>', 'days start at this hour (0-23)', '0')
    .option('--now <time>', 'reference time YYYY-MM-DDThh:mm:ss (local time; default: now)')
    .addOption(jsonOption())
    .action(
      (options: {
        preserve: string;
        preserveMin: string;
        dayOfWeek: string;
        hourOfDay: string;
        now?: string;
        json?: boolean;
      }) => {
        defer(async () => {
          const { runRetentionPreview } = await import('../retention-command.js');
          return runRetentionPreview({ ...options, json: options.json ?? false });
        });
      },
    );
}
