// `snapkeep schedule show | install | remove | status | catch-up` and `notify-failure`: how their
// results print (their flags: commands/schedule.ts). The decisions and the installing live in
// src/schedule/; this module loads them only when a command runs. Each reports typed events
// (schedule-events.ts) through createPrinter; `show` and `status` are views (a list of jobs, a
// table), printed from the plan once it is known, their events having no lines of their own.
import { realpathSync } from 'node:fs';
import { ExitCode, UsageError } from '../errors.js';
import type { Backend, ScheduleOptions } from '../schedule/schedule-engine.js';
import { formatCommand } from '../exec/command.js';
import { createOutput, formatTable } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';
import type {
  ScheduleCatchUpEvent,
  ScheduleInstallEvent,
  ScheduleRemoveEvent,
  ScheduleShowEvent,
  ScheduleStatusEvent,
} from './schedule-events.js';

export interface ScheduleFlags {
  config?: string;
  json?: boolean;
  backend?: string;
  user?: boolean;
  unitDir?: string;
  cronFile?: string;
  dryRun?: boolean;
}

/** The command units and cron lines run: this node and this snapkeep, by absolute path. */
function executable(): string[] {
  const script = process.argv[1];
  return script ? [process.execPath, realpathSync(script)] : [process.execPath];
}

function backendOf(flags: ScheduleFlags): Backend | undefined {
  if (flags.backend === undefined) return undefined;
  if (flags.backend !== 'systemd' && flags.backend !== 'cron')
    throw new UsageError(`--backend ${flags.backend}: expected systemd or cron`);
  return flags.backend;
}

async function optionsOf(flags: ScheduleFlags): Promise<ScheduleOptions> {
  const { loadConfig } = await import('../config/load-config.js');
  const backend = backendOf(flags);
  if (flags.unitDir !== undefined && backend === 'cron')
    throw new UsageError('--unit-dir is for the systemd backend; the cron backend takes --cron-file');
  if (flags.cronFile !== undefined && backend !== 'cron')
    throw new UsageError('--cron-file needs --backend cron');
  return {
    loaded: await loadConfig(flags.config),
    executable: executable(),
    backend: flags.unitDir !== undefined ? 'systemd' : backend,
    user: flags.user ?? false,
    unitDir: flags.unitDir,
    cronFile: flags.cronFile,
  };
}

