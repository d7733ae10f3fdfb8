// What `list` reports about each subvolume (src/cli/list-command.ts), one typed event each; the
// tables are made from the rows the listing returns, once every subvolume is read.

/** A local snapshot and, per reachable target, the name of its copy there (null: none). */
export interface ListSnapshotEvent {
  readonly type: 'snapshot';
  readonly subvolume: string;
  readonly name: string;
  readonly path: string;
  /** ISO 8601. */
  readonly date: string;
  readonly uuid: string;
  readonly copies: Record<string, string | null>;
}

/** A copy on a target, and the snapshot it was sent from (null: deleted since). */
export interface ListBackupEvent {
  readonly type: 'backup';
  readonly subvolume: string;
  readonly target: string;
  readonly name: string;
  readonly path: string;
  readonly date: string;
  readonly receivedUuid?: string;
  readonly sourceSnapshot: string | null;
}

/** What an interrupted receive left on a target (`snapkeep clean` deletes it). */
export interface ListGarbageEvent {
  readonly type: 'garbage';
  readonly subvolume: string;
  readonly target: string;
  readonly path: string;
}

/** `--what latest`: the newest snapshot, the latest common one per target, the pointer. */
export interface ListLatestEvent {
  readonly type: 'latest';
  readonly subvolume: string;
  readonly snapshot: string | null;
  readonly latestCommon: Record<string, string>;
  readonly pointer?: { readonly path: string; readonly pointsTo: string | null };
}

/** A subvolume that could not be read at all. */
export interface ListErrorEvent {
  readonly type: 'subvolume-error';
  readonly subvolume: string;
  readonly message: string;
}

/** A target that could not be read (its copies are not listed). */
export interface ListUnreachableEvent {
  readonly type: 'unreachable';
  readonly subvolume: string;
  readonly target: string;
  readonly error: string;
}

export type ListEvent =
  | ListSnapshotEvent
  | ListBackupEvent
  | ListGarbageEvent
  | ListLatestEvent
  | ListErrorEvent
  | ListUnreachableEvent;
