// What `status --json` prints (src/cli/status-command.ts; README "status --json"), one typed event
// each, in this order. The text is a view of the same derived status (a table, failures first),
// printed once it is known: these events have no lines of their own.
import type { ChannelRecord, TargetSpace } from '../state/derive-status.js';
import type { TransferRecord } from '../state/transfer-state.js';

/** The head: version, the last run, the counts, the exit code. */
export interface StatusEvent {
  readonly type: 'status';
  readonly version: number;
  readonly stateDir: string;
  readonly now: string;
  /** Its end entry's fields, and how it ended (status-command.ts runJson). */
  readonly lastRun: Record<string, unknown> | null;
  readonly runs: number;
  readonly summary: Record<string, number>;
  readonly exitCode: number;
}

/** One job (status-command.ts jobJson). */
export type JobStatusEvent = { readonly type: 'job-status' } & Record<string, unknown>;

/** What the transfer memory holds for a subvolume's target. */
export interface TargetStatusEvent extends TransferRecord {
  readonly type: 'target-status';
  readonly subvolume: string;
  readonly target: string;
}

export interface TargetSpaceEvent extends TargetSpace {
  readonly type: 'target-space';
}

export interface SnapshotCountEvent {
  readonly type: 'snapshot-count';
  readonly subvolume: string;
  readonly local: number | null;
  readonly targets: readonly {
    readonly target: string;
    readonly count: number | null;
    readonly time: string | null;
  }[];
}

export interface ChannelStatusEvent extends ChannelRecord {
  readonly type: 'channel-status';
  readonly channel: string;
  readonly failing: boolean;
}

export type StatusCommandEvent =
  | StatusEvent
  | JobStatusEvent
  | TargetStatusEvent
  | TargetSpaceEvent
  | SnapshotCountEvent
  | ChannelStatusEvent;