const local = (iso: string): string => {
  const date = new Date(iso);
  const pad = (value: number): string => String(value).padStart(2, '0');
  const day = date.toLocaleDateString('en-US', { weekday: 'short' });
  return `${day} ${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
};

const prefixOf = (dryRun: boolean | undefined): string => (dryRun ? 'would ' : '');

export function scheduleInstallText(event: ScheduleInstallEvent): readonly TextLine[] {
  switch (event.type) {
    case 'schedule-file':
      return [
        `${prefixOf(event.dryRun)}write ${event.path}`,
        ...(event.dryRun ? [event.text.replace(/^/gm, '    ')] : []),
      ];
    case 'schedule-stale':
      return [`${prefixOf(event.dryRun)}remove ${event.path} (no longer configured)`];
    case 'schedule-command':
      return [`${prefixOf(event.dryRun)}run ${argvText(event.argv)}`];
    case 'schedule-note':
      return [toStderr(`note: ${event.note}`)];
    case 'schedule-installed':
      return [`installed ${event.files} file(s) for ${event.backend} in ${event.directory}`];
  }
}

export function scheduleRemoveText(event: ScheduleRemoveEvent): readonly TextLine[] {
  switch (event.type) {
    case 'schedule-command':
      return [`${prefixOf(event.dryRun)}run ${argvText(event.argv)}`];
    case 'schedule-removed':
      return [`${prefixOf(event.dryRun)}remove ${event.path}`];
    case 'summary':
      return event.removed === 0 ? [`nothing installed for ${event.backend}`] : [];
  }
}

export function scheduleCatchUpText(event: ScheduleCatchUpEvent): readonly TextLine[] {
  switch (event.type) {
    case 'catch-up':
      return [`${event.due ? (event.dryRun ? 'would run' : 'run') : 'skip'} ${event.job}: ${event.reason}`];
    case 'catch-up-ended':
      return [`${event.job}: exit ${event.exitCode ?? '?'}`];
  }
}

const argvText = (argv: readonly string[]): string =>
  formatCommand({ file: argv[0] ?? '', args: argv.slice(1) });

/** A view's events: their text is the view, printed once it is complete. */
const noLines = (): readonly TextLine[] => [];

export async function runScheduleShow(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const print = createPrinter<ScheduleShowEvent>(output, noLines);
  const { planInstall } = await import('../schedule/schedule-engine.js');
  const plan = await planInstall(await optionsOf(flags));
  print({
    type: 'schedule',
    backend: plan.backend,
    directory: plan.directory,
    now: plan.now,
    notes: plan.notes,
  });
  for (const job of plan.jobs) print({ type: 'schedule-job', ...job });
  for (const file of plan.files) print({ type: 'schedule-file', path: file.path, text: file.text });
  if (plan.jobs.length === 0) output.text('No schedules configured (add a "schedules:" section).');
  for (const job of plan.jobs) {
    output.text(
      `${job.name}: snapkeep ${job.command}${job.only.length ? ` ${job.only.join(' ')}` : ''}  (${job.calendar})`,
    );
    for (const time of job.next) output.text(`  ${local(time)}`);
  }
  output.text(`\n${plan.backend} would install into ${plan.directory}:`);
  for (const file of plan.files) output.text(`  ${file.path}`);
  for (const note of plan.notes) output.text(`note: ${note}`);
  return ExitCode.ok;
}

export async function runScheduleInstall(flags: ScheduleFlags): Promise<number> {
  const print = createPrinter(createOutput(flags.json ?? false), scheduleInstallText);
  const { applyInstall, planInstall } = await import('../schedule/schedule-engine.js');
  const plan = await planInstall(await optionsOf(flags));
  const dryRun = flags.dryRun ?? false;
  for (const file of plan.files) print({ type: 'schedule-file', path: file.path, dryRun, text: file.text });
  for (const path of plan.stale) print({ type: 'schedule-stale', path, dryRun });
  for (const command of plan.commands)
    print({ type: 'schedule-command', argv: [command.file, ...command.args], dryRun });
  for (const note of plan.notes) print({ type: 'schedule-note', note });
  if (dryRun) return ExitCode.ok;
  await applyInstall(plan);
  print({
    type: 'schedule-installed',
    backend: plan.backend,
    directory: plan.directory,
    files: plan.files.length,
  });
  return ExitCode.ok;
}

export async function runScheduleRemove(flags: ScheduleFlags): Promise<number> {
  const print = createPrinter(createOutput(flags.json ?? false), scheduleRemoveText);
  const { applyRemove, planRemove } = await import('../schedule/schedule-engine.js');
  const backend = backendOf(flags);
  const plan = await planRemove({
    executable: executable(),
    backend: flags.unitDir !== undefined ? 'systemd' : backend,
    user: flags.user ?? false,
    unitDir: flags.unitDir,
    cronFile: flags.cronFile,
  });
  const dryRun = flags.dryRun ?? false;
  for (const command of plan.commands)
    print({ type: 'schedule-command', argv: [command.file, ...command.args], dryRun });
  for (const path of plan.paths) print({ type: 'schedule-removed', path, dryRun });
  print({ type: 'summary', backend: plan.backend, removed: plan.paths.length });
  if (!dryRun) await applyRemove(plan);
  return ExitCode.ok;
}

export async function runScheduleStatus(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const print = createPrinter<ScheduleStatusEvent>(output, noLines);
  const { scheduleStatus } = await import('../schedule/schedule-engine.js');
  const { describeRunOutcome } = await import('../state/run-history.js');
  const status = await scheduleStatus(await optionsOf(flags));
  const drifted = status.files.filter((file) => file.drift !== 'same');
  print({
    type: 'schedule-status',
    backend: status.backend,
    directory: status.directory,
    installed: status.installed,
    drift: drifted,
    jobs: status.jobs.map((job) => ({
      name: job.name,
      calendar: job.calendar,
      next: job.next ?? null,
      lastRun: job.lastRun
        ? {
            id: job.lastRun.id,
            state: job.lastRun.state,
            time: job.lastRun.time,
            exitCode: job.lastRun.exitCode ?? null,
          }
        : null,
      lastSuccess: job.lastSuccess ? job.lastSuccess.time : null,
    })),
  });
  output.text(
    status.installed
      ? `installed (${status.backend}, ${status.directory})${drifted.length ? `; ${drifted.length} file(s) differ from the config:` : '; matches the config'}`
      : `not installed (${status.backend}, ${status.directory}): snapkeep schedule install`,
  );
  if (status.installed) for (const file of drifted) output.text(`  ${file.drift}: ${file.path}`);
  output.text(
    formatTable(
      ['JOB', 'WHEN', 'LAST RUN', 'LAST SUCCESS', 'NEXT'],
      status.jobs.map((job) => [
        job.name,
        job.calendar,
        job.lastRun ? `${local(job.lastRun.time)} ${describeRunOutcome(job.lastRun)}` : 'never',
        job.lastSuccess ? local(job.lastSuccess.time) : 'never',
        job.next ? local(job.next) : 'never',
      ]),
    ),
  );
  // Installed but not what the config says: a reason for scripts to look (exit 3, as partial).
  return status.installed && drifted.length ? ExitCode.partial : ExitCode.ok;
}

export async function runScheduleCatchUp(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const print = createPrinter(output, scheduleCatchUpText);
  const { planCatchUp, runJobNow } = await import('../schedule/schedule-engine.js');
  const { exitCodeOf } = await import('../state/run-lifecycle.js');
  const options = await optionsOf({ ...flags, backend: flags.backend ?? 'cron' });
  const { decisions, jobs } = await planCatchUp(options);
  const codes: number[] = [];
  for (const decision of decisions) {
    print({ type: 'catch-up', ...decision, dryRun: flags.dryRun ?? false });
    if (!decision.due || flags.dryRun) continue;
    const result = await runJobNow(
      jobs.find((job) => job.name === decision.job)!,
      options.executable,
    );
    if (result.stdout) process.stdout.write(output.json ? '' : result.stdout);
    if (result.stderr) process.stderr.write(result.stderr);
    print({ type: 'catch-up-ended', job: decision.job, exitCode: result.exitCode });
    codes.push(result.exitCode ?? ExitCode.fatal);
  }
  return exitCodeOf(codes);
}
