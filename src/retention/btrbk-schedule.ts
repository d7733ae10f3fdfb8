// btrbk 0.32.5's schedule() (pure): which entries a preserve policy keeps, with btrbk's reasons.
// See FACTS.md §1. Decisions must equal `btrbk -S` for every input (tested against btrbk itself).
import type { SnapshotDate } from '../btrfs/snapshot-name.js';
import type { PreservePolicy } from './preserve-policy.js';

export interface ScheduleEntry<T> {
  readonly value: T;
  readonly date: SnapshotDate;
  /** Present entries that take part in bucket selection but are never kept or deleted
   *  (btrbk's informative_only: existing target copies when deciding what to send). */
  readonly informativeOnly?: boolean;
  /** A reason that forces keeping this entry (e.g. "latest common snapshot"). */
  readonly forcePreserve?: string;
}

export interface ScheduleDecision<T> {
  readonly value: T;
  readonly date: SnapshotDate;
  readonly action: 'keep' | 'delete' | 'informative';
  /** The last rule that matched (btrbk's text), or a note why nothing matched. */
  readonly reason: string;
}

export interface ScheduleOptions {
  /** btrbk's preserve_date_in_future: never delete entries dated after now (used when pruning). */
  readonly preserveFuture?: boolean;
}

/** Returns one decision per entry, sorted oldest first (ties: regular before informative). */
export function schedule<T>(
  _entries: readonly ScheduleEntry<T>[],
  _policy: PreservePolicy,
  _now: Date,
  _options: ScheduleOptions = {},
): ScheduleDecision<T>[] {
  throw new Error('not implemented yet');
}
