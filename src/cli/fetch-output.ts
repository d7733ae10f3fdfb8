// The text `restore` and `pull` share around a fetch: its plan lines, the receive's progress line
// and outcome line (src/replication/fetch-receive.ts), the checkout's lines.
import { basename } from 'node:path';
import type { CheckoutPlan } from '../btrfs/fetch.js';
import type { FetchPlan } from '../plan/fetch-plan.js';
import type { FetchEvent } from '../replication/fetch-receive.js';
import type { RestoreSource } from '../replication/restore.js';
import type { TextLine } from './printer.js';
import { stepOutcomeText } from './progress.js';

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

/** The receive's lines: its progress, then the outcome. */
export function fetchText(event: FetchEvent): readonly TextLine[] {
  if (event.type === 'progress') return [{ progress: { ...event, label: `${event.from} → ${event.into}` } }];
  const { step } = event;
  return stepOutcomeText(
    event,
    `received ${step.name} from ${event.from} (${step.parent ? `incremental from ${step.parent.name}` : 'full'})`,
  );
}

/** The checkout's plan lines (`prefix` is "would " under --dry-run). */
export function checkoutText(checkout: CheckoutPlan | undefined, prefix: string): string[] {
  if (!checkout) return [];
  return [
    ...(checkout.aside ? [`${prefix}move ${checkout.path} aside to ${checkout.aside}`] : []),
    `${prefix}create writable ${checkout.path} from ${checkout.snapshot}`,
    ...(checkout.rehome
      ? [
          `${prefix}place ${basename(checkout.snapshot)} in ${checkout.rehome.into} (the snapshot directory inside ${checkout.path}), so the next run is incremental`,
        ]
      : []),
  ];
}
