// `notify:` — where snapkeep tells someone: e-mail (SMTP or the local sendmail), ntfy, a generic
// webhook, healthchecks-compatible pings; any number of each, named (names are unique across the
// kinds: `snapkeep notify test NAME`). Every credential is a secret reference (env:, file:, op://),
// never a value: the loader says so without echoing what was written instead.
import { z } from 'zod';
import { parseCalendar } from '../calendar/systemd-calendar.js';
import { parseTimeSpan, spanExpected } from '../calendar/time-span.js';
import { absolutePath, itemName } from './common-schema.js';
import { secretReference } from './restic-schema.js';
import { secretReferencePattern } from './secret-reference.js';

/** What a notification can be about (README "Notifications" explains each). */
export const notifyEventKinds = [
  'failure',
  'partial',
  'killed',
  'interrupted',
  'recovered',
  'stale',
  'drill-failed',
  'target-full',
  'lock-conflict',
  'success',
] as const;
export type NotifyEventKind = (typeof notifyEventKinds)[number];

/** Every kind but `success`: a message per good run is noise unless asked for. */
export const defaultNotifyEvents: readonly NotifyEventKind[] = notifyEventKinds.filter(
  (kind) => kind !== 'success',
);

/** What a healthchecks channel logs (`/log`) besides its start, success and fail pings. */
export const defaultHealthchecksEvents: readonly NotifyEventKind[] = [
  'stale',
  'drill-failed',
  'target-full',
  'lock-conflict',
];

/** The placeholders a webhook template's strings may use. */
export const templatePlaceholders = [
  'title',
  'message',
  'severity',
  'host',
  'time',
  'kinds',
  'jobs',
  'run',
  'trigger',
] as const;

const eventList = z
  .array(z.enum(notifyEventKinds))
  .optional()
  .describe(`Events this channel gets (default: notify.events): ${notifyEventKinds.join(', ')}`);

export const timeSpan = z.string().superRefine((value, context) => {
  const parsed = parseTimeSpan(value);
  if (!parsed.ok) context.addIssue({ code: 'custom', message: `${parsed.error}; expected ${spanExpected}` });
});

const hostName = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+)$/,
    'is not a host name; expected a name like smtp.example.com or an IP address',
  );

