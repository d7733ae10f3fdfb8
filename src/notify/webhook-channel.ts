// A generic webhook: the versioned JSON body (message.ts, `snapkeep-notification/1`) or the
// channel's template filled in, with its method and headers (values may be secret references).
import type { ResolvedChannel } from '../config/resolve.js';
import { keyOf, valueOf, type ChannelSender } from './channel.js';
import { sendHttp } from './http-request.js';

type WebhookChannel = Extract<ResolvedChannel, { type: 'webhook' }>;

export const sendWebhook: ChannelSender<WebhookChannel> = async ({ channel, message, signal }) => {
  const url = await valueOf(channel.url, keyOf(channel, 'url'));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(channel.headers))
    headers[name] = await valueOf(value, keyOf(channel, `headers.${name}`));
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type'))
    headers['Content-Type'] = 'application/json';
  return sendHttp({ url, method: channel.method, headers, body: JSON.stringify(message.payload), signal });
};
