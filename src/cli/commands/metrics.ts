// `snapkeep metrics [--config FILE] [--write-textfile]`; the metrics code (and prom-client) loads
// only when it runs.
import { Option } from 'commander';
import { ExitCode } from '../../errors.js';
import type { CommandRegistration } from './registration.js';

export function registerMetricsCommand({ program, defer, configOption, version }: CommandRegistration): void {
  program
    .command('metrics')
    .description(
      "the jobs' status as Prometheus metrics (text exposition format) on stdout, from the journal like status; --write-textfile: into metrics.textfile_dir for node_exporter instead",
    )
    .addOption(configOption())
    .addOption(
      new Option(
        '--write-textfile',
        'write snapkeep.prom atomically into metrics.textfile_dir (for a watchdog timer or cron) and print its path',
      ),
    )
    .action((options: { config?: string; writeTextfile?: boolean }) => {
      defer(async () => {
        const { loadResolvedConfig } = await import('../../config/config-cache.js');
        const { collectMetrics, writeMetricsTextfile } = await import('../../metrics/metrics-file.js');
        const { resolved } = await loadResolvedConfig(options.config);
        if (options.writeTextfile) {
          process.stdout.write(`${await writeMetricsTextfile(resolved, { version })}\n`);
          return ExitCode.ok;
        }
        process.stdout.write(await collectMetrics(resolved, { version }));
        return ExitCode.ok;
      });
    });
}
