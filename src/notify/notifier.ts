// Telling people, as effects around the pure policy: read the one derived status (status-inputs.ts)
// and the notification state, ask the policy what is due, send every notice at once — each bounded
// by the channel timeout, so a channel that is down, slow or refuses costs the caller at most that
// long and never its result —, journal each answer as a `notification` event (status and doctor
// show a failing channel from there), and remember what went through; what did not is due again
// the next time anything notifies. Entry points: a run's start and end (the run observer), a
// failed scheduled unit (systemd's OnFailure=), the watchdog, and `notify test`.
import { hostname } from 'node:os';
import type { ResolvedChannel, ResolvedConfig } from '../config/resolve.js';
import { UsageError } from '../errors.js';
import { maskSecrets } from '../exec/command.js';
import { resumeUnitName, unitPrefix } from '../schedule/systemd-units.js';
import { wakeJobName } from '../schedule/jobs.js';
import type { DerivedStatus } from '../state/derive-status.js';
import type { JournalEvent, RunRefusedEvent } from '../state/journal-events.js';
import { Journal, newRunId } from '../state/journal.js';
import { processProbe, recordedRuns, type RecordedRun, type RunProbe } from '../state/run-history.js';
import type { RunEnded, RunStarted } from '../state/run-lifecycle.js';
import { configStatusRequest, readStatusWithTransfers } from '../state/status-inputs.js';
import { bounded, type ChannelSender, type Delivery } from './channel.js';
import { sendEmail } from './email-channel.js';
import { sendHealthchecks } from './healthchecks-channel.js';
import { renderNotice, renderTest, type RenderedMessage } from './message.js';
import { lockNotifications, loadNotifyState, saveNotifyState } from './notify-state.js';
import { sendNtfy } from './ntfy-channel.js';
import {
  planNotifications,
  recordDelivery,
  startNotices,
  type Decision,
  type Notice,
  type NotifyState,
  type RunFacts,
  type Trigger,
} from './policy.js';
import { sendWebhook } from './webhook-channel.js';

/** Where a notifier reports (cli/output.ts's Output fits). */
export interface NotifyReporter {
  event(type: string, fields: Record<string, unknown>): void;
  text(line: string): void;
  warn(line: string): void;
}

export interface NotifyOptions {
  readonly reporter?: NotifyReporter;
  /** Decide and print, send nothing, change nothing. */
  readonly dryRun?: boolean;
  readonly now?: Date;
  /** The run id of the journal lines (a run's observer: that run's). */
  readonly journalRun?: string;
  readonly probe?: RunProbe;
}

export interface SendResult {
  readonly channel: string;
  readonly channelType: ResolvedChannel['type'];
  readonly ok: boolean;
  readonly kinds: readonly string[];
  readonly ping?: string;
  readonly about?: string;
  readonly answer?: string;
  readonly error?: string;
  readonly durationMs: number;
}

export interface NotifyReport {
  readonly decisions: readonly Decision[];
  readonly sent: readonly SendResult[];
}

const silent: NotifyReporter = { event() {}, text() {}, warn() {} };

const senders: {
  readonly [Type in ResolvedChannel['type']]: ChannelSender<Extract<ResolvedChannel, { type: Type }>>;
} = { email: sendEmail, ntfy: sendNtfy, webhook: sendWebhook, healthchecks: sendHealthchecks };

function send(
  channel: ResolvedChannel,
  notice: Notice,
  message: RenderedMessage,
  timeoutMs: number,
): Promise<Delivery> {
  const sender = senders[channel.type] as ChannelSender;
  return bounded(timeoutMs, (signal) => sender({ channel, notice, message, timeoutMs, signal }));
}

function report(reporter: NotifyReporter, result: SendResult, trigger: string): void {
  reporter.event('notification', { ...result, trigger });
  const what = result.ping ? `${result.channelType} ${result.ping}` : result.channelType;
  if (result.ok)
    reporter.text(`notify ${result.channel} (${what}): sent${result.answer ? ` — ${result.answer}` : ''}`);
  else
    reporter.warn(
      `snapkeep: notify ${result.channel} (${what}) failed: ${result.error ?? 'no answer'} (journaled; sent again with the next notification)`,
    );
}

/**
 * Send the notices in parallel; journal, report and remember each answer as it comes. Returns
 * the results in the order of the notices.
 */
