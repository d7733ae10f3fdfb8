// What every command that runs through the run lifecycle tells beyond its own output: the
// notifications at a run's start and end, and the metrics textfile after it. Installed by
// program.ts whichever command module is built (a command run by name builds only its own), so
// `snapkeep run` notifies as `snapkeep notify test` does. The notify and metrics code loads only
// when a run starts or ends; whatever happens here never changes the run's exit code
// (run-lifecycle.ts journals a throw).
import type { Command } from 'commander';
import { addRunObserver, type RunObserver } from '../state/run-lifecycle.js';

interface RunFlags {
  config?: string;
  json?: boolean;
}

/** The configuration the running command read (no second load at a run's start and end). */
async function runConfig(flag: string | undefined) {
  const { resolvedConfigOfProcess } = await import('../config/config-cache.js');
  return (await resolvedConfigOfProcess(flag)).resolved;
}

async function reporter(json: boolean | undefined) {
  const { createOutput } = await import('./output.js');
  return createOutput(json ?? false);
}

/** Notifications at the run lifecycle's hook points; a scheduled run's job is its SNAPKEEP_JOB. */
export function runNotifier(flags: () => RunFlags | undefined): RunObserver {
  let starting: Promise<void> | undefined;
  return {
    name: 'notify',
    started(run) {
      const job = process.env.SNAPKEEP_JOB || undefined;
      const current = flags();
      if (!job || !current) return;
      starting = (async () => {
        const resolved = await runConfig(current.config);
        if (resolved.notify.channels.length === 0) return;
        const { notifyRunStarted } = await import('../notify/notifier.js');
        await notifyRunStarted(resolved, run, job, { reporter: await reporter(current.json) });
      })();
      return starting;
    },
    async ended(run) {
      const current = flags();
      if (!current) return;
      // Its /start goes out before its end (healthchecks pairs them); a failed start is journaled.
      await starting?.catch(() => undefined);
      const resolved = await runConfig(current.config);
      if (resolved.notify.channels.length === 0) return;
      const { notifyRunEnded } = await import('../notify/notifier.js');
      await notifyRunEnded(resolved, run, process.env.SNAPKEEP_JOB || undefined, {
        reporter: await reporter(current.json),
      });
    },
  };
}

/** Rewrites the metrics textfile after a run (src/metrics/textfile-observer.ts decides when). */
function metricsWriter(flags: () => RunFlags | undefined, version: string): RunObserver {
  return {
    name: 'metrics',
    async ended(run) {
      const { writeTextfileAfterRun } = await import('../metrics/textfile-observer.js');
      await writeTextfileAfterRun(run, { configFlag: flags()?.config, version });
    },
  };
}

// The command that runs: its --config and --json are the observers' (read when a run starts).
// One pair of observers per process, however often a command tree is built (tests build several).
let running: Command | undefined;
let observing = false;

export function observeRuns(program: Command, version: string): void {
  program.hook('preAction', (_program, command) => {
    running = command;
  });
  if (observing) return;
  observing = true;
  // Only a command that reads a config can run through the run lifecycle.
  const flags = (): RunFlags | undefined =>
    running?.options.some((option) => option.attributeName() === 'config')
      ? running.opts<RunFlags>()
      : undefined;
  addRunObserver(runNotifier(flags));
  addRunObserver(metricsWriter(flags, version));
}
