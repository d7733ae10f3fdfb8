// `doctor notify`: can each notification channel be used — its secret references resolve, its
// server answers (SMTP: connect, STARTTLS or TLS, and authenticate, without sending; HTTP: a TCP
// connection to the host, since any request would publish or ping), and how its last message went
// (the derived status's record of `notification` lines). And whether anything tells you when
// backups stop: a watchdog job in the schedules. observeNotify() looks; notifyChecks() decides.
import { access, constants } from 'node:fs/promises';
import { secretReferencePattern } from '../config/secret-reference.js';
import type { ResolvedChannel, ResolvedConfig } from '../config/resolve.js';
import { notifyReferencesOf } from '../config/secret-variables.js';
import { keyOf, valueOf, type Delivery } from '../notify/channel.js';
import { verifySmtp } from '../notify/email-channel.js';
import type { ChannelRecord } from '../state/derive-status.js';
import { readStatus, configStatusRequest } from '../state/status-inputs.js';
import { scope, type CheckResult } from './check.js';
import { probeTcp, type TcpProbe } from './tcp-probe.js';

export interface ChannelObservation {
  readonly channel: ResolvedChannel;
  /** Secret references that did not resolve, with why. */
  readonly unresolved: readonly { readonly reference: string; readonly error: string }[];
  readonly reach:
    | { readonly kind: 'smtp'; readonly address: string; readonly answer: Delivery }
    | { readonly kind: 'tcp'; readonly address: string; readonly probe: TcpProbe }
    | { readonly kind: 'sendmail'; readonly path: string; readonly error?: string }
    | { readonly kind: 'skipped'; readonly why: string };
  readonly last?: ChannelRecord & { readonly failing: boolean };
}

export interface NotifyObservations {
  readonly channels: readonly ChannelObservation[];
  /** The watchdog's calendar event when a schedule runs it (or the implicit one will). */
  readonly watchdog?: string;
  readonly schedules: number;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** host:port of an http(s) URL, or why there is none. */
function addressOf(url: string): { host: string; port: number } | string {
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
    return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return 'the value is not a URL';
  }
}

async function observeChannel(
  channel: ResolvedChannel,
  timeoutMs: number,
  last: ChannelObservation['last'],
): Promise<ChannelObservation> {
  const unresolved: { reference: string; error: string }[] = [];
  for (const reference of notifyReferencesOf(channel).filter((value) => secretReferencePattern.test(value)))
    await valueOf(reference, keyOf(channel, 'secret')).catch((error: unknown) => {
      unresolved.push({ reference, error: messageOf(error) });
    });
  const base = { channel, unresolved, ...(last ? { last } : {}) };
  if (channel.type === 'email') {
    const transport = channel.transport;
    if (transport.kind === 'sendmail') {
      const error = await access(transport.path, constants.X_OK).then(
        () => undefined,
        (caught: unknown) => messageOf(caught),
      );
      return { ...base, reach: { kind: 'sendmail', path: transport.path, ...(error ? { error } : {}) } };
    }
    const address = `${transport.host}:${transport.port}`;
    if (unresolved.length > 0)
      return {
        ...base,
        reach: { kind: 'skipped', why: `${address}: not tried, its credentials do not resolve` },
      };
    return { ...base, reach: { kind: 'smtp', address, answer: await verifySmtp(channel, timeoutMs) } };
  }
  const urlValue = channel.type === 'ntfy' ? channel.server : channel.url;
  let url: string;
  try {
    url = await valueOf(urlValue, keyOf(channel, 'url'));
  } catch {
    return { ...base, reach: { kind: 'skipped', why: 'not tried: its URL does not resolve' } };
  }
  const address = addressOf(url);
  if (typeof address === 'string') return { ...base, reach: { kind: 'skipped', why: address } };
  return {
    ...base,
    reach: {
      kind: 'tcp',
      // The host and port only: the rest of the URL may be the credential.
      address: `${address.host}:${address.port}`,
      probe: await probeTcp(address.host, address.port, timeoutMs),
    },
  };
}

export async function observeNotify(
  resolved: ResolvedConfig,
  watchdog: string | undefined,
): Promise<NotifyObservations> {
  const status = await readStatus(resolved.stateDir, configStatusRequest(resolved, new Date())).catch(
    () => undefined,
  );
  const timeoutMs = resolved.notify.timeoutSeconds * 1000;
  return {
    channels: await Promise.all(
      resolved.notify.channels.map((channel) =>
        observeChannel(channel, timeoutMs, status?.channels[channel.name]),
      ),
    ),
    ...(watchdog ? { watchdog } : {}),
    schedules: resolved.schedules.length,
  };
}

