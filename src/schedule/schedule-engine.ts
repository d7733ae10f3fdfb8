// `snapkeep schedule show | install | remove | status | catch-up`: render the schedules for a
// backend (pure, systemd-units.ts / cron-file.ts), then install them as one change — every file
// written under a temporary name and renamed into place at the end, undone on any error — and
// enable them through systemctl (src/exec/), unless the files go to a directory given on the
// command line (--unit-dir / --cron-file: for packagers, review and tests; then nothing runs).
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname, userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { nextElapse, nextElapses } from '../calendar/systemd-calendar.js';
import { ConfigError } from '../config/config-file.js';
import type { LoadedConfig } from '../config/load-config.js';
import { UsageError } from '../errors.js';
import { runChecked, runCommand, type CommandSpec } from '../exec/command.js';
import { findOnPath } from '../exec/find-on-path.js';
import { scheduleJobRuns } from '../state/derive-status.js';
import { readJournal } from '../state/journal.js';
import type { RecordedRun } from '../state/run-history.js';
import { renderCronFile } from './cron-file.js';
import { jobVariable, scheduledJobs, sleepJobs, type ScheduledJob } from './jobs.js';
import {
  generatedMarker,
  readWritePathsOf,
  renderSystemdUnits,
  unitPrefix,
  unitsToEnable,
  type RenderedFile,
} from './systemd-units.js';

export type Backend = 'systemd' | 'cron';

export interface ScheduleOptions {
  readonly loaded: LoadedConfig;
  /** The snapkeep command line to put in units: [node, main.cjs] (absolute). */
  readonly executable: readonly string[];
  readonly backend?: Backend;
  readonly user: boolean;
  /** Write the units here and run no systemctl. */
  readonly unitDir?: string;
  /** Write the cron file here (default /etc/cron.d/snapkeep). */
  readonly cronFile?: string;
  readonly now?: Date;
}

export interface PlannedFile {
  readonly path: string;
  readonly text: string;
}

export interface SchedulePlan {
  readonly backend: Backend;
  /** Where the files go. */
  readonly directory: string;
  readonly files: readonly PlannedFile[];
  /** Files a previous install left that this one no longer has. */
  readonly stale: readonly string[];
  /** systemctl calls, in order (empty with --unit-dir / for cron). */
  readonly commands: readonly CommandSpec[];
  readonly notes: readonly string[];
  readonly jobs: readonly JobPreview[];
  /** The time the next runs are counted from. */
  readonly now: string;
}

export interface JobPreview {
  readonly name: string;
  readonly command: string;
  readonly only: readonly string[];
  readonly calendar: string;
  readonly next: readonly string[];
}

/** systemd is the service manager here (what sd_booted checks). */
export const systemdRuns = (): boolean => existsSync('/run/systemd/system');

export function defaultBackend(): Backend {
  return systemdRuns() ? 'systemd' : 'cron';
}

const systemUnitDir = '/etc/systemd/system';
const userUnitDir = (): string =>
  join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd/user');
export const defaultCronFile = '/etc/cron.d/snapkeep';

async function tool(name: string): Promise<string> {
  return (await findOnPath(name)) ?? `/usr/bin/${name}`;
}

function jobsOf(options: ScheduleOptions): ScheduledJob[] {
  return scheduledJobs(options.loaded.config, options.loaded.path);
}

export function previewJobs(jobs: readonly ScheduledJob[], now: Date): JobPreview[] {
  return jobs.map((job) => ({
    name: job.name,
    command: job.command,
    only: job.only,
    calendar: job.calendar,
    next: nextElapses(job.spec, now, 5).map((time) => time.toISOString()),
  }));
}

