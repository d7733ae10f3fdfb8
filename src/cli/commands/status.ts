// `snapkeep status`.
import type { CommandRegistration } from './registration.js';

export function registerStatusCommand({
  program,
  defer,
  configOption,
  jsonOption,
}: CommandRegistration): void {
  program
    .command('status')
    .description(
      "every job's last success, last attempt, age and pending sync, from the journal (exit 3: failing or stale)",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action((options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runStatus } = await import('../status-command.js');
        return runStatus({ config: options.config, json: options.json ?? false });
      });
    });
}