const tcpCauses: Readonly<Record<Exclude<TcpProbe['kind'], 'open'>, string>> = {
  refused: 'the host answered but nothing listens on that port (the service is down, or a wrong port)',
  timeout: 'nothing answered: the host is down, or a firewall drops the packets',
  unresolved: 'the host name does not resolve (a typo, or no DNS here)',
  unreachable: 'there is no route to the host (the network is down)',
  error: 'the connection failed',
};

function channelChecks(observed: ChannelObservation): CheckResult[] {
  const { channel } = observed;
  const checks = scope('notify', channel.name);
  const label = `${channel.type} ${channel.name}`;
  const test = `snapkeep notify test ${channel.name}`;
  const results: CheckResult[] = [];
  if (observed.unresolved.length > 0)
    results.push(
      checks.fail(
        'credentials',
        `${label}: credentials`,
        observed.unresolved.map((entry) => entry.error).join('; '),
        'a secret reference of the channel does not resolve where snapkeep runs',
        [
          'set the variable or create the file it names (for scheduled jobs: in the units’ Environment=/EnvironmentFile=, also for snapkeep-failure@.service)',
          test,
        ],
      ),
    );
  else results.push(checks.ok('credentials', `${label}: credentials`, 'every secret reference resolves'));
  const reach = observed.reach;
  switch (reach.kind) {
    case 'skipped':
      results.push(checks.skip('reach', `${label}: reachable`, reach.why));
      break;
    case 'sendmail':
      results.push(
        reach.error
          ? checks.fail('reach', `${label}: sendmail`, reach.error, `${reach.path} cannot be run`, [
              'install a mail transfer agent (apt-get install postfix, or msmtp-mta) or give sendmail: its path',
              test,
            ])
          : checks.ok('reach', `${label}: sendmail`, `${reach.path} is there`),
      );
      break;
    case 'smtp':
      results.push(
        reach.answer.ok
          ? checks.ok('reach', `${label}: SMTP`, `${reach.address}: ${reach.answer.answer ?? 'ok'}`)
          : checks.fail(
              'reach',
              `${label}: SMTP`,
              `${reach.address}: ${reach.answer.error ?? 'failed'}`,
              /EAUTH|auth/i.test(reach.answer.error ?? '')
                ? 'the server refused the user name or password'
                : /ECONNREFUSED/.test(reach.answer.error ?? '')
                  ? tcpCauses.refused
                  : /ETIMEDOUT|timeout/i.test(reach.answer.error ?? '')
                    ? tcpCauses.timeout
                    : /certificate|self.signed|TLS|STARTTLS/i.test(reach.answer.error ?? '')
                      ? "TLS failed: the server's certificate is not trusted (ca_file:) or it offers no STARTTLS (security:)"
                      : 'the SMTP server did not accept the connection',
              [`check host, port, security and the credentials of notify.email.${channel.name}`, test],
            ),
      );
      break;
    case 'tcp':
      results.push(
        reach.probe.kind === 'open'
          ? checks.ok('reach', `${label}: reachable`, `${reach.address} accepts connections`)
          : checks.fail(
              'reach',
              `${label}: reachable`,
              `${reach.address}: ${reach.probe.message}`,
              tcpCauses[reach.probe.kind],
              [`check the channel's URL and that the service runs`, test],
            ),
      );
      break;
  }
  const last = observed.last;
  if (!last)
    results.push(checks.ok('last-message', `${label}: last message`, `none sent yet (${test} sends one)`));
  else if (last.failing)
    results.push(
      checks.warn(
        'last-message',
        `${label}: last message`,
        `${last.lastAttempt.time} failed: ${last.lastAttempt.error ?? 'failed'}${last.lastSuccess ? `; last delivered ${last.lastSuccess}` : '; none delivered yet'}`,
        'the channel did not take the last message; what it was about is sent again with the next notification',
        [test, 'snapkeep status'],
      ),
    );
  else
    results.push(
      checks.ok('last-message', `${label}: last message`, `${last.lastAttempt.time} went through`),
    );
  return results;
}

export function notifyChecks(observed: NotifyObservations): CheckResult[] {
  const checks = scope('notify');
  if (observed.channels.length === 0)
    return [checks.skip('channels', 'notification channels', 'none configured (notify:)')];
  const results = observed.channels.flatMap(channelChecks);
  if (observed.watchdog === undefined)
    results.push(
      checks.warn(
        'watchdog',
        'watchdog',
        observed.schedules === 0
          ? 'no schedules: nothing runs the watchdog'
          : 'no schedule runs the watchdog (notify.watchdog: false)',
        'a backup that stops running is only noticed when someone looks (snapkeep status)',
        [
          'schedule snapkeep: a "schedules:" section, then snapkeep schedule install (the watchdog job comes with it)',
          'or run snapkeep notify watchdog from cron hourly',
        ],
      ),
    );
  else
    results.push(
      checks.ok(
        'watchdog',
        'watchdog',
        `scheduled (${observed.watchdog}): stale and failing jobs are told even if no backup runs`,
      ),
    );
  return results;
}