async function renderFor(
  options: ScheduleOptions,
  backend: Backend,
): Promise<{ directory: string; files: RenderedFile[]; notes: string[] }> {
  const { loaded } = options;
  const jobs = jobsOf(options);
  if (backend === 'systemd') {
    const directory = options.unitDir ?? (options.user ? userUnitDir() : systemUnitDir);
    const { files, notes } = renderSystemdUnits(jobs, sleepJobs(loaded.config, loaded.path, hostname()), {
      executable: options.executable,
      configPath: loaded.path,
      user: options.user,
      tools: {
        systemctl: await tool('systemctl'),
        systemdInhibit: await tool('systemd-inhibit'),
        sleep: await tool('sleep'),
      },
      stateDir: loaded.resolved.stateDir,
      readWritePaths: readWritePathsOf(loaded.resolved),
      switchesUsers: loaded.resolved.backupSets.length > 0,
    });
    return { directory, files, notes };
  }
  const cronFile = options.cronFile ?? defaultCronFile;
  if (dirname(cronFile) === '/etc/cron.d' && !/^[A-Za-z0-9_-]+$/.test(basename(cronFile)))
    throw new UsageError(
      `--cron-file ${cronFile}: cron ignores files in /etc/cron.d whose names have other characters than letters, digits, "_" and "-"`,
    );
  const rendered = renderCronFile(jobs, {
    executable: options.executable,
    configPath: loaded.path,
    user: options.user ? userInfo().username : 'root',
    host: hostname(),
  });
  if (!rendered.ok)
    throw new ConfigError(
      loaded.path,
      rendered.errors.map(({ job, error }) => ({
        file: loaded.path,
        path: `schedules.${job}.when`,
        message: error,
      })),
    );
  const sleep = sleepJobs(loaded.config, loaded.path, hostname());
  const notes = [...rendered.notes];
  if (sleep.snapshot || sleep.syncOnWake)
    notes.push(
      'sleep: the snapshot before sleep and the sync after wake need systemd (not installed for cron)',
    );
  return {
    directory: dirname(cronFile),
    files: [{ name: basename(cronFile), text: rendered.file.text }],
    notes,
  };
}

/** snapkeep's files in a directory: named snapkeep-* (units) or the cron file, with the marker. */
async function installedFiles(
  backend: Backend,
  directory: string,
  cronName: string,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return found;
    throw error;
  }
  for (const name of names) {
    if (
      backend === 'systemd'
        ? !name.startsWith(unitPrefix) || !/\.(service|timer)$/.test(name)
        : name !== cronName
    )
      continue;
    try {
      const text = await readFile(join(directory, name), 'utf8');
      if (text.startsWith(generatedMarker)) found.set(name, text);
    } catch {
      // a directory or an unreadable file is not one of ours
    }
  }
  return found;
}

/** The suffix of a file an install writes before renaming it into place, and its writer's pid. */
const temporarySuffix = (pid: number): string => `.snapkeep-new-${pid}`;
const temporaryName = /^(.+)\.snapkeep-new-(\d+)$/;

function processLives(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // someone else's: alive
  }
}

/**
 * Temporary files an install that was killed left in `directory` (`<our file>.snapkeep-new-<pid>`
 * whose process is gone): neither systemd nor cron reads them (no unit suffix; cron.d skips names
 * with dots), but nothing else would ever remove them. An install still running keeps its own.
 */
async function leftoverFiles(backend: Backend, directory: string, cronName: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return [];
  }
  return names
    .filter((name) => {
      const match = temporaryName.exec(name);
      if (!match) return false;
      const base = match[1]!;
      const ours = backend === 'systemd' ? base.startsWith(unitPrefix) : base === cronName;
      return ours && !processLives(Number(match[2]));
    })
    .sort()
    .map((name) => join(directory, name));
}

const systemctl = (user: boolean, args: readonly string[], file: string): CommandSpec => ({
  file,
  args: [...(user ? ['--user'] : []), ...args],
});

