// The configured schedules with every default applied: what each job runs (the snapkeep argv),
// when (a parsed calendar event) and how. Pure; the unit and cron renderers and `schedule
// show` / `status` / `catch-up` all read this one answer.
import { createHash } from 'node:crypto';
import { parseCalendar, type CalendarSpec } from '../calendar/systemd-calendar.js';
import { parseTimeSpan } from '../calendar/time-span.js';
import { resolveNotify } from '../config/resolve.js';
import type { Config } from '../config/schema.js';
import {
  calendarOf,
  randomDelayOf,
  transferringCommands,
  type JobCommand,
} from '../config/schedule-schema.js';

export interface ScheduledJob {
  readonly name: string;
  readonly command: JobCommand;
  readonly only: readonly string[];
  /** The calendar event as systemd gets it (`every:` already expanded). */
  readonly calendar: string;
  readonly spec: CalendarSpec;
  readonly randomDelaySeconds: number;
  readonly onAcPower: boolean;
  readonly nice: number;
  readonly ioClass: 'idle' | 'best-effort' | 'realtime';
  readonly timeoutSeconds: number;
  readonly lockWaitSeconds: number;
  /** Hold a sleep:shutdown inhibitor while it runs. */
  readonly inhibitSleep: boolean;
  /** Arguments after the snapkeep executable. */
  readonly args: readonly string[];
}

export interface SleepJobs {
  /** Snapshots before sleep (snapshot --deadline 10s). */
  readonly snapshot?: { readonly args: readonly string[] };
  /** The sync after wake (resume). */
  readonly syncOnWake?: { readonly args: readonly string[]; readonly delaySeconds: number };
}

/** The environment variable a scheduled run records as `job` in its `run-start`. */
export const jobVariable = 'SNAPKEEP_JOB';
/** Job names of the sleep units (never a configured job's: those are item names, see below). */
export const sleepJobName = 'sleep-snapshot';
export const wakeJobName = 'wake-sync';
/** The watchdog added when notify: has channels and no schedule runs `watchdog` itself. */
export const watchdogJobName = 'notify-watchdog';

const seconds = (text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback;
  const parsed = parseTimeSpan(text);
  // The schema validated it: a failure here is a programming error.
  if (!parsed.ok) throw new Error(`invalid time span reached the schedule: ${text}`);
  return parsed.seconds;
};

/**
 * The configured jobs, and the watchdog: with notification channels and schedules, a job that
 * tells about stale and failing jobs even if none of them runs (hourly, `notify.watchdog`),
 * unless a schedule runs `watchdog` already or `notify.watchdog: false`.
 */
export function scheduledJobs(config: Config, configPath: string): ScheduledJob[] {
  const jobs = configuredJobs(config, configPath);
  const watchdog = resolveNotify(config.notify).watchdog;
  if (
    watchdog === undefined ||
    jobs.length === 0 ||
    jobs.some((job) => job.command === 'watchdog' || job.name === watchdogJobName)
  )
    return jobs;
  const parsed = parseCalendar(watchdog);
  if (!parsed.ok) throw new Error(`invalid calendar reached the schedule: ${watchdog}`);
  return [
    ...jobs,
    {
      name: watchdogJobName,
      command: 'watchdog',
      only: [],
      calendar: watchdog,
      spec: parsed.spec,
      randomDelaySeconds: 300,
      onAcPower: false,
      nice: 10,
      ioClass: 'best-effort',
      timeoutSeconds: 600,
      lockWaitSeconds: 0,
      inhibitSleep: false,
      args: ['notify', 'watchdog', '--config', configPath],
    },
  ];
}

function configuredJobs(config: Config, configPath: string): ScheduledJob[] {
  return Object.entries(config.schedules).map(([name, job]) => {
    const text = calendarOf(job);
    const parsed = parseCalendar(text);
    if (!parsed.ok) throw new Error(`invalid calendar reached the schedule: ${text}`);
    const lockWaitSeconds = Math.min(seconds(job.lock_wait, 3600), 86_400);
    const [command, ...flags] = job.command.split(' ');
    return {
      name,
      command: job.command,
      only: job.only,
      calendar: text,
      spec: parsed.spec,
      randomDelaySeconds: randomDelayOf(job),
      onAcPower: job.on_ac_power ?? false,
      nice: job.nice ?? 10,
      ioClass: job.io_class ?? 'best-effort',
      timeoutSeconds: seconds(job.timeout, 12 * 3600),
      lockWaitSeconds,
      inhibitSleep: job.inhibit_sleep ?? transferringCommands.includes(job.command),
      // The watchdog is no run: no lock to wait for, nothing to limit.
      args:
        job.command === 'watchdog'
          ? ['notify', 'watchdog', '--config', configPath]
          : [command!, ...flags, '--config', configPath, '--lock-wait', `${lockWaitSeconds}s`, ...job.only],
    };
  });
}

/** Delay of the sync after wake: a fixed offset from 10 to 69 s, per machine (as FixedRandomDelay). */
export function wakeDelaySeconds(host: string): number {
  return 10 + (createHash('sha256').update(`snapkeep-wake\0${host}`).digest().readUInt32BE(0) % 60);
}

export function sleepJobs(config: Config, configPath: string, host: string): SleepJobs {
  return {
    ...(config.sleep.snapshot
      ? { snapshot: { args: ['snapshot', '--deadline', '10s', '--config', configPath] } }
      : {}),
    ...(config.sleep.sync_on_wake
      ? {
          syncOnWake: {
            args: ['resume', '--config', configPath, '--lock-wait', '1h'],
            delaySeconds: wakeDelaySeconds(host),
          },
        }
      : {}),
  };
}

/**
 * A job's offset within its random delay: fixed per machine and job, as systemd's
 * FixedRandomDelay (the cron backend sleeps it; systemd computes its own).
 */
export function fixedDelaySeconds(job: ScheduledJob, host: string): number {
  if (job.randomDelaySeconds <= 0) return 0;
  return (
    createHash('sha256').update(`${host}\0${job.name}`).digest().readUInt32BE(0) %
    (job.randomDelaySeconds + 1)
  );
}
