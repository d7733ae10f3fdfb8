// The other ends of notifications, real and on 127.0.0.1: an SMTP server (the smtp-server
// package: STARTTLS with a certificate made by openssl, authentication that can refuse), an HTTP
// receiver that answers as told (200, 500, never), a listener that accepts and never speaks, and
// the messages parsed by Python's email package (an independent MIME reader).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { runChecked } from '../../src/exec/command.js';
import type { Cleanups } from './cleanups.js';
import { listenOnLoopback, loopback } from './net.js';

export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly raw: string;
}

export interface SmtpReceiver {
  readonly port: number;
  readonly mails: ReceivedMail[];
  /** Authentication attempts: the user names tried. */
  readonly logins: string[];
  /** Whether each mail came over TLS (STARTTLS). */
  readonly secured: boolean[];
}

export interface SmtpOptions {
  /** Offer STARTTLS with this key and certificate (PEM). */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Require AUTH and accept only these. */
  readonly auth?: { readonly user: string; readonly pass: string };
}

export async function startSmtp(cleanups: Cleanups, options: SmtpOptions = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const logins: string[] = [];
  const secured: boolean[] = [];
  const server = new SMTPServer({
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    authOptional: options.auth === undefined,
    // AUTH over a plain connection only when there is no TLS to upgrade to.
    allowInsecureAuth: options.tls === undefined,
    logger: false,
    onAuth(auth, _session, callback) {
      logins.push(auth.username ?? '');
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass)
        callback(null, { user: auth.username });
      else callback(new Error('535 5.7.8 Authentication credentials invalid'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((address) => address.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        secured.push(session.secure);
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, loopback, () => {
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve(undefined);
        });
      }),
  );
  return { port, mails, logins, secured };
}

export interface ParsedMail {
  readonly subject: string;
  readonly from: string;
  readonly to: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Python's email package reads the message: headers decoded, the text body decoded. */
export async function parseMail(raw: string): Promise<ParsedMail> {
  const script = `
import email, email.policy, json, sys
message = email.message_from_string(sys.stdin.read(), policy=email.policy.default)
print(json.dumps({
  "subject": str(message["subject"]), "from": str(message["from"]), "to": str(message["to"]),
  "headers": {key: str(value) for key, value in message.items()},
  "body": message.get_body(preferencelist=("plain",)).get_content(),
}))`;
  const result = await runChecked({ file: 'python3', args: ['-c', script], input: raw });
  return JSON.parse(result.stdout) as ParsedMail;
}

export interface HttpRequestSeen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type Answer = { readonly status: number; readonly body?: string } | 'never';

export interface HttpReceiver {
  readonly port: number;
  readonly url: string;
  readonly requests: HttpRequestSeen[];
  /** How the next requests are answered (default 200 "OK"). */
  answer: (request: HttpRequestSeen) => Answer;
}

export async function startHttpReceiver(cleanups: Cleanups): Promise<HttpReceiver> {
  const requests: HttpRequestSeen[] = [];
  const hanging = new Set<Socket>();
  const receiver: { answer: HttpReceiver['answer'] } = { answer: () => ({ status: 200, body: 'OK' }) };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const seen: HttpRequestSeen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      const answer = receiver.answer(seen);
      if (answer === 'never') {
        hanging.add(request.socket);
        return;
      }
      response.statusCode = answer.status;
      response.end(answer.body ?? '');
    });
  });
  const port = await listenOnLoopback(server);
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const socket of hanging) socket.destroy();
        server.closeAllConnections();
        server.close(() => {
          resolve(undefined);
        });
      }),
  );
  return Object.assign(receiver, { port, url: `http://${loopback}:${port}`, requests });
}

/** Accepts connections and never says a word (a host whose service hangs). */
export async function hangingListener(
  cleanups: Cleanups,
): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createNetServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  const port = await listenOnLoopback(server);
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve(undefined);
        });
      }),
  );
  return { port, connections: () => count };
}