const emailAddress = z
  .string()
  .regex(
    /^[^\s@<>,;"'()\\-][^\s@<>,;"'()\\]*@[A-Za-z0-9][A-Za-z0-9.-]*$/,
    'is not an e-mail address; expected name@example.com (no display name)',
  );

/** An http(s) URL without user:password (credentials go into a header or a secret reference). */
const httpUrl = z.string().superRefine((value, context) => {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    context.addIssue({ code: 'custom', message: 'is not a URL; expected http://… or https://…' });
  else if (url.username || url.password)
    context.addIssue({
      code: 'custom',
      message:
        'holds a user name or password; expected the URL without them (give the whole URL as a secret reference instead: env:NAME)',
    });
});

/** A URL, or a secret reference to one (webhook URLs of chat services are credentials). */
const urlOrSecret = z.string().superRefine((value, context) => {
  if (secretReferencePattern.test(value)) return;
  const result = httpUrl.safeParse(value);
  if (!result.success)
    for (const issue of result.error.issues)
      context.addIssue({
        code: 'custom',
        message: `${issue.message.replace(/; expected .*$/, '')}; expected an http(s) URL or a secret reference (env:NAME, file:/path, op://…)`,
      });
});

/** A plain value, or a secret reference resolved when it is sent. */
const textOrSecret = z.string().min(1, 'is empty; expected a value or a secret reference');

const emailSchema = z
  .strictObject({
    host: hostName.optional().describe('SMTP server (or use sendmail:)'),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Default 587 (starttls), 465 (tls), 25 (none)'),
    security: z
      .enum(['starttls', 'tls', 'none'])
      .optional()
      .describe(
        'starttls (default): upgrade with STARTTLS and refuse to go on without it; tls: TLS from the start (port 465); none: no encryption (a relay on this machine)',
      ),
    user: textOrSecret.optional().describe('SMTP user name (or a secret reference)'),
    password: secretReference.optional().describe('SMTP password: env:NAME, file:/path or op://…'),
    ca_file: absolutePath.optional().describe("CA certificate(s) to trust for the server's certificate"),
    sendmail: z
      .union([z.literal(true), absolutePath])
      .optional()
      .describe('Hand the message to the local sendmail (true: /usr/sbin/sendmail) instead of SMTP'),
    from: emailAddress.describe('Sender address'),
    to: z.array(emailAddress).min(1).describe('Recipients'),
    events: eventList,
  })
  .superRefine((email, context) => {
    const issue = (path: string, message: string): void => {
      context.addIssue({ code: 'custom', path: [path], message });
    };
    if ((email.host === undefined) === (email.sendmail === undefined))
      issue(
        email.host === undefined ? 'host' : 'sendmail',
        email.host === undefined
          ? 'no way to send; expected host: (an SMTP server) or sendmail: true'
          : 'host: and sendmail: both given; expected one of them',
      );
    if (email.sendmail !== undefined)
      for (const key of ['port', 'security', 'user', 'password', 'ca_file'] as const)
        if (email[key] !== undefined) issue(key, `is for SMTP; expected no ${key}: with sendmail:`);
    if ((email.user === undefined) !== (email.password === undefined))
      issue(
        email.user === undefined ? 'user' : 'password',
        'SMTP authentication needs both; expected user: and password: together',
      );
  })
  .describe('E-mail over SMTP (nodemailer) or the local sendmail');

const priority = z.number().int().min(1).max(5);
const ntfyTag = z
  .string()
  .regex(/^[A-Za-z0-9_+-]+$/, 'is not an ntfy tag; expected an emoji short code or a word');

const ntfySchema = z
  .strictObject({
    server: httpUrl.optional().describe('The ntfy server (default https://ntfy.sh)'),
    topic: z
      .string()
      .superRefine((value, context) => {
        if (!secretReferencePattern.test(value) && !/^[-_A-Za-z0-9]{1,64}$/.test(value))
          context.addIssue({
            code: 'custom',
            message:
              'is not an ntfy topic; expected up to 64 letters, digits, "-" and "_", or a secret reference (on a public server the topic name is the password)',
          });
      })
      .describe('Topic (or a secret reference: on a public server the name is the password)'),
    token: secretReference.optional().describe('Access token (Authorization: Bearer), a secret reference'),
    priority: z
      .partialRecord(z.enum(notifyEventKinds), priority)
      .optional()
      .describe('Priority 1-5 per event kind (defaults: failure and killed 5, recovered 3, success 2, …)'),
    tags: z
      .partialRecord(z.enum(notifyEventKinds), z.array(ntfyTag))
      .optional()
      .describe('Tags (emoji short codes) per event kind'),
    events: eventList,
  })
  .describe('ntfy (https://ntfy.sh or a server of your own): a JSON publish');

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'is not an HTTP header name; expected e.g. Authorization');

/** Every `{{name}}` in the template's strings is a known placeholder. */
function templateProblems(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; name: string }[] {
  if (typeof value === 'string')
    return [...value.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)]
      .map((match) => match[1]!)
      .filter((name) => !(templatePlaceholders as readonly string[]).includes(name))
      .map((name) => ({ path, name }));
  if (Array.isArray(value)) return value.flatMap((item, index) => templateProblems(item, [...path, index]));
  if (typeof value === 'object' && value !== null)
    return Object.entries(value).flatMap(([key, item]) => templateProblems(item, [...path, key]));
  return [];
}

const webhookSchema = z
  .strictObject({
    url: urlOrSecret.describe('Where to send (a secret reference when the URL itself is a credential)'),
    method: z.enum(['POST', 'PUT', 'PATCH']).optional().describe('Default POST'),
    headers: z
      .record(headerName, textOrSecret)
      .optional()
      .describe('Extra headers; a value may be a secret reference (Authorization: env:HOOK_TOKEN)'),
    template: z
      .json()
      .optional()
      .describe(
        `The body to send instead of snapkeep's own (a JSON value; in its strings ${templatePlaceholders.map((name) => `{{${name}}}`).join(' ')} are replaced)`,
      ),
    events: eventList,
  })
  .superRefine((webhook, context) => {
    for (const { path, name } of templateProblems(webhook.template))
      context.addIssue({
        code: 'custom',
        path: ['template', ...path],
        message: `unknown placeholder {{${name}}}; expected one of ${templatePlaceholders.map((known) => `{{${known}}}`).join(', ')}`,
      });
  })
  .describe('A generic webhook: snapkeep-notification/1 JSON, or your template');

