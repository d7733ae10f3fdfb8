// `metrics:` — where runs leave the Prometheus metrics for node_exporter's textfile collector
// (`snapkeep metrics` prints the same text on stdout and needs no configuration).
import { z } from 'zod';
import { normalisePath } from '../local-path.js';
import { absolutePath } from './common-schema.js';

/** Debian's `prometheus-node-exporter` reads this directory (its --collector.textfile.directory). */
export const debianTextfileDirectory = '/var/lib/prometheus/node-exporter';

/** Which runs rewrite the textfile: only scheduled ones (SNAPKEEP_JOB set), or every run. */
export const textfileRunKinds = ['scheduled', 'all'] as const;

export const metricsSchema = z
  .strictObject({
    textfile_dir: absolutePath
      .optional()
      .describe(
        `node_exporter's textfile collector directory (Debian: ${debianTextfileDirectory}); runs write snapkeep.prom there`,
      ),
    textfile_runs: z
      .enum(textfileRunKinds)
      .optional()
      .describe('Which runs rewrite the textfile: scheduled (default: timers, cron, sleep units) or all'),
  })
  .describe('Prometheus metrics (snapkeep metrics prints them)');

export type MetricsConfig = z.infer<typeof metricsSchema>;

export interface ResolvedMetrics {
  /** The textfile collector directory; undefined: no run writes metrics. */
  readonly textfileDir?: string;
  readonly textfileRuns: (typeof textfileRunKinds)[number];
}

export function resolveMetrics(config: MetricsConfig | undefined): ResolvedMetrics {
  return {
    ...(config?.textfile_dir ? { textfileDir: normalisePath(config.textfile_dir) } : {}),
    textfileRuns: config?.textfile_runs ?? 'scheduled',
  };
}
