// The one interface every channel module implements (email, ntfy, webhook, healthchecks), and
// what they share: a channel's values that are secret references resolved when sent (and so
// masked everywhere after), and the bound on how long a channel may take.
import { secretReferencePattern } from '../config/secret-reference.js';
import type { ResolvedChannel } from '../config/resolve.js';
import { resolveSecret } from '../restic/secrets.js';
import type { RenderedMessage } from './message.js';
import type { Notice } from './policy.js';

/** What a channel answered. */
export interface Delivery {
  readonly ok: boolean;
  /** The server's words: an SMTP reply, `HTTP 200 OK`. */
  readonly answer?: string;
  readonly error?: string;
}

export interface SendRequest<Channel extends ResolvedChannel = ResolvedChannel> {
  readonly channel: Channel;
  readonly notice: Notice;
  readonly message: RenderedMessage;
  readonly timeoutMs: number;
  /** Aborted when the time is up: the channel stops what it is doing. */
  readonly signal: AbortSignal;
}

export type ChannelSender<Channel extends ResolvedChannel = ResolvedChannel> = (
  request: SendRequest<Channel>,
) => Promise<Delivery>;

/** A value as written, or the secret it refers to (masked from then on unless `sensitive` is false). */
export function valueOf(value: string, where: string, sensitive = true): Promise<string> {
  return secretReferencePattern.test(value) ? resolveSecret(value, where, sensitive) : Promise.resolve(value);
}

export const keyOf = (channel: ResolvedChannel, key: string): string =>
  `notify.${channel.type}.${channel.name}.${key}`;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * `send`, bounded: after `timeoutMs` the signal aborts it and the delivery is a failure, whatever
 * the channel does afterwards; a throw is a failure too, never an exception of the caller.
 */
export async function bounded(
  timeoutMs: number,
  send: (signal: AbortSignal) => Promise<Delivery>,
): Promise<Delivery> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Delivery>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('timeout'));
      resolve({ ok: false, error: `no answer within ${Math.round(timeoutMs / 1000)} s` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      send(controller.signal).catch((error: unknown): Delivery => ({ ok: false, error: messageOf(error) })),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