export async function planInstall(options: ScheduleOptions): Promise<SchedulePlan> {
  const backend = options.backend ?? defaultBackend();
  const now = options.now ?? new Date();
  const { directory, files, notes } = await renderFor(options, backend);
  const installed = await installedFiles(backend, directory, files[0]?.name ?? 'snapkeep');
  const wanted = new Set(files.map((file) => file.name));
  const stale = [...installed.keys()].filter((name) => !wanted.has(name)).sort();
  const commands: CommandSpec[] = [];
  if (backend === 'systemd' && options.unitDir === undefined) {
    const file = await tool('systemctl');
    const staleEnabled = unitsToEnable(stale.map((name) => ({ name, text: '' })));
    const toDisable = [...staleEnabled.now, ...staleEnabled.enable];
    if (toDisable.length) commands.push(systemctl(options.user, ['disable', '--now', ...toDisable], file));
    commands.push(systemctl(options.user, ['daemon-reload'], file));
    const { now, enable } = unitsToEnable(files);
    if (now.length) commands.push(systemctl(options.user, ['enable', '--now', ...now], file));
    if (enable.length) commands.push(systemctl(options.user, ['enable', ...enable], file));
  }
  return {
    backend,
    directory,
    files: files.map((file) => ({ path: join(directory, file.name), text: file.text })),
    // A killed install's temporary files go with the files no longer configured.
    stale: [
      ...stale.map((name) => join(directory, name)),
      ...(await leftoverFiles(backend, directory, files[0]?.name ?? 'snapkeep')),
    ],
    commands,
    notes,
    jobs: previewJobs(jobsOf(options), now),
    now: now.toISOString(),
  };
}

/** What was there before a change, to put back on failure. */
interface Previous {
  readonly path: string;
  readonly text?: string;
}

async function previousOf(path: string): Promise<Previous> {
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch {
    return { path };
  }
}

async function restore(previous: readonly Previous[]): Promise<void> {
  for (const { path, text } of previous) {
    try {
      if (text === undefined) await rm(path, { force: true });
      else await writeFile(path, text, { mode: 0o644 });
    } catch {
      // best effort: the original error is what the caller reports
    }
  }
}

/** The units the `enable` calls among `commands` enable, with the systemctl and flags to ask about them. */
function enabledBy(commands: readonly CommandSpec[]): { units: string[]; ask?: CommandSpec } {
  const units: string[] = [];
  let ask: CommandSpec | undefined;
  for (const command of commands) {
    const verb = command.args.findIndex((arg) => !arg.startsWith('--'));
    if (command.args[verb] !== 'enable') continue;
    units.push(...command.args.slice(verb + 1).filter((arg) => !arg.startsWith('--')));
    ask ??= { file: command.file, args: command.args.slice(0, verb) };
  }
  return { units, ...(ask ? { ask } : {}) };
}

/**
 * Apply an install plan: all or nothing. Temporary files first (a full disk or a read-only
 * directory fails here, before anything changed), then systemctl disables what is no longer
 * configured, the files are renamed into place, the stale ones removed, systemd reloaded and the
 * units enabled. On any failure after that the units this install enabled (those that were not
 * enabled before: `enable` may have enabled and started some before another failed) are disabled
 * and stopped again, every file is put back as it was, systemd reloaded and what was disabled
 * enabled again: a failed install leaves nothing half-installed.
 */
