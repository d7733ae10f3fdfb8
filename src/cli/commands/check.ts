// `snapkeep check [job...]`: a monitoring plugin, so even its usage errors keep the plugin's
// contract (one summary line, UNKNOWN).
import { CommanderError } from 'commander';
import { ExitCode } from '../../errors.js';
import type { CommandRegistration } from './registration.js';

/** CommanderError code of a usage error `check` already reported as UNKNOWN (exit 3). */
export const checkUsageErrorCode = 'snapkeep.check';

export function registerCheckCommand({ program, defer, configOption }: CommandRegistration): void {
  program
    .command('check')
    .description('monitoring-plugin check of every job (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .argument('[job...]', 'subvolumes, backup sets or subvolume/target (default: all)')
    .addOption(configOption())
    .option('--max-age <duration>', 'stale after this long without a success, for every job (26h, 2d)')
    // A monitoring plugin's bad invocation is UNKNOWN (3), with the one summary line, not 2 (CRITICAL).
    .exitOverride((error) => {
      if (error.exitCode === 0) throw error;
      process.stdout.write(`SNAPKEEP UNKNOWN - ${error.message.replace(/^error: /, '')}\n`);
      throw new CommanderError(ExitCode.partial, checkUsageErrorCode, error.message);
    })
    .action((jobs: string[], options: { config?: string; maxAge?: string }) => {
      defer(async () => (await import('../check-command.js')).runCheck({ ...options, jobs }));
    });
}
