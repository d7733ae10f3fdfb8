// The receive that `restore` and `pull` share: the fetch as planned (plan/fetch-plan.ts), its
// progress, one journal entry, and the finished step.
import type { StepOutcome } from '../btrfs/apply-steps.js';
import { applyFetch } from '../btrfs/fetch.js';
import { localHost } from '../btrfs/inventory.js';
import type { FetchPlan, FetchStep } from '../plan/fetch-plan.js';
import type { Host } from '../remote/host.js';
import type { Journal } from '../state/journal.js';
import { stepEvent, transferFigures, type StepEvent, type TransferFigures } from './transfer-events.js';

/** What identifies a fetch in its events: where from, and the command's own names. */
export interface FetchFields {
  readonly from: string;
  readonly subvolume?: string;
  readonly name?: string;
  /** pull: the snapshot's name (`name` is its basename there). */
  readonly snapshot?: string;
}

/** The received copy (`step`), with where it came from (a target, "snapshots", a URL). */
export interface FetchStepEvent extends StepEvent {
  readonly step: FetchStep;
  readonly from: string;
}

/** A receive's progress: the command's fields, the directory received into, the figures. */
export interface FetchProgressEvent extends FetchFields, TransferFigures {
  readonly type: 'progress';
  readonly into: string;
}

export type FetchEvent = FetchStepEvent | FetchProgressEvent;

/** Receive as planned: progress events, one journal entry, the step event; the outcome. */
export async function receiveFetch(
  options: {
    readonly plan: Extract<FetchPlan, { kind: 'receive' }>;
    readonly sourceHost: Host;
    readonly fields: FetchFields;
    /** The previous comparable stream's size, for the ETA. */
    readonly expectedBytes: number | undefined;
    readonly journal: Journal;
    /** Marks the journal entry (`restore: true`, `pull: true`). */
    readonly journalFields: Record<string, unknown>;
  },
  report: (event: FetchEvent) => void,
): Promise<StepOutcome> {
  const { plan } = options;
  await localHost.makeDirectory(plan.step.targetDirectory);
  const outcome = await applyFetch(plan, options.sourceHost, (progress) => {
    report({
      type: 'progress',
      ...options.fields,
      into: plan.step.targetDirectory,
      ...transferFigures(progress.bytes, progress.elapsedMs, options.expectedBytes),
    });
  });
  await options.journal.append('step', {
    ...plan.step,
    ok: outcome.ok,
    error: outcome.error,
    durationMs: outcome.durationMs,
    bytes: outcome.bytes,
    ...options.journalFields,
  });
  report({ ...stepEvent(outcome), step: plan.step, from: options.fields.from });
  return outcome;
}