export async function applyInstall(plan: SchedulePlan): Promise<void> {
  await mkdir(plan.directory, { recursive: true });
  const suffix = temporarySuffix(process.pid);
  const temporary: string[] = [];
  try {
    for (const file of plan.files) {
      await writeFile(`${file.path}${suffix}`, file.text, { mode: 0o644, flag: 'wx' });
      temporary.push(`${file.path}${suffix}`);
    }
  } catch (error) {
    await Promise.all(temporary.map((path) => rm(path, { force: true })));
    throw error;
  }
  const [disable, ...rest] = plan.commands;
  const disablesFirst = disable !== undefined && disable.args.includes('disable');
  const previous = await Promise.all([...plan.files.map((file) => file.path), ...plan.stale].map(previousOf));
  let disabled = false;
  let enabling = false;
  const enabled = enabledBy(plan.commands);
  const newlyEnabled: string[] = [];
  try {
    // Which of the units to enable are enabled already (an update): those stay so on failure.
    if (enabled.ask)
      for (const unit of enabled.units)
        if (
          (await runCommand({ ...enabled.ask, args: [...enabled.ask.args, 'is-enabled', unit] })).exitCode !==
          0
        )
          newlyEnabled.push(unit);
    if (disablesFirst) {
      await runChecked(disable);
      disabled = true;
    }
    for (const file of plan.files) await rename(`${file.path}${suffix}`, file.path);
    for (const path of plan.stale) await rm(path, { force: true });
    for (const command of disablesFirst ? rest : plan.commands) {
      enabling ||= command.args.includes('enable');
      await runChecked(command);
    }
  } catch (error) {
    await Promise.all(temporary.map((path) => rm(path, { force: true })));
    // While the new unit files are there: `disable` reads their [Install] section.
    if (enabling && enabled.ask && newlyEnabled.length > 0)
      await runCommand({ ...enabled.ask, args: [...enabled.ask.args, 'disable', '--now', ...newlyEnabled] });
    await restore(previous);
    const reload = plan.commands.find((command) => command.args.includes('daemon-reload'));
    if (reload) await runCommand(reload);
    // What was running before runs again (the units this install meant to retire).
    if (disabled && disable)
      await runCommand({ ...disable, args: disable.args.map((arg) => (arg === 'disable' ? 'enable' : arg)) });
    throw error;
  }
}

export interface RemovePlan {
  readonly backend: Backend;
  readonly paths: readonly string[];
  readonly commands: readonly CommandSpec[];
}

export async function planRemove(options: Omit<ScheduleOptions, 'loaded'>): Promise<RemovePlan> {
  const backend = options.backend ?? defaultBackend();
  const cronFile = options.cronFile ?? defaultCronFile;
  const directory =
    backend === 'cron'
      ? dirname(cronFile)
      : (options.unitDir ?? (options.user ? userUnitDir() : systemUnitDir));
  const installed = await installedFiles(backend, directory, basename(cronFile));
  const names = [...installed.keys()].sort();
  const commands: CommandSpec[] = [];
  if (backend === 'systemd' && options.unitDir === undefined && names.length) {
    const file = await tool('systemctl');
    const { now, enable } = unitsToEnable(names.map((name) => ({ name, text: '' })));
    if (now.length + enable.length)
      commands.push(systemctl(options.user, ['disable', '--now', ...now, ...enable], file));
  }
  return {
    backend,
    paths: [
      ...names.map((name) => join(directory, name)),
      ...(await leftoverFiles(backend, directory, basename(cronFile))),
    ],
    commands,
  };
}

export async function applyRemove(plan: RemovePlan): Promise<void> {
  for (const command of plan.commands) await runChecked(command);
  for (const path of plan.paths) await rm(path, { force: true });
  const first = plan.commands[0];
  if (first)
    await runChecked({
      file: first.file,
      args: [...first.args.filter((arg) => arg === '--user'), 'daemon-reload'],
    });
}

export type FileDrift = 'same' | 'changed' | 'missing' | 'not-configured';

export interface JobStatus {
  readonly name: string;
  readonly calendar: string;
  readonly lastRun?: RecordedRun;
  readonly lastSuccess?: RecordedRun;
  readonly next?: string;
}

export interface ScheduleStatus {
  readonly backend: Backend;
  readonly directory: string;
  readonly installed: boolean;
  readonly files: readonly { readonly path: string; readonly drift: FileDrift }[];
  readonly jobs: readonly JobStatus[];
}

