// One HTTP request of a channel (ntfy, webhook, healthchecks) through Node's fetch: no redirects
// followed (a ping URL is a credential; it goes nowhere else), aborted with the channel's signal,
// and the answer as a person reads it — the status and the start of the body, or why none came.
import type { Delivery } from './channel.js';

export interface HttpRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly signal: AbortSignal;
}

const excerpt = (text: string): string => text.replace(/\s+/g, ' ').trim().slice(0, 200);

/** The cause fetch wraps in "fetch failed": ECONNREFUSED 127.0.0.1:8080, a TLS error, … */
function reasonOf(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'stopped: no answer in time';
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export async function sendHttp(request: HttpRequest): Promise<Delivery> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: request.signal,
    });
  } catch (error) {
    return { ok: false, error: reasonOf(error, request.signal) };
  }
  const text = await response.text().catch(() => '');
  const answer = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${text ? `: ${excerpt(text)}` : ''}`;
  return response.ok ? { ok: true, answer } : { ok: false, answer, error: answer };
}
