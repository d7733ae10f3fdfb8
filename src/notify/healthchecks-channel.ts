// Healthchecks-compatible pings (https://healthchecks.io/docs/http_api/): `<url>/start` when a
// scheduled run starts, `<url>` on its success, `<url>/fail` on anything else, `<url>/log` for
// events in between, each with `rid=<uuid of the run>` so start and end pair up, and the message
// as the body (at most 100 KB: the service's limit). The URL is the credential: it is a secret
// reference, masked in every message, and nothing but the ping suffix is added to it.
import { registerSecret } from '../exec/command.js';
import type { ResolvedChannel } from '../config/resolve.js';
import { keyOf, valueOf, type ChannelSender } from './channel.js';
import { sendHttp } from './http-request.js';
import { truncateBytes } from './ntfy-channel.js';
import { runUuid } from './policy.js';

type HealthchecksChannel = Extract<ResolvedChannel, { type: 'healthchecks' }>;

export const maxPingBodyBytes = 100_000;

export function pingUrl(base: string, ping: 'start' | 'success' | 'fail' | 'log', run?: string): string {
  const suffix = ping === 'success' ? '' : `/${ping}`;
  return `${base}${suffix}${run === undefined ? '' : `?rid=${runUuid(run)}`}`;
}

export const sendHealthchecks: ChannelSender<HealthchecksChannel> = async ({
  channel,
  notice,
  message,
  signal,
}) => {
  const base = (await valueOf(channel.url, keyOf(channel, 'url'))).replace(/\/+$/, '');
  registerSecret(base);
  const ping = notice.ping ?? { kind: 'log' as const };
  return sendHttp({
    url: pingUrl(base, ping.kind, ping.run),
    method: 'POST',
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    body: truncateBytes(`${message.title}\n\n${message.text}`, maxPingBodyBytes),
    signal,
  });
};
