// Every event any command writes to the journal: one discriminated union on `event`, each line
// with the format version `v`. Readers validate leniently: lines written before the version
// existed (no `v`, the legacy `backup-start`/`backup-end`, `restore-end`, `pull-end`) are read as
// they were; a line that is not JSON, has no event, or has an event or field of the wrong shape
// is skipped (counted), never a crash: one garbled line must not hide the history around it.

/** The journal's format version, written on every line. Readers accept lines without it (v0). */
export const journalVersion = 1;

/** What every line carries. Extra fields are kept (older and newer writers add their own). */
type Line<Name extends string, Fields> = {
  readonly v?: number;
  readonly time: string;
  readonly run: string;
  readonly event: Name;
  readonly [field: string]: unknown;
} & Fields;

/** A btrfs job's result as `run-end` records it (btrfs/btrfs-run.ts JobResult). */
export type JournalJob = {
  readonly subvolume: string;
  readonly target?: string;
  readonly status: 'ok' | 'failed' | 'unreachable';
  readonly message?: string;
};

/** A backup set's result as `run-end` of `backup` records it (restic/backup-set.ts SetOutcome). */
export type JournalSet = {
  readonly set: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly offsite?: readonly {
    readonly repository: string;
    readonly ok: boolean;
    readonly error?: string;
    readonly durationMs?: number;
    readonly snapshots?: number;
  }[];
};

/** Space of a local target's filesystem at a run's end (fs.statfs). */
export type JournalSpace = {
  readonly target: string;
  readonly path: string;
  readonly usedBytes: number;
  readonly freeBytes: number;
  readonly sizeBytes: number;
  /** Snapshot copies of each subvolume on that target, by subvolume name. */
  readonly copies?: Readonly<Record<string, number>>;
};

export type RunStartEvent = Line<
  'run-start',
  {
    readonly command: string;
    readonly pid?: number;
    readonly host?: string;
    readonly bootId?: string;
    readonly processStart?: number;
    readonly lockWaitMs?: number;
    /** The schedule's job name (SNAPKEEP_JOB), when a scheduled job started the run. */
    readonly job?: string;
    /** systemd's INVOCATION_ID of the service that started it (notify-failure matches it). */
    readonly invocation?: string;
    readonly config?: string;
    /** The subvolumes (or sets) the run was limited to; empty or absent: all. */
    readonly only?: readonly string[];
    /** `backup`: the sets it backs up. */
    readonly sets?: readonly string[];
  }
>;

export type RunEndEvent = Line<
  'run-end',
  {
    readonly command: string;
    readonly exitCode: number;
    readonly signal?: string;
    readonly error?: string;
    readonly durationMs?: number;
    readonly jobs?: readonly JournalJob[];
    readonly sets?: readonly JournalSet[];
    /** Local targets' space at the end (btrfs engine commands). */
    readonly space?: readonly JournalSpace[];
  }
>;

/** One step of a plan and its outcome (btrfs steps, fetches, pulls, restores). */
export type StepEvent = Line<
  'step',
  {
    /** create-snapshot, send, delete-snapshot, delete-copy, delete-garbage, fetch, restore-…, … */
    readonly kind: string;
    readonly ok: boolean;
    readonly subvolume?: string;
    readonly target?: string;
    readonly name?: string;
    readonly error?: string;
    readonly durationMs?: number;
    readonly bytes?: number;
  }
>;

export type ItemEvent = Line<
  'item',
  {
    readonly set: string;
    readonly what: string;
    readonly ok: boolean;
    readonly error?: string;
    readonly durationMs?: number;
    /** The restic snapshot it made, with restic's own figures (absent when it failed). */
    readonly item?: { readonly snapshotId?: string; readonly dataAdded?: number };
  }
>;

export type OffsiteEvent = Line<
  'offsite',
  {
    readonly set: string;
    readonly repository: string;
    readonly ok: boolean;
    readonly error?: string;
    readonly durationMs?: number;
    /** The set's snapshots in that repository, listed after the copy. */
    readonly snapshots?: number;
  }
>;

