// What `schedule show | install | remove | status | catch-up` report (src/cli/schedule-command.ts),
// one typed event each. The engine (src/schedule/) returns plans; these are their events.
import type { CatchUpDecision, FileDrift, JobPreview } from '../schedule/schedule-engine.js';

/** show: what would be installed where. */
export interface ScheduleEvent {
  readonly type: 'schedule';
  readonly backend: string;
  readonly directory: string;
  readonly now: string;
  readonly notes: readonly string[];
}

/** show: a job and its next runs. */
export interface ScheduleJobEvent extends JobPreview {
  readonly type: 'schedule-job';
}

/** show, install: a unit or cron file (install: written, or with --dry-run to be). */
export interface ScheduleFileEvent {
  readonly type: 'schedule-file';
  readonly path: string;
  readonly dryRun?: boolean;
  readonly text: string;
}

/** install: a file a previous install left that the config no longer has, removed. */
export interface ScheduleStaleEvent {
  readonly type: 'schedule-stale';
  readonly path: string;
  readonly dryRun: boolean;
}

/** install, remove: a systemctl call. */
export interface ScheduleCommandEvent {
  readonly type: 'schedule-command';
  readonly argv: readonly string[];
  readonly dryRun: boolean;
}

/** install: something to know about what is installed (stderr in the text). */
export interface ScheduleNoteEvent {
  readonly type: 'schedule-note';
  readonly note: string;
}

export interface ScheduleInstalledEvent {
  readonly type: 'schedule-installed';
  readonly backend: string;
  readonly directory: string;
  readonly files: number;
}

/** remove: an installed file removed. */
export interface ScheduleRemovedEvent {
  readonly type: 'schedule-removed';
  readonly path: string;
  readonly dryRun: boolean;
}

/** remove: what it found to remove (the run's summary takes these fields). */
export interface ScheduleRemoveSummaryEvent {
  readonly type: 'summary';
  readonly backend: string;
  readonly removed: number;
}

/** status: installed or not, the drift from the config, each job's last and next run. */
export interface ScheduleStatusEvent {
  readonly type: 'schedule-status';
  readonly backend: string;
  readonly directory: string;
  readonly installed: boolean;
  readonly drift: readonly { readonly path: string; readonly drift: FileDrift }[];
  readonly jobs: readonly {
    readonly name: string;
    readonly calendar: string;
    readonly next: string | null;
    readonly lastRun: {
      readonly id: string;
      readonly state: string;
      readonly time: string;
      readonly exitCode: number | null;
    } | null;
    readonly lastSuccess: string | null;
  }[];
}

/** catch-up: whether a job missed a run, and so runs now. */
export interface CatchUpEvent extends CatchUpDecision {
  readonly type: 'catch-up';
  readonly dryRun: boolean;
}

export interface CatchUpEndedEvent {
  readonly type: 'catch-up-ended';
  readonly job: string;
  readonly exitCode: number | null;
}

export type ScheduleShowEvent = ScheduleEvent | ScheduleJobEvent | ScheduleFileEvent;
export type ScheduleInstallEvent =
  ScheduleFileEvent | ScheduleStaleEvent | ScheduleCommandEvent | ScheduleNoteEvent | ScheduleInstalledEvent;
export type ScheduleRemoveEvent = ScheduleCommandEvent | ScheduleRemovedEvent | ScheduleRemoveSummaryEvent;
export type ScheduleCatchUpEvent = CatchUpEvent | CatchUpEndedEvent;