/** Runs of a job: those whose `run-start` recorded it (SNAPKEEP_JOB). */
export function runsOfJob(runs: readonly RecordedRun[], job: string): RecordedRun[] {
  return runs.filter((run) => run.start?.job === job);
}

export async function scheduleStatus(options: ScheduleOptions): Promise<ScheduleStatus> {
  const backend = options.backend ?? defaultBackend();
  const now = options.now ?? new Date();
  const { directory, files } = await renderFor(options, backend);
  const installed = await installedFiles(backend, directory, files[0]?.name ?? 'snapkeep');
  const drift: { path: string; drift: FileDrift }[] = files.map((file) => ({
    path: join(directory, file.name),
    drift: !installed.has(file.name)
      ? 'missing'
      : installed.get(file.name) === file.text
        ? 'same'
        : 'changed',
  }));
  for (const name of installed.keys())
    if (!files.some((file) => file.name === name))
      drift.push({ path: join(directory, name), drift: 'not-configured' });
  // Through the checkpoint: a compacted journal keeps each job's last run and last success.
  const runs = scheduleJobRuns(await readJournal(options.loaded.resolved.stateDir));
  const jobs = jobsOf(options).map((job) => {
    const mine = runsOfJob(runs, job.name);
    return {
      name: job.name,
      calendar: job.calendar,
      lastRun: mine.at(-1),
      lastSuccess: mine.filter((run) => run.state === 'ok').at(-1),
      next: nextElapse(job.spec, now)?.toISOString(),
    };
  });
  return { backend, directory, installed: installed.size > 0, files: drift, jobs };
}

export interface CatchUpDecision {
  readonly job: string;
  readonly due: boolean;
  readonly reason: string;
}

/**
 * Which jobs missed a run (pure; cron's stand-in for Persistent=): a job is due when a scheduled
 * time has passed since its last success. A job with no run recorded has missed nothing yet
 * (as a timer without a stamp), and a job that is running now is not started twice.
 */
export function catchUpDecisions(
  jobs: readonly ScheduledJob[],
  runs: readonly RecordedRun[],
  now: Date,
): CatchUpDecision[] {
  return jobs.map((job) => {
    const mine = runsOfJob(runs, job.name);
    if (mine.some((run) => run.state === 'running'))
      return { job: job.name, due: false, reason: 'it is running now' };
    const success = mine.filter((run) => run.state === 'ok').at(-1);
    const last = mine.at(-1);
    const since = success?.startedAt ?? success?.time ?? last?.startedAt ?? last?.time;
    if (since === undefined)
      return {
        job: job.name,
        due: false,
        reason: 'no run recorded yet: it starts at its first scheduled time',
      };
    const missed = nextElapse(job.spec, new Date(since));
    if (missed && missed.getTime() <= now.getTime())
      return {
        job: job.name,
        due: true,
        reason: success
          ? `last success ${since}; it was due again at ${missed.toISOString()}`
          : `it never succeeded (last attempt ${since}); it was due again at ${missed.toISOString()}`,
      };
    return {
      job: job.name,
      due: false,
      reason: `last ${success ? 'success' : 'attempt'} ${since}; next due ${missed?.toISOString() ?? 'never'}`,
    };
  });
}

export async function planCatchUp(
  options: ScheduleOptions,
): Promise<{ decisions: CatchUpDecision[]; jobs: ScheduledJob[] }> {
  const jobs = jobsOf(options);
  // Through the checkpoint: a compacted journal keeps each job's last run and last success.
  const runs = scheduleJobRuns(await readJournal(options.loaded.resolved.stateDir));
  return { decisions: catchUpDecisions(jobs, runs, options.now ?? new Date()), jobs };
}

/** Run one job now as its schedule would (its own run lifecycle takes the lock). */
export async function runJobNow(
  job: ScheduledJob,
  executable: readonly string[],
): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const [file, ...leading] = executable;
  return runCommand({ file: file!, args: [...leading, ...job.args], env: { [jobVariable]: job.name } });
}
