// ntfy: one JSON publish to the server's root (https://docs.ntfy.sh/publish/#publish-as-json) —
// topic, title, message, priority (1-5) and tags; the priority is the highest of the kinds the
// message is about, the tags all of theirs. The token goes in Authorization, never in the URL.
import type { ResolvedChannel } from '../config/resolve.js';
import { keyOf, valueOf, type ChannelSender } from './channel.js';
import { sendHttp } from './http-request.js';

type NtfyChannel = Extract<ResolvedChannel, { type: 'ntfy' }>;

/** ntfy turns longer messages into attachments (or refuses them). */
const maxMessageBytes = 4000;

export function truncateBytes(text: string, limit: number): string {
  if (Buffer.byteLength(text) <= limit) return text;
  const marker = '\n… (cut; snapkeep status has the rest)';
  let cut = text.slice(0, limit);
  while (Buffer.byteLength(cut) + Buffer.byteLength(marker) > limit) cut = cut.slice(0, -64);
  return `${cut}${marker}`;
}

export const sendNtfy: ChannelSender<NtfyChannel> = async ({ channel, message, signal }) => {
  const topic = await valueOf(channel.topic, keyOf(channel, 'topic'));
  const token =
    channel.token === undefined ? undefined : await valueOf(channel.token, keyOf(channel, 'token'));
  const kinds = message.kinds;
  const priority = kinds.length ? Math.max(...kinds.map((kind) => channel.priority[kind])) : 3;
  const tags = [...new Set(kinds.flatMap((kind) => channel.tags[kind]))];
  return sendHttp({
    url: `${channel.server.replace(/\/+$/, '')}/`,
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({
      topic,
      title: message.title,
      message: truncateBytes(message.text, maxMessageBytes),
      priority,
      ...(tags.length ? { tags } : {}),
    }),
    signal,
  });
};
