// How `restore` and `pull` show a fetch: the plan line and the outcome line.
import type { StepOutcome } from '../btrfs/apply-steps.js';
import type { FetchPlan, FetchStep } from '../plan/fetch-plan.js';
import type { Output } from './output.js';
import { formatBytes } from './progress.js';

export function describeFetch(plan: FetchPlan, from: string): string {
  switch (plan.kind) {
    case 'present':
      return `nothing to fetch: ${plan.reason}`;
    case 'blocked':
      return `cannot fetch: ${plan.reason}`;
    case 'receive':
      return `${plan.garbage ? `delete ${plan.garbage.path} (left by an interrupted transfer), then ` : ''}receive ${plan.step.name} from ${from} into ${plan.step.targetDirectory}: ${plan.step.reason}`;
  }
}

export function reportFetchOutcome(
  output: Output,
  outcome: StepOutcome,
  step: FetchStep,
  from: string,
): void {
  output.event('step', {
    ok: outcome.ok,
    error: outcome.error,
    durationMs: outcome.durationMs,
    bytes: outcome.bytes,
    step: outcome.step,
  });
  const size = outcome.bytes ? `, ${formatBytes(outcome.bytes)}` : '';
  output.text(
    `${outcome.ok ? 'ok  ' : 'FAIL'} received ${step.name} from ${from} (${step.parent ? `incremental from ${step.parent.name}` : 'full'}) [${(outcome.durationMs / 1000).toFixed(2)}s${size}]`,
  );
  if (!outcome.ok && outcome.error) output.warn(`ERROR: ${outcome.error}`);
}