const healthchecksSchema = z
  .strictObject({
    url: secretReference.describe(
      'The ping URL (https://hc-ping.com/<uuid>, a self-hosted Healthchecks, …) as a secret reference: whoever has it can ping',
    ),
    schedules: z
      .array(itemName)
      .optional()
      .describe('The scheduled jobs whose runs it pings (default: every scheduled run)'),
    events: eventList.describe(
      `What it logs with /log besides the run pings (default: ${defaultHealthchecksEvents.join(', ')})`,
    ),
  })
  .describe('Healthchecks-compatible pings: /start, success, /fail and /log, with the run id');

export const notifySchema = z
  .strictObject({
    events: eventList.describe(
      `Events every channel gets unless it lists its own (default: all but success): ${notifyEventKinds.join(', ')}`,
    ),
    interactive: z
      .boolean()
      .optional()
      .describe('Also notify about runs started by hand (default false: only scheduled runs notify)'),
    remind_every: z
      .union([z.literal('never'), timeSpan])
      .optional()
      .describe('Tell again while a problem lasts, this often (default 24h; never: once)'),
    timeout: timeSpan
      .superRefine((value, context) => {
        const parsed = parseTimeSpan(value);
        if (parsed.ok && (parsed.seconds < 1 || parsed.seconds > 60))
          context.addIssue({ code: 'custom', message: 'is out of range; expected 1s to 60s' });
      })
      .optional()
      .describe(
        'How long a channel may take before it counts as failed (default 10s; the run never waits longer)',
      ),
    target_full: z
      .strictObject({
        free_below_percent: z.number().min(0).max(100).optional().describe('Default 10'),
        within_days: z
          .number()
          .min(0)
          .optional()
          .describe('Full within this many days at its growth (default 7)'),
      })
      .optional()
      .describe('When a target counts as nearly full'),
    watchdog: z
      .union([
        z.literal(false),
        z.string().superRefine((value, context) => {
          const parsed = parseCalendar(value);
          if (!parsed.ok)
            context.addIssue({
              code: 'custom',
              message: `${parsed.error}; expected a systemd calendar event like "hourly", or false`,
            });
        }),
      ])
      .optional()
      .describe(
        'When the schedules check for stale and failed jobs even if no backup ran (default hourly, once channels and schedules exist; false: never)',
      ),
    email: z.record(itemName, emailSchema).optional(),
    ntfy: z.record(itemName, ntfySchema).optional(),
    webhook: z.record(itemName, webhookSchema).optional(),
    healthchecks: z.record(itemName, healthchecksSchema).optional(),
  })
  .superRefine((notify, context) => {
    const seen = new Map<string, string>();
    for (const type of ['email', 'ntfy', 'webhook', 'healthchecks'] as const)
      for (const name of Object.keys(notify[type] ?? {})) {
        const other = seen.get(name);
        if (other !== undefined)
          context.addIssue({
            code: 'custom',
            path: [type, name],
            message: `"${name}" is also the name of a channel under ${other}:; expected a name no other channel uses`,
          });
        seen.set(name, type);
      }
  })
  .describe('Notifications: who is told when a backup fails, recovers or silently stops');
export type NotifyConfig = z.infer<typeof notifySchema>;
export type EmailChannelConfig = z.infer<typeof emailSchema>;

type Issue = { code: 'custom'; path: PropertyKey[]; message: string };

/** A healthchecks channel's `schedules:` names jobs the config defines (the config's superRefine). */
export function notifyReferenceIssues(config: {
  readonly notify?: NotifyConfig;
  readonly schedules: Readonly<Record<string, unknown>>;
}): Issue[] {
  const known = Object.keys(config.schedules);
  return Object.entries(config.notify?.healthchecks ?? {}).flatMap(([name, channel]) =>
    (channel.schedules ?? []).flatMap((schedule, index): Issue[] =>
      known.includes(schedule)
        ? []
        : [
            {
              code: 'custom',
              path: ['notify', 'healthchecks', name, 'schedules', index],
              message: `unknown schedule "${schedule}"; expected ${known.length ? `one of the jobs under "schedules:": ${known.join(', ')}` : 'a job defined under "schedules:" (none are defined)'}`,
            },
          ],
    ),
  );
}