async function deliver(
  resolved: ResolvedConfig,
  notices: readonly Notice[],
  render: (notice: Notice) => RenderedMessage,
  options: NotifyOptions & { state?: NotifyState; trigger: string },
): Promise<SendResult[]> {
  const reporter = options.reporter ?? silent;
  const journal = new Journal(resolved.stateDir, options.journalRun ?? newRunId());
  const timeoutMs = resolved.notify.timeoutSeconds * 1000;
  let state = options.state;
  let saving = Promise.resolve();
  const results = await Promise.all(
    notices.map(async (notice): Promise<SendResult> => {
      const started = Date.now();
      const message = render(notice);
      const delivery = await send(notice.channel, notice, message, timeoutMs);
      const result: SendResult = {
        channel: notice.channel.name,
        channelType: notice.channel.type,
        ok: delivery.ok,
        kinds: notice.trigger === 'test' ? ['test'] : message.kinds,
        ...(notice.ping ? { ping: notice.ping.kind } : {}),
        ...(notice.run ? { about: notice.run.id } : {}),
        ...(delivery.answer !== undefined ? { answer: maskSecrets(delivery.answer) } : {}),
        ...(delivery.error !== undefined ? { error: maskSecrets(delivery.error) } : {}),
        durationMs: Date.now() - started,
      };
      try {
        journal.appendNow('notification', { ...result, trigger: options.trigger });
      } catch {
        // A state directory that refuses writes: the run's own lines say so.
      }
      report(reporter, result, options.trigger);
      if (state && delivery.ok) {
        state = recordDelivery(state, notice, new Date());
        const snapshot = state;
        // One write after another, each with everything delivered so far.
        saving = saving.then(() => saveNotifyState(resolved.stateDir, snapshot)).catch(() => undefined);
      }
      return result;
    }),
  );
  await saving;
  return results;
}

const sameState = (a: NotifyState, b: NotifyState): boolean => JSON.stringify(a) === JSON.stringify(b);

interface Observed {
  readonly status: DerivedStatus;
  readonly journal: readonly JournalEvent[];
  readonly runs: readonly RecordedRun[];
}

async function observe(resolved: ResolvedConfig, now: Date, probe: RunProbe): Promise<Observed> {
  const { status, journal } = await readStatusWithTransfers(resolved.stateDir, {
    ...configStatusRequest(resolved, now),
    probe,
  });
  return { status, journal, runs: recordedRuns(journal, probe) };
}

/**
 * Decide and send for a trigger: nothing is locked or written unless something is due; then,
 * under the notifiers' lock, decided again on the state as it is now (another notifier may have
 * told it meanwhile) and sent.
 */
async function notifyFor(
  resolved: ResolvedConfig,
  triggerOf: (observed: Observed) => Trigger,
  options: NotifyOptions,
): Promise<NotifyReport> {
  const settings = resolved.notify;
  if (settings.channels.length === 0) return { decisions: [], sent: [] };
  const now = options.now ?? new Date();
  const observed = await observe(resolved, now, options.probe ?? processProbe);
  const trigger = triggerOf(observed);
  const plan = (state: NotifyState) =>
    planNotifications({ trigger, status: observed.status, runs: observed.runs, settings, state, now });
  const initial = await loadNotifyState(resolved.stateDir);
  const first = plan(initial);
  const reporter = options.reporter ?? silent;
  if (options.dryRun) {
    for (const decision of first.decisions) {
      reporter.event('notify-decision', { ...decision, dryRun: true });
      reporter.text(`${decision.channel}: ${decision.send ? 'would send' : 'nothing'}: ${decision.reason}`);
    }
    return { decisions: first.decisions, sent: [] };
  }
  if (first.notices.length === 0) {
    // Problems gone that no channel is told of: forgotten (nothing to lock for).
    if (!sameState(initial, first.state))
      await saveNotifyState(resolved.stateDir, first.state).catch(() => undefined);
    return { decisions: first.decisions, sent: [] };
  }
  // Held longer than a channel may take only by a notifier that hangs: then send anyway (a
  // message twice is better than none).
  const lock = await lockNotifications(resolved.stateDir, settings.timeoutSeconds + 5).catch(() => undefined);
  try {
    const current = plan(await loadNotifyState(resolved.stateDir));
    const sent = await deliver(
      resolved,
      current.notices,
      (notice) => renderNotice(notice, contextOf(resolved, now)),
      { ...options, state: current.state, trigger: trigger.kind },
    );
    return { decisions: current.decisions, sent };
  } finally {
    lock?.release();
  }
}

const contextOf = (resolved: ResolvedConfig, now: Date) => ({
  host: hostname(),
  now,
  stateDir: resolved.stateDir,
});

/** What the run lifecycle tells about a run that ended (or that the lock refused). */
export function factsOfEnded(run: RunEnded, job: string | undefined): RunFacts {
  return {
    id: run.id,
    command: run.command,
    state: run.refused ? 'refused' : run.signal ? 'interrupted' : run.exitCode === 0 ? 'ok' : 'failed',
    exitCode: run.exitCode,
    ...(run.error !== undefined ? { error: run.error } : {}),
    ...(run.signal ? { signal: run.signal } : {}),
    ...(job ? { job } : {}),
  };
}

export function notifyRunEnded(
  resolved: ResolvedConfig,
  run: RunEnded,
  job: string | undefined,
  options: NotifyOptions = {},
): Promise<NotifyReport> {
  return notifyFor(resolved, () => ({ kind: 'run', run: factsOfEnded(run, job) }), {
    ...options,
    journalRun: run.id,
  });
}

