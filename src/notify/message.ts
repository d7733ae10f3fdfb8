// A notice as words (pure): the title and plain-text body every channel shows, and the versioned
// JSON a webhook receives (`snapkeep-notification/1`, README "Notifications"), or the user's
// template filled in with the same values.
import type { NotifyEventKind } from '../config/notify-schema.js';
import type { Notice, NoticeItem } from './policy.js';

export const payloadSchema = 'snapkeep-notification/1';

export type Severity = 'critical' | 'warning' | 'info';

export interface MessageContext {
  readonly host: string;
  readonly now: Date;
  readonly stateDir: string;
}

export interface RenderedMessage {
  readonly title: string;
  readonly text: string;
  readonly severity: Severity;
  /** The kinds of the items that are due (what the message is about). */
  readonly kinds: readonly NotifyEventKind[];
  /** The webhook body: snapkeep's JSON, or the channel's template filled in. */
  readonly payload: unknown;
}

const labels: Readonly<Record<NotifyEventKind, string>> = {
  failure: 'FAILED',
  partial: 'PARTIAL',
  killed: 'KILLED',
  interrupted: 'INTERRUPTED',
  stale: 'STALE',
  'drill-failed': 'DRILL FAILED',
  'target-full': 'NEARLY FULL',
  'lock-conflict': 'NOT RUN',
  recovered: 'RECOVERED',
  success: 'OK',
};

const severities: Readonly<Record<NotifyEventKind, Severity>> = {
  failure: 'critical',
  partial: 'critical',
  killed: 'critical',
  interrupted: 'warning',
  stale: 'warning',
  'drill-failed': 'warning',
  'target-full': 'warning',
  'lock-conflict': 'warning',
  recovered: 'info',
  success: 'info',
};

const rank: Readonly<Record<Severity, number>> = { critical: 0, warning: 1, info: 2 };

export const labelOf = (kind: NotifyEventKind): string => labels[kind];

function severityOf(items: readonly NoticeItem[]): Severity {
  return items.reduce<Severity>(
    (worst, entry) => (rank[severities[entry.kind]] < rank[worst] ? severities[entry.kind] : worst),
    'info',
  );
}

const reasonWords: Readonly<Record<NoticeItem['reason'], string>> = {
  new: '',
  changed: ' (changed)',
  reminder: ' (still, reminder)',
  recovered: '',
  event: '',
  open: '',
};

function itemLines(entry: NoticeItem): string[] {
  const lines = [
    `${labels[entry.kind].padEnd(11)} ${entry.subject}${reasonWords[entry.reason]}`,
    `  ${entry.detail}`,
  ];
  if (entry.explanation?.cause) lines.push(`  cause: ${entry.explanation.cause}`);
  entry.explanation?.fix.forEach((step, index) => {
    lines.push(`  ${index === 0 ? 'fix:  ' : '      '} ${step}`);
  });
  return lines;
}

function runLine(notice: Notice): string | undefined {
  const run = notice.run;
  if (!run) return undefined;
  const how =
    run.state === 'refused'
      ? 'refused by the lock (exit 11)'
      : run.state === 'ok'
        ? 'ok'
        : `${run.state}${run.exitCode !== undefined ? ` (exit ${run.exitCode})` : ''}${run.error ? `: ${run.error}` : ''}`;
  return `run ${run.id}: snapkeep ${run.command}${run.job ? ` (scheduled job ${run.job})` : ''}, ${how}`;
}

/** The one line a subject or title starts with: the worst kind, then the jobs. */
function headline(items: readonly NoticeItem[]): string {
  const worst = [...items].sort((a, b) => rank[severities[a.kind]] - rank[severities[b.kind]])[0];
  if (!worst) return 'status';
  const others = items.length - 1;
  return `${labels[worst.kind]} ${worst.subject}${others > 0 ? ` (+${others} more)` : ''}`;
}

