// E-mail through nodemailer: SMTP with STARTTLS required (default), TLS from the start, or none;
// authentication from secret references; every wait (connection, greeting, each reply) bounded by
// the channel's timeout. Or the local sendmail: nodemailer writes the message, exec runs
// `sendmail -i -t` with it on stdin (recipients from its headers, none on the command line).
import { readFile } from 'node:fs/promises';
import { runCommand } from '../exec/command.js';
import type { ResolvedChannel } from '../config/resolve.js';
import { keyOf, valueOf, type ChannelSender, type Delivery } from './channel.js';

type EmailChannel = Extract<ResolvedChannel, { type: 'email' }>;

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly requireTLS: boolean;
  readonly ignoreTLS: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  readonly tls?: { readonly ca: string };
  readonly connectionTimeout: number;
  readonly greetingTimeout: number;
  readonly socketTimeout: number;
  readonly dnsTimeout: number;
  readonly logger: false;
  readonly debug: false;
}

/** The nodemailer transport options of an SMTP channel, its secrets resolved. */
export async function smtpSettings(channel: EmailChannel, timeoutMs: number): Promise<SmtpSettings> {
  const transport = channel.transport;
  if (transport.kind !== 'smtp') throw new Error('not an SMTP channel');
  const auth =
    transport.user !== undefined && transport.password !== undefined
      ? {
          user: await valueOf(transport.user, keyOf(channel, 'user'), false),
          pass: await valueOf(transport.password, keyOf(channel, 'password')),
        }
      : undefined;
  return {
    host: transport.host,
    port: transport.port,
    secure: transport.security === 'tls',
    requireTLS: transport.security === 'starttls',
    ignoreTLS: transport.security === 'none',
    ...(auth ? { auth } : {}),
    ...(transport.caFile ? { tls: { ca: await readFile(transport.caFile, 'utf8') } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    // Never a transcript: AUTH lines carry the password (base64 is not masked).
    logger: false,
    debug: false,
  };
}

const messageOf = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const { code, response } = error as Error & { code?: string; response?: string };
  const text =
    response && !error.message.includes(response) ? `${error.message}: ${response}` : error.message;
  return code && !text.includes(code) ? `${code}: ${text}` : text;
};

export const sendEmail: ChannelSender<EmailChannel> = async ({
  channel,
  notice,
  message,
  timeoutMs,
  signal,
}) => {
  const nodemailer = await import('nodemailer');
  const mail = {
    from: channel.from,
    to: [...channel.to],
    subject: message.title,
    text: message.text,
    headers: {
      'Auto-Submitted': 'auto-generated',
      'X-Snapkeep-Event': message.kinds.join(', ') || notice.trigger,
      ...(notice.run ? { 'X-Snapkeep-Run': notice.run.id } : {}),
    },
  };
  const transport = channel.transport;
  if (transport.kind === 'sendmail') {
    const composed = await nodemailer
      .createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
      .sendMail(mail);
    const result = await runCommand({
      file: transport.path,
      args: ['-i', '-t'],
      input: (composed.message as Buffer).toString('utf8'),
      timeoutMs,
    });
    return result.exitCode === 0
      ? { ok: true, answer: `${transport.path} accepted it` }
      : {
          ok: false,
          error: `${transport.path} exited ${result.exitCode ?? result.signal ?? '?'}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}`,
        };
  }
  const smtp = nodemailer.createTransport(await smtpSettings(channel, timeoutMs));
  const abort = (): void => {
    smtp.close();
  };
  signal.addEventListener('abort', abort, { once: true });
  try {
    const info = await smtp.sendMail(mail);
    const rejected = info.rejected.map(String);
    return rejected.length > 0
      ? { ok: false, answer: info.response, error: `refused recipients: ${rejected.join(', ')}` }
      : ({ ok: true, answer: info.response } satisfies Delivery);
  } catch (error) {
    return { ok: false, error: messageOf(error) };
  } finally {
    signal.removeEventListener('abort', abort);
    smtp.close();
  }
};

/** Connect, upgrade and authenticate without sending (doctor notify). */
export async function verifySmtp(channel: EmailChannel, timeoutMs: number): Promise<Delivery> {
  const nodemailer = await import('nodemailer');
  const smtp = nodemailer.createTransport(await smtpSettings(channel, timeoutMs));
  try {
    await smtp.verify();
    return { ok: true, answer: 'connected, TLS and authentication accepted' };
  } catch (error) {
    return { ok: false, error: messageOf(error) };
  } finally {
    smtp.close();
  }
}