/** healthchecks `/start` of a scheduled run: sent while the run goes on. */
export async function notifyRunStarted(
  resolved: ResolvedConfig,
  run: RunStarted,
  job: string | undefined,
  options: NotifyOptions = {},
): Promise<readonly SendResult[]> {
  if (!job) return [];
  const notices = startNotices(resolved.notify, { id: run.id, command: run.command, state: 'running', job });
  if (notices.length === 0) return [];
  const now = options.now ?? new Date();
  return deliver(resolved, notices, (notice) => renderNotice(notice, contextOf(resolved, now)), {
    ...options,
    journalRun: run.id,
    trigger: 'run',
  });
}

/** The scheduled job a unit runs: snapkeep-job-<name>.service, or the resume unit's wake-sync. */
export function jobOfUnit(unit: string): string | undefined {
  if (unit === resumeUnitName) return wakeJobName;
  const match = new RegExp(`^${unitPrefix}job-(.+)\\.service$`).exec(unit);
  return match?.[1];
}

function factsOfRecorded(run: RecordedRun): RunFacts {
  return {
    id: run.id,
    command: run.command,
    state: run.state,
    ...(run.exitCode !== undefined ? { exitCode: run.exitCode } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
    ...(run.signal !== undefined ? { signal: run.signal } : {}),
    ...(typeof run.start?.job === 'string' ? { job: run.start.job } : {}),
  };
}

function factsOfRefusal(event: RunRefusedEvent): RunFacts {
  return {
    id: event.run,
    command: event.command,
    state: 'refused',
    exitCode: event.exitCode,
    error: event.error,
    ...(event.job ? { job: event.job } : {}),
  };
}

export interface FailedUnit {
  readonly unit: string;
  /** systemd's MONITOR_INVOCATION_ID: the failed invocation, matched to the run that recorded it. */
  readonly invocation?: string;
  /** MONITOR_SERVICE_RESULT and MONITOR_EXIT_STATUS, as systemd gives them. */
  readonly result?: string;
}

/**
 * The run a failed unit made: the one that recorded its invocation id; without one (systemd
 * before 251, a hand-run handler), the newest run or refusal of its job. Undefined when the unit
 * failed before any run was recorded.
 */
export function runOfUnit(
  failed: FailedUnit,
  journal: readonly JournalEvent[],
  runs: readonly RecordedRun[],
): RunFacts | undefined {
  const refusals = journal.filter((event): event is RunRefusedEvent => event.event === 'run-refused');
  if (failed.invocation) {
    const run = runs.find((candidate) => candidate.start?.invocation === failed.invocation);
    if (run) return factsOfRecorded(run);
    const refusal = refusals.find((event) => event.invocation === failed.invocation);
    return refusal ? factsOfRefusal(refusal) : undefined;
  }
  const job = jobOfUnit(failed.unit);
  if (job === undefined) return undefined;
  const run = runs.filter((candidate) => candidate.start?.job === job).at(-1);
  const refusal = refusals.filter((event) => event.job === job).at(-1);
  if (run && (!refusal || run.time >= refusal.time)) return factsOfRecorded(run);
  return refusal ? factsOfRefusal(refusal) : undefined;
}

/** systemd's OnFailure= handler: the failed job's run, derived from the journal, is notified. */
export function notifyUnitFailed(
  resolved: ResolvedConfig,
  failed: FailedUnit,
  options: NotifyOptions = {},
): Promise<NotifyReport> {
  const job = jobOfUnit(failed.unit);
  return notifyFor(
    resolved,
    ({ journal, runs }) => {
      const run = runOfUnit(failed, journal, runs);
      return {
        kind: 'unit-failed',
        unit: failed.unit,
        ...(job ? { job } : {}),
        ...(run ? { run } : {}),
        ...(failed.result ? { result: failed.result } : {}),
      };
    },
    options,
  );
}

/** The watchdog job: whatever is due, with no run of its own (stale jobs above all). */
export function runWatchdog(resolved: ResolvedConfig, options: NotifyOptions = {}): Promise<NotifyReport> {
  return notifyFor(resolved, () => ({ kind: 'watchdog' }), options);
}

/** `notify test [CHANNEL]`: a test message to each channel (or the one named), and their answers. */
export async function testChannels(
  resolved: ResolvedConfig,
  name: string | undefined,
  options: NotifyOptions = {},
): Promise<readonly SendResult[]> {
  const channels = resolved.notify.channels;
  if (channels.length === 0)
    throw new UsageError(
      'no notification channels are configured; expected a "notify:" section with email, ntfy, webhook or healthchecks channels',
    );
  const chosen = name === undefined ? channels : channels.filter((channel) => channel.name === name);
  if (chosen.length === 0)
    throw new UsageError(
      `no channel "${name ?? ''}" in notify:; expected one of ${channels.map((channel) => channel.name).join(', ')}`,
    );
  const now = options.now ?? new Date();
  const notices = chosen.map((channel): Notice => ({
    channel,
    items: [],
    open: [],
    trigger: 'test',
    ...(channel.type === 'healthchecks' ? { ping: { kind: 'log' as const } } : {}),
  }));
  return deliver(resolved, notices, (notice) => renderTest(notice, contextOf(resolved, now)), {
    ...options,
    trigger: 'test',
  });
}