/** A listing of a set's snapshots in a repository (prune lists them): how many there are now. */
export type ResticSnapshotsEvent = Line<
  'restic-snapshots',
  {
    readonly set: string;
    readonly repository: string;
    /** The set's own repository (derived status keys it apart from the offsite ones). */
    readonly primary?: boolean;
    readonly count: number;
  }
>;

export type VerifyEvent = Line<'verify', { readonly repository: string; readonly ok: boolean }>;

/** A restore drill: restic sets (`set`, kind absent or 'restic') and btrfs target copies. */
export type DrillEvent =
  | Line<
      'drill',
      { readonly kind?: 'restic'; readonly set: string; readonly ok: boolean; readonly detail?: string }
    >
  | Line<
      'drill',
      {
        readonly kind: 'btrfs';
        readonly subvolume: string;
        readonly target: string;
        /** The copy drilled; absent when none could be chosen (target unreachable, no copy). */
        readonly snapshot?: string;
        readonly ok: boolean;
        readonly detail?: string;
      }
    >;

export type ResticPruneEvent = Line<
  'restic-prune',
  { readonly set: string; readonly repository: string; readonly pruneOk?: boolean }
>;

export type InfraAppliedEvent = Line<
  'infra-applied',
  { readonly instance?: string; readonly volume?: string }
>;
export type InfraSmokeEvent = Line<'infra-smoke', { readonly ok: boolean }>;
export type ObserverFailedEvent = Line<
  'observer-failed',
  { readonly observer: string; readonly error: string }
>;

/**
 * A run the lock refused (another run held it, exit 11): it never started, so it has no
 * `run-start`; this line is what remembers it (for notifications and `status`'s failures).
 */
export type RunRefusedEvent = Line<
  'run-refused',
  {
    readonly command: string;
    readonly exitCode: number;
    readonly error: string;
    /** The schedule's job name (SNAPKEEP_JOB). */
    readonly job?: string;
    /** systemd's INVOCATION_ID of the service that started it (notify-failure matches it). */
    readonly invocation?: string;
  }
>;

/** One message handed to a notification channel, and what the channel answered. */
export type NotificationEvent = Line<
  'notification',
  {
    readonly channel: string;
    /** email | ntfy | webhook | healthchecks */
    readonly channelType: string;
    readonly ok: boolean;
    /** What the message was about (failure, recovered, stale, …; test for `notify test`). */
    readonly kinds: readonly string[];
    /** run | unit-failed | watchdog | test */
    readonly trigger: string;
    /** The run the message is about, when it is about one. */
    readonly about?: string;
    /** healthchecks: start | success | fail | log. */
    readonly ping?: string;
    /** What the channel answered (an SMTP reply, an HTTP status). */
    readonly answer?: string;
    readonly error?: string;
    readonly durationMs?: number;
  }
>;

/**
 * What compaction keeps of the lines it moved out of the journal (journal-compaction.ts): the
 * fold of derive-status.ts over them, so the answers read from a compacted journal are the
 * answers of the whole history.
 */
export type CheckpointEvent = Line<
  'checkpoint',
  { readonly through: string; readonly archived?: string; readonly state: unknown }
>;

/** Written by `backup` before the run lifecycle (read, never written any more). */
export type LegacyBackupStartEvent = Line<'backup-start', { readonly sets?: readonly string[] }>;
export type LegacyBackupEndEvent = Line<
  'backup-end',
  { readonly sets?: readonly JournalSet[]; readonly ok?: boolean }
>;
export type LegacyRestoreEndEvent = Line<'restore-end', { readonly ok?: boolean; readonly error?: string }>;
export type LegacyPullEndEvent = Line<'pull-end', { readonly ok?: boolean; readonly error?: string }>;

export type JournalEvent =
  | RunStartEvent
  | RunEndEvent
  | StepEvent
  | ItemEvent
  | OffsiteEvent
  | VerifyEvent
  | DrillEvent
  | ResticPruneEvent
  | ResticSnapshotsEvent
  | InfraAppliedEvent
  | InfraSmokeEvent
  | ObserverFailedEvent
  | RunRefusedEvent
  | NotificationEvent
  | CheckpointEvent
  | LegacyBackupStartEvent
  | LegacyBackupEndEvent
  | LegacyRestoreEndEvent
  | LegacyPullEndEvent;

