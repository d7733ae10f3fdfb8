// `schedules:` (named jobs: what runs, when, how) and `sleep:` (a snapshot before the machine
// sleeps, the sync after it wakes). Calendar expressions are checked here with the same parser
// that computes their next runs (src/calendar/), so what validates is what systemd accepts.
import { z } from 'zod';
import { parseCalendar } from '../calendar/systemd-calendar.js';
import { everyToCalendar, parseTimeSpan, spanExpected } from '../calendar/time-span.js';
import { itemName } from './common-schema.js';

/** What a job runs: a snapkeep command (and for drills its flag). */
export const jobCommands = [
  'run',
  'snapshot',
  'resume',
  'prune',
  'backup',
  'verify',
  'verify --drill',
  'watchdog',
] as const;
export type JobCommand = (typeof jobCommands)[number];

/** Which names a command's `only:` may list. */
export const jobNameKinds: Readonly<Record<JobCommand, 'subvolumes' | 'backup_sets' | 'either' | 'none'>> = {
  run: 'subvolumes',
  snapshot: 'subvolumes',
  resume: 'subvolumes',
  prune: 'either',
  backup: 'backup_sets',
  verify: 'backup_sets',
  'verify --drill': 'backup_sets',
  // It watches every job: a watchdog limited to some would miss the others going quiet.
  watchdog: 'none',
};

/** Jobs that move data to targets or repositories: they hold a sleep inhibitor by default. */
export const transferringCommands: readonly JobCommand[] = ['run', 'resume', 'backup'];

const calendarExpected =
  'a systemd calendar event like "daily", "hourly", "*-*-* 00/4:00:00" or "Mon..Fri 02:30" (see systemd.time(7))';

const calendarExpression = z.string().superRefine((value, context) => {
  const parsed = parseCalendar(value);
  if (!parsed.ok)
    context.addIssue({ code: 'custom', message: `${parsed.error}; expected ${calendarExpected}` });
});

const timeSpan = z.string().superRefine((value, context) => {
  const parsed = parseTimeSpan(value);
  if (!parsed.ok) context.addIssue({ code: 'custom', message: `${parsed.error}; expected ${spanExpected}` });
});

const everySpan = z.string().superRefine((value, context) => {
  const parsed = everyToCalendar(value);
  if (!parsed.ok) context.addIssue({ code: 'custom', message: parsed.error });
});

export const scheduleJobSchema = z
  .strictObject({
    command: z
      .enum(jobCommands)
      .describe(
        'What runs: run | snapshot | resume | prune | backup | verify | "verify --drill" | watchdog (notify about stale and failing jobs)',
      ),
    only: z
      .array(itemName)
      .default([])
      .describe(
        'Limit the job to these subvolumes (run, snapshot, resume, prune) or backup sets (backup, verify, prune); default: all',
      ),
    when: calendarExpression
      .optional()
      .describe('When it runs: a systemd calendar event ("daily", "*-*-* 00/4:00:00", "Mon..Fri 02:30")'),
    every: everySpan
      .optional()
      .describe('Shorthand for when: an interval that divides an hour or a day (15min, 4h, 1d)'),
    random_delay: timeSpan
      .optional()
      .describe(
        'Spread the start by up to this long, the same offset on every run (RandomizedDelaySec; default 5min)',
      ),
    on_ac_power: z.boolean().optional().describe('Run only on AC power (laptops; default false)'),
    nice: z.number().int().min(-20).max(19).optional().describe('CPU priority, -20..19 (default 10)'),
    io_class: z
      .enum(['idle', 'best-effort', 'realtime'])
      .optional()
      .describe('IO scheduling class (default best-effort)'),
    timeout: timeSpan.optional().describe('Stop the job after this long (default 12h)'),
    lock_wait: timeSpan
      .optional()
      .describe('Wait this long for another run to finish instead of failing with 11 (default 1h)'),
    inhibit_sleep: z
      .boolean()
      .optional()
      .describe('Hold off sleep and shutdown while it runs (default: true for run, resume and backup)'),
  })
  .superRefine((job, context) => {
    if ((job.when === undefined) === (job.every === undefined))
      context.addIssue({
        code: 'custom',
        path: [job.when === undefined ? 'when' : 'every'],
        message:
          job.when === undefined
            ? 'a job needs a time; expected when: (a calendar event) or every: (an interval)'
            : 'when: and every: both given; expected one of them',
      });
  })
  .describe('A job snapkeep runs on its own');
export type ScheduleJobConfig = z.infer<typeof scheduleJobSchema>;

/** The job's calendar event as systemd gets it: `when:`, or `every:` expanded (default daily). */
export function calendarOf(job: Pick<ScheduleJobConfig, 'when' | 'every'>): string {
  if (job.when !== undefined) return job.when;
  const expanded = everyToCalendar(job.every ?? '1d');
  // The schema validated it: a failure here is a programming error.
  if (!expanded.ok) throw new Error(`invalid interval reached the schedule: ${job.every ?? ''}`);
  return expanded.calendar;
}

/** The job's random delay in seconds (default 5 min). */
export function randomDelayOf(job: Pick<ScheduleJobConfig, 'random_delay'>): number {
  const parsed = parseTimeSpan(job.random_delay ?? '5min');
  if (!parsed.ok) throw new Error(`invalid time span reached the schedule: ${job.random_delay ?? ''}`);
  return parsed.seconds;
}

export const sleepSchema = z
  .strictObject({
    snapshot: z
      .boolean()
      .default(false)
      .describe(
        'Take read-only snapshots before the machine sleeps (at most 10 s; never delays sleep longer)',
      ),
    sync_on_wake: z
      .boolean()
      .default(false)
      .describe('After resume, once the network is up, send what is pending (snapkeep resume)'),
  })
  .describe('Laptops: a snapshot before sleep and the sync after wake (systemd only)');
export type SleepConfig = z.infer<typeof sleepSchema>;

type Issue = { code: 'custom'; path: PropertyKey[]; message: string };

/** Names in `only:` that the config does not define (the config's own superRefine calls this). */
export function scheduleReferenceIssues(config: {
  readonly schedules: Readonly<Record<string, ScheduleJobConfig>>;
  readonly subvolumes: Readonly<Record<string, unknown>>;
  readonly backup_sets: Readonly<Record<string, unknown>>;
}): Issue[] {
  const issues: Issue[] = [];
  for (const [name, job] of Object.entries(config.schedules)) {
    const kind = jobNameKinds[job.command];
    if (kind === 'none') {
      if (job.only.length > 0)
        issues.push({
          code: 'custom',
          path: ['schedules', name, 'only'],
          message: `"${job.command}" watches every job; expected no only:`,
        });
      continue;
    }
    const allowed = [
      ...(kind !== 'backup_sets' ? Object.keys(config.subvolumes) : []),
      ...(kind !== 'subvolumes' ? Object.keys(config.backup_sets) : []),
    ];
    const what =
      kind === 'subvolumes' ? 'subvolume' : kind === 'backup_sets' ? 'backup set' : 'subvolume or backup set';
    job.only.forEach((item, index) => {
      if (!allowed.includes(item))
        issues.push({
          code: 'custom',
          path: ['schedules', name, 'only', index],
          message: `"${job.command}" has no ${what} "${item}"; expected ${allowed.length ? `one of: ${allowed.join(', ')}` : `a ${what} defined in the config (none is)`}`,
        });
    });
  }
  return issues;
}
