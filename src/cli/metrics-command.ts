// `snapkeep metrics [--config FILE] [--write-textfile]`, and the run observer that rewrites the
// textfile after runs (src/metrics/textfile-observer.ts decides which). Registered by program.ts
// in one call; the metrics code (and prom-client) loads only when a command or an observer needs it.
import { Option, type Command } from 'commander';
import { ExitCode } from '../errors.js';
import { addRunObserver } from '../state/run-lifecycle.js';

type Action = () => Promise<number>;

export interface MetricsRegistration {
  readonly defer: (action: Action) => void;
  readonly configOption: () => Option;
  readonly version: string;
}

export function registerMetricsCommand(program: Command, registration: MetricsRegistration): void {
  const { defer, configOption, version } = registration;
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
        const { loadResolvedConfig } = await import('../config/config-cache.js');
        const { collectMetrics, writeMetricsTextfile } = await import('../metrics/metrics-file.js');
        const { resolved } = await loadResolvedConfig(options.config);
        if (options.writeTextfile) {
          process.stdout.write(`${await writeMetricsTextfile(resolved, { version })}\n`);
          return ExitCode.ok;
        }
        process.stdout.write(await collectMetrics(resolved, { version }));
        return ExitCode.ok;
      });
    });

  // Every command that reads a config may run through the run lifecycle: once its flags are
  // parsed (program.ts copies a global -c first), the observer knows which config it ran with.
  program.hook('preAction', (_program, command) => {
    if (!command.options.some((option) => option.attributeName() === 'config')) return;
    const configFlag = command.opts<{ config?: string }>().config;
    addRunObserver({
      name: 'metrics',
      async ended(run) {
        const { writeTextfileAfterRun } = await import('../metrics/textfile-observer.js');
        await writeTextfileAfterRun(run, { configFlag, version });
      },
    });
  });
}