export type JournalEventName = JournalEvent['event'];

/** Events a command of today's code may append (the legacy ones are only read). */
export type WritableEventName = Exclude<
  JournalEventName,
  'backup-start' | 'backup-end' | 'restore-end' | 'pull-end' | 'checkpoint'
>;

/** The fields a writer gives for an event (the journal adds v, time, run and event). */
export type EventFields<Name extends JournalEventName> = FieldsOf<Extract<JournalEvent, { event: Name }>>;

// Omit on a type with an index signature loses the named fields: map over the named keys only
// (a homomorphic mapping, so optional fields stay optional).
type FieldsOf<E> = E extends JournalEvent
  ? {
      readonly [
        K in keyof E as K extends 'v' | 'time' | 'run' | 'event'
          ? never
          : string extends K
            ? never
            : number extends K
              ? never
              : K
      ]: E[K];
    } & { readonly [field: string]: unknown }
  : never;

// Lenient shape checks: required fields of the right type; optional ones are not checked here
// (readers check what they use). Cheap on purpose: status reads every line of the journal.
type Check = (line: Record<string, unknown>) => boolean;
const isString = (value: unknown): boolean => typeof value === 'string';
const isBoolean = (value: unknown): boolean => typeof value === 'boolean';
const isNumber = (value: unknown): boolean => typeof value === 'number';
const has =
  (fields: Record<string, (value: unknown) => boolean>): Check =>
  (line) =>
    Object.entries(fields).every(([name, test]) => test(line[name]));
const always: Check = () => true;

const checks: Readonly<Record<JournalEventName, Check>> = {
  'run-start': has({ command: isString }),
  // Older run-ends carry `ok` instead of an exit code (run-history.ts reads both).
  'run-end': (line) => isString(line.command) && (isNumber(line.exitCode) || isBoolean(line.ok)),
  step: has({ kind: isString, ok: isBoolean }),
  item: has({ set: isString, ok: isBoolean }),
  offsite: has({ set: isString, repository: isString, ok: isBoolean }),
  verify: has({ repository: isString, ok: isBoolean }),
  drill: (line) =>
    isBoolean(line.ok) &&
    (line.kind === 'btrfs'
      ? isString(line.subvolume) &&
        isString(line.target) &&
        // Absent when no copy could be chosen (target unreachable, none there): a failed drill.
        (line.snapshot === undefined || isString(line.snapshot))
      : isString(line.set)),
  'restic-prune': has({ set: isString, repository: isString }),
  'restic-snapshots': has({ set: isString, repository: isString, count: isNumber }),
  'infra-applied': always,
  'infra-smoke': has({ ok: isBoolean }),
  'observer-failed': has({ observer: isString }),
  'run-refused': has({ command: isString }),
  notification: (line) =>
    isString(line.channel) && isBoolean(line.ok) && isString(line.trigger) && Array.isArray(line.kinds),
  checkpoint: (line) => isString(line.through) && typeof line.state === 'object' && line.state !== null,
  'backup-start': always,
  'backup-end': always,
  'restore-end': always,
  'pull-end': always,
};

/** The record as an event when it is one (lenient: see the checks above), else undefined. */
export function asJournalEvent(value: unknown): JournalEvent | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (!isString(record.event) || !isString(record.time) || !isString(record.run)) return undefined;
  if (!Object.hasOwn(checks, record.event as string)) return undefined; // unknown (a newer writer)
  if (!checks[record.event as JournalEventName](record)) return undefined;
  return record as JournalEvent;
}

/** A parsed line, or undefined when it is not a valid event. */
export function parseJournalLine(line: string): JournalEvent | undefined {
  try {
    return asJournalEvent(JSON.parse(line));
  } catch {
    return undefined; // torn (power loss mid-write) or garbled
  }
}

export interface ParsedJournal {
  readonly events: JournalEvent[];
  /** Lines skipped: not JSON, torn, an unknown event, or a known event of the wrong shape. */
  readonly skipped: number;
}

export function parseJournal(text: string): ParsedJournal {
  const events: JournalEvent[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const event = parseJournalLine(line);
    if (event) events.push(event);
    else skipped++;
  }
  return { events, skipped };
}
