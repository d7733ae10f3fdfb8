// What `restore` and `pull` share around a fetch: its plan lines, the receive with its progress
// line and journal entry, and the outcome line.
import { basename } from 'node:path';
import type { StepOutcome } from '../btrfs/apply-steps.js';
import { applyFetch, type CheckoutPlan } from '../btrfs/fetch.js';
import { localHost } from '../btrfs/inventory.js';
import type { Host } from '../remote/host.js';
import type { FetchPlan, FetchStep } from '../plan/fetch-plan.js';
import type { Journal } from '../state/journal.js';
import type { Output } from './output.js';
import { createProgressLine, reportStepOutcome } from './progress.js';

/** The fetch's plan line (`prefix` is "would " under --dry-run, for what it does). */
export function describeFetch(plan: FetchPlan, from: string, prefix: string): string {
  switch (plan.kind) {
    case 'present':
      return `nothing to fetch: ${plan.reason}`;
    case 'blocked':
      return `cannot fetch: ${plan.reason}`;
    case 'receive':
      return `${prefix}${plan.garbage ? `delete ${plan.garbage.path} (left by an interrupted transfer), then ` : ''}receive ${plan.step.name} from ${from} into ${plan.step.targetDirectory}${
        plan.alreadyHere
          ? ` (${plan.alreadyHere.path} is here already, but the data is to come from ${from})`
          : ''
      }: ${plan.step.reason}`;
  }
}

/** Where a restore's data really comes from: the scripting contract of `plan` and `restored`. */
export interface RestoreSource {
  /** A target name, "snapshots" (the snapshot directory), or "here" (a copy already on this machine). */
  readonly from: string;
  /** The host the data is read from ("local" or user@host). */
  readonly host: string;
  /** The subvolume read, on that host. */
  readonly path: string;
  /** How it is received: not at all (a snapshot here is used as it is), full, or incremental. */
  readonly transfer: 'none' | 'full' | 'incremental';
  /** With an incremental: the subvolume here whose data the changes are applied to. */
  readonly parent?: string;
}

/** Where a restore's data comes from, as the dry run and the outcome line say it. */
export function describeSource(source: RestoreSource): string {
  const where =
    source.from === 'here'
      ? `from the copy already on this machine at ${source.path}`
      : `from ${source.from} (${source.host === 'local' ? source.path : `${source.host}:${source.path}`})`;
  switch (source.transfer) {
    case 'none':
      return `${where}, used as it is (nothing received)`;
    case 'full':
      return `${where}, received in full`;
    case 'incremental':
      return `${where}, received incrementally against ${source.parent ?? '?'} here (only the changes are read from ${source.from})`;
  }
}

export function reportFetchOutcome(
  output: Output,
  outcome: StepOutcome,
  step: FetchStep,
  from: string,
): void {
  reportStepOutcome(
    output,
    outcome,
    `received ${step.name} from ${from} (${step.parent ? `incremental from ${step.parent.name}` : 'full'})`,
  );
}

/** The checkout's plan lines (`prefix` is "would " under --dry-run). */
export function describeCheckout(output: Output, checkout: CheckoutPlan | undefined, prefix: string): void {
  if (!checkout) return;
  if (checkout.aside) output.text(`${prefix}move ${checkout.path} aside to ${checkout.aside}`);
  output.text(`${prefix}create writable ${checkout.path} from ${checkout.snapshot}`);
  if (checkout.rehome)
    output.text(
      `${prefix}place ${basename(checkout.snapshot)} in ${checkout.rehome.into} (the snapshot directory inside ${checkout.path}), so the next run is incremental`,
    );
}

/** Receive as planned, with a progress line, one journal entry and the outcome line. */
export async function receiveShown(options: {
  readonly plan: Extract<FetchPlan, { kind: 'receive' }>;
  readonly sourceHost: Host;
  readonly from: string;
  /** Identify the transfer in `progress` events. */
  readonly fields: Record<string, string>;
  /** The previous comparable stream's size, for the ETA. */
  readonly expectedBytes: number | undefined;
  readonly output: Output;
  readonly journal: Journal;
  /** Marks the journal entry (`restore: true`, `pull: true`). */
  readonly journalFields: Record<string, unknown>;
}): Promise<StepOutcome> {
  const { plan, output } = options;
  await localHost.makeDirectory(plan.step.targetDirectory);
  const progressLine = createProgressLine(output);
  const outcome = await applyFetch(plan, options.sourceHost, (progress) => {
    progressLine.show({
      fields: options.fields,
      label: `${options.from} → ${plan.step.targetDirectory}`,
      bytes: progress.bytes,
      elapsedMs: progress.elapsedMs,
      expectedBytes: options.expectedBytes,
    });
  });
  progressLine.clear();
  await options.journal.append('step', {
    ...plan.step,
    ok: outcome.ok,
    error: outcome.error,
    durationMs: outcome.durationMs,
    bytes: outcome.bytes,
    ...options.journalFields,
  });
  reportFetchOutcome(output, outcome, plan.step, options.from);
  return outcome;
}
