// After a run ends (a run observer, src/state/run-lifecycle.ts): rewrite the config's metrics
// textfile, so node_exporter serves what the run just changed. By default only scheduled runs
// (SNAPKEEP_JOB set: timers, cron, the sleep units) write it: those run as the user the units
// grant the directory to, and a person at a terminal sees the result already; `textfile_runs:
// all` makes every run write it. A failure here is the observer's, journaled as
// `observer-failed` by the lifecycle; it never changes the run's exit code.
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedMetrics } from '../config/metrics-schema.js';
import type { RunEnded } from '../state/run-lifecycle.js';

export type TextfileDecision =
  { readonly write: true; readonly directory: string } | { readonly write: false; readonly reason: string };

/** Whether a run that ended should rewrite the textfile (pure). */
export function textfileDecision(
  metrics: ResolvedMetrics,
  run: { readonly stateDir: string },
  context: { readonly stateDir: string; readonly scheduledJob?: string },
): TextfileDecision {
  if (metrics.textfileDir === undefined) return { write: false, reason: 'metrics.textfile_dir is not set' };
  // A run of another state directory (a sandbox) must not overwrite this config's metrics.
  if (run.stateDir !== context.stateDir)
    return { write: false, reason: `the run used ${run.stateDir}, the config ${context.stateDir}` };
  if (metrics.textfileRuns === 'scheduled' && !context.scheduledJob)
    return { write: false, reason: 'not a scheduled run (metrics.textfile_runs: scheduled)' };
  return { write: true, directory: metrics.textfileDir };
}

/** The observer's work: the config the command ran with (its --config), then the decision. */
export async function writeTextfileAfterRun(
  run: RunEnded,
  options: { readonly configFlag?: string; readonly version: string },
): Promise<string | undefined> {
  const { resolved } = await loadResolvedConfig(options.configFlag);
  const decision = textfileDecision(resolved.metrics, run, {
    stateDir: resolved.stateDir,
    scheduledJob: process.env.SNAPKEEP_JOB,
  });
  if (!decision.write) return undefined;
  // Only a run that writes the file loads prom-client (and node:https through its pushgateway):
  // every other run would pay for it on its way to exit.
  const { writeMetricsTextfile } = await import('./metrics-file.js');
  return writeMetricsTextfile(resolved, { version: options.version });
}
