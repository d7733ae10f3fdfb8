// `snapkeep schedule show | install | remove | status | catch-up` and `notify-failure`: how their
// results print (their flags: commands/schedule.ts). The decisions and the installing live in
// src/schedule/; this module loads them only when a command runs.
import { realpathSync } from 'node:fs';
import { ExitCode, UsageError } from '../errors.js';
import type { Backend, ScheduleOptions } from '../schedule/schedule-engine.js';
import { createOutput, formatTable } from './output.js';

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

export async function runScheduleShow(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const { planInstall } = await import('../schedule/schedule-engine.js');
  const plan = await planInstall(await optionsOf(flags));
  output.event('schedule', {
    backend: plan.backend,
    directory: plan.directory,
    now: plan.now,
    notes: plan.notes,
  });
  for (const job of plan.jobs) output.event('schedule-job', { ...job });
  for (const file of plan.files) output.event('schedule-file', { path: file.path, text: file.text });
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
  const output = createOutput(flags.json ?? false);
  const { applyInstall, planInstall } = await import('../schedule/schedule-engine.js');
  const { formatCommand } = await import('../exec/command.js');
  const plan = await planInstall(await optionsOf(flags));
  const dryRun = flags.dryRun ?? false;
  const prefix = dryRun ? 'would ' : '';
  for (const file of plan.files) {
    output.event('schedule-file', { path: file.path, dryRun, text: file.text });
    output.text(`${prefix}write ${file.path}`);
    if (dryRun) output.text(file.text.replace(/^/gm, '    '));
  }
  for (const path of plan.stale) {
    output.event('schedule-stale', { path, dryRun });
    output.text(`${prefix}remove ${path} (no longer configured)`);
  }
  for (const command of plan.commands) {
    output.event('schedule-command', { argv: [command.file, ...command.args], dryRun });
    output.text(`${prefix}run ${formatCommand(command)}`);
  }
  for (const note of plan.notes) output.warn(`note: ${note}`);
  if (dryRun) return ExitCode.ok;
  await applyInstall(plan);
  output.event('schedule-installed', {
    backend: plan.backend,
    directory: plan.directory,
    files: plan.files.length,
  });
  output.text(`installed ${plan.files.length} file(s) for ${plan.backend} in ${plan.directory}`);
  return ExitCode.ok;
}

export async function runScheduleRemove(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const { applyRemove, planRemove } = await import('../schedule/schedule-engine.js');
  const { formatCommand } = await import('../exec/command.js');
  const backend = backendOf(flags);
  const plan = await planRemove({
    executable: executable(),
    backend: flags.unitDir !== undefined ? 'systemd' : backend,
    user: flags.user ?? false,
    unitDir: flags.unitDir,
    cronFile: flags.cronFile,
  });
  const prefix = flags.dryRun ? 'would ' : '';
  for (const command of plan.commands) output.text(`${prefix}run ${formatCommand(command)}`);
  for (const path of plan.paths) {
    output.event('schedule-removed', { path, dryRun: flags.dryRun ?? false });
    output.text(`${prefix}remove ${path}`);
  }
  if (plan.paths.length === 0) output.text(`nothing installed for ${plan.backend}`);
  if (!flags.dryRun) await applyRemove(plan);
  return ExitCode.ok;
}

export async function runScheduleStatus(flags: ScheduleFlags): Promise<number> {
  const output = createOutput(flags.json ?? false);
  const { scheduleStatus } = await import('../schedule/schedule-engine.js');
  const { describeRunOutcome } = await import('../state/run-history.js');
  const status = await scheduleStatus(await optionsOf(flags));
  const drifted = status.files.filter((file) => file.drift !== 'same');
  output.event('schedule-status', {
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
  const { planCatchUp, runJobNow } = await import('../schedule/schedule-engine.js');
  const { exitCodeOf } = await import('../state/run-lifecycle.js');
  const options = await optionsOf({ ...flags, backend: flags.backend ?? 'cron' });
  const { decisions, jobs } = await planCatchUp(options);
  const codes: number[] = [];
  for (const decision of decisions) {
    output.event('catch-up', { ...decision, dryRun: flags.dryRun ?? false });
    output.text(
      `${decision.due ? (flags.dryRun ? 'would run' : 'run') : 'skip'} ${decision.job}: ${decision.reason}`,
    );
    if (!decision.due || flags.dryRun) continue;
    const result = await runJobNow(
      jobs.find((job) => job.name === decision.job)!,
      options.executable,
    );
    if (result.stdout) process.stdout.write(output.json ? '' : result.stdout);
    if (result.stderr) process.stderr.write(result.stderr);
    output.event('catch-up-ended', { job: decision.job, exitCode: result.exitCode });
    output.text(`${decision.job}: exit ${result.exitCode ?? '?'}`);
    codes.push(result.exitCode ?? ExitCode.fatal);
  }
  return exitCodeOf(codes);
}
