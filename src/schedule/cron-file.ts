// The cron backend (machines without systemd as PID 1): one /etc/cron.d-style file, rendered
// as text (pure). cron starts commands with an almost empty PATH (btrbk users lose runs to it),
// so the file sets PATH and SHELL itself; cron has no Persistent=, so an @reboot line runs
// `schedule catch-up`, which starts each job whose last success is older than its schedule.
import type { CalendarSpec } from '../calendar/systemd-calendar.js';
import { fixedDelaySeconds, jobVariable, type ScheduledJob } from './jobs.js';
import { generatedMarker, type RenderedFile } from './systemd-units.js';

export interface CronContext {
  readonly executable: readonly string[];
  readonly configPath: string;
  /** The user field of /etc/cron.d lines. */
  readonly user: string;
  readonly host: string;
}

export const cronPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type CronFields = { ok: true; fields: string } | { ok: false; error: string };

/** Values → "*", or a list of values and a-b ranges. */
function cronField(values: ReadonlySet<number>, min: number, max: number): string {
  const sorted = [...values].filter((value) => value >= min && value <= max).sort((a, b) => a - b);
  if (sorted.length === max - min + 1) return '*';
  const parts: string[] = [];
  for (let index = 0; index < sorted.length;) {
    let end = index;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end++;
    parts.push(end === index ? String(sorted[index]) : `${sorted[index]}-${sorted[end]}`);
    index = end + 1;
  }
  return parts.join(',');
}

/** The five cron fields of a calendar event, or why cron cannot express it. */
export function cronFieldsOf(spec: CalendarSpec): CronFields {
  const why = (reason: string): CronFields => ({
    ok: false,
    error: `"${spec.source}" cannot be run by cron: ${reason}; expected an event on whole minutes, without years, in local time, that limits either days of the month or weekdays (or use the systemd backend)`,
  });
  if (spec.seconds.size !== 1 || !spec.seconds.has(0)) return why('cron starts jobs on whole minutes only');
  if (spec.years !== 'any') return why('cron has no years');
  if (spec.utc) return why('cron runs in local time');
  const days = cronField(spec.days, 1, 31);
  const weekdays = cronField(spec.weekdays, 0, 6);
  // cron runs a job when EITHER restricted field matches; systemd needs both.
  if (days !== '*' && weekdays !== '*')
    return why('cron ORs days of the month with weekdays, systemd ANDs them');
  return {
    ok: true,
    fields: [
      cronField(spec.minutes, 0, 59),
      cronField(spec.hours, 0, 23),
      days,
      cronField(spec.months, 1, 12),
      weekdays,
    ].join(' '),
  };
}

/** A word for /bin/sh; cron itself turns an unescaped % into a newline, so % is refused. */
export function shellWord(value: string): string {
  if (/[%\n\r]/.test(value))
    throw new Error(`"${value}" cannot appear in a cron line (cron treats % and newlines specially)`);
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const ioniceClass = { realtime: '1', 'best-effort': '2', idle: '3' } as const;

/** The command of a job's line (also what catch-up runs, without the delay). */
export function cronCommand(job: ScheduledJob, context: CronContext, delaySeconds: number): string {
  const argv = [
    'timeout',
    '--kill-after=60',
    String(job.timeoutSeconds),
    'nice',
    '-n',
    String(job.nice),
    'ionice',
    '-c',
    ioniceClass[job.ioClass],
    ...context.executable,
    ...job.args,
  ];
  const command = `${jobVariable}=${shellWord(job.name)} ${argv.map(shellWord).join(' ')}`;
  return delaySeconds > 0 ? `sleep ${delaySeconds} && ${command}` : command;
}

export function renderCronFile(
  jobs: readonly ScheduledJob[],
  context: CronContext,
):
  | { ok: true; file: RenderedFile; notes: string[] }
  | { ok: false; errors: { job: string; error: string }[] } {
  const errors: { job: string; error: string }[] = [];
  const notes: string[] = [];
  const lines = [
    `${generatedMarker} from ${context.configPath}; \`snapkeep schedule remove\` deletes it.`,
    'SHELL=/bin/sh',
    `PATH=${cronPath}`,
    '',
  ];
  for (const job of jobs) {
    const fields = cronFieldsOf(job.spec);
    if (!fields.ok) {
      errors.push({ job: job.name, error: fields.error });
      continue;
    }
    if (job.onAcPower) notes.push(`${job.name}: on_ac_power is not checked by the cron backend`);
    if (job.inhibitSleep) notes.push(`${job.name}: the cron backend holds no sleep inhibitor`);
    lines.push(`# ${job.name}: ${job.calendar}`);
    lines.push(
      `${fields.fields} ${context.user} ${cronCommand(job, context, fixedDelaySeconds(job, context.host))}`,
    );
  }
  lines.push(
    '# cron has no Persistent=: at boot, run each job whose last success is older than its schedule',
  );
  lines.push(
    `@reboot ${context.user} ${[...context.executable, 'schedule', 'catch-up', '--config', context.configPath].map(shellWord).join(' ')}`,
  );
  lines.push('');
  if (errors.length) return { ok: false, errors };
  return { ok: true, file: { name: 'snapkeep', text: lines.join('\n') }, notes };
}