function fill(template: unknown, values: Readonly<Record<string, string>>): unknown {
  if (typeof template === 'string')
    return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_match, name: string) => values[name] ?? '');
  if (Array.isArray(template)) return template.map((entry) => fill(entry, values));
  if (typeof template === 'object' && template !== null)
    return Object.fromEntries(Object.entries(template).map(([key, entry]) => [key, fill(entry, values)]));
  return template;
}

const itemJson = (entry: NoticeItem): Record<string, unknown> => ({
  kind: entry.kind,
  subject: entry.subject,
  detail: entry.detail,
  reason: entry.reason,
  ...(entry.since ? { since: entry.since } : {}),
  cause: entry.explanation?.cause ?? null,
  fix: entry.explanation?.fix ?? [],
});

export function renderNotice(notice: Notice, context: MessageContext): RenderedMessage {
  const due = notice.items;
  // A healthchecks ping carries the run's whole picture: what is open is its body.
  const shown = due.length > 0 ? due : notice.open;
  const severity =
    notice.ping?.kind === 'fail' ? 'critical' : notice.ping?.kind === 'success' ? 'info' : severityOf(shown);
  const time = context.now.toISOString();
  const lines: string[] = [];
  const runText = runLine(notice);
  if (notice.ping && due.length === 0 && runText) lines.push(runText, '');
  for (const entry of shown) lines.push(...itemLines(entry), '');
  const open = due.length > 0 ? notice.open : [];
  if (open.length > 0) {
    lines.push('Still open:');
    for (const entry of open) lines.push(`  ${labels[entry.kind]} ${entry.subject}: ${entry.detail}`);
    lines.push('');
  }
  if (!(notice.ping && due.length === 0) && runText) lines.push(runText);
  lines.push(
    `snapkeep on ${context.host}, ${time}; details: snapkeep status (journal: ${context.stateDir}/journal.ndjson)`,
  );
  const text = lines.join('\n');
  const title =
    notice.ping && due.length === 0
      ? `[snapkeep ${context.host}] ${runText ?? notice.ping.kind}`
      : `[snapkeep ${context.host}] ${headline(due)}`;
  const kinds = [...new Set(due.map((entry) => entry.kind))];
  const channel = notice.channel;
  const template = channel.type === 'webhook' ? channel.template : undefined;
  const payload =
    template !== undefined
      ? fill(template, {
          title,
          message: text,
          severity,
          host: context.host,
          time,
          kinds: kinds.join(', '),
          jobs: [...new Set(due.map((entry) => entry.subject))].join(', '),
          run: notice.run?.id ?? '',
          trigger: notice.trigger,
        })
      : {
          schema: payloadSchema,
          host: context.host,
          time,
          trigger: notice.trigger,
          severity,
          title,
          message: text,
          kinds,
          run: notice.run
            ? {
                id: notice.run.id,
                command: notice.run.command,
                job: notice.run.job ?? null,
                state: notice.run.state,
                exitCode: notice.run.exitCode ?? null,
              }
            : null,
          events: due.map(itemJson),
          open: open.map(itemJson),
        };
  return { title, text, severity, kinds, payload };
}

/** `snapkeep notify test`: a message that says where it came from and changes nothing. */
export function renderTest(notice: Notice, context: MessageContext): RenderedMessage {
  const time = context.now.toISOString();
  const title = `[snapkeep ${context.host}] test message`;
  const text = `A test message from snapkeep on ${context.host} (${time}), channel ${notice.channel.name}: snapkeep notify test. Nothing is wrong.`;
  const channel = notice.channel;
  const payload =
    channel.type === 'webhook' && channel.template !== undefined
      ? fill(channel.template, {
          title,
          message: text,
          severity: 'info',
          host: context.host,
          time,
          kinds: 'test',
          jobs: '',
          run: '',
          trigger: 'test',
        })
      : {
          schema: payloadSchema,
          host: context.host,
          time,
          trigger: 'test',
          severity: 'info',
          title,
          message: text,
          kinds: [],
          run: null,
          events: [],
          open: [],
        };
  return { title, text, severity: 'info', kinds: [], payload };
}
