// Each channel against a real receiver on 127.0.0.1: e-mail over STARTTLS with a certificate made
// here (subject, recipients, body, headers), through a stand-in sendmail (its argv and environment
// recorded), a webhook with a template, ntfy with a secret topic. Then the failures a channel can
// have — the SMTP server refuses the password, nothing listens, HTTP 500, a receiver that never
// answers — during a scheduled run that succeeds anyway: each failure is journaled, shown by
// status and doctor, and no secret appears in any output, journal line, argv or environment.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { diskWorld } from '../helpers/disk-world.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { freePort } from '../helpers/net.js';
import { parseMail, startHttpReceiver, startSmtp } from '../helpers/notify-receivers.js';
import { selfSignedCertificate } from '../helpers/tls.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'openssl', 'python3']);
});

const secrets = {
  password: 'wrong-Secret-pw-7',
  goodPassword: 'right-Secret-pw-3',
  token: 'tk-Secret-ntfy-55',
  topic: 'topic-Secret-x81',
  chat: 'chat-Secret-hook-12',
};

async function journalLines(stateDir: string): Promise<Record<string, unknown>[]> {
  return (await readFile(join(stateDir, 'journal.ndjson'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('notification channels', () => {
  it('e-mail over STARTTLS with a self-signed certificate and authentication: what arrives', async () => {
    const base = await cleanups.tempDir('notify-starttls');
    const certificate = await selfSignedCertificate(base);
    const smtp = await startSmtp(cleanups, {
      tls: certificate,
      auth: { user: 'backup', pass: secrets.goodPassword },
    });
    const configPath = join(base, 'snapkeep.yaml');
    await writeFile(
      configPath,
      `state_dir: ${join(base, 'state')}
notify:
  email:
    mail:
      host: 127.0.0.1
      port: ${smtp.port}
      security: starttls
      ca_file: ${certificate.certFile}
      user: backup
      password: env:SMTP_PASSWORD
      from: snapkeep@example.com
      to: [ops@example.com]
`,
    );
    const result = await snapkeep(['notify', 'test', '--config', configPath, '--json'], {
      env: { SMTP_PASSWORD: secrets.goodPassword },
    });
    expectExit(result, 0);
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.secured).toEqual([true]);
    expect(smtp.logins).toEqual(['backup']);
    expect(smtp.mails[0]!.to).toEqual(['ops@example.com']);
    const mail = await parseMail(smtp.mails[0]!.raw);
    expect(mail.subject).toMatch(/^\[snapkeep .+\] test message$/);
    expect(mail.from).toBe('snapkeep@example.com');
    expect(mail.headers['Auto-Submitted']).toBe('auto-generated');
    expect(mail.body).toContain('snapkeep notify test. Nothing is wrong.');
    const [sent] = events(result.stdout).filter((event) => event.type === 'notification');
    expect(sent).toMatchObject({ channel: 'mail', channelType: 'email', ok: true, trigger: 'test' });
    expect(String(sent!.answer)).toMatch(/^250 /);
    expect(result.stdout).not.toContain(secrets.goodPassword);

    // Without the CA the certificate is not trusted: refused, said so, nothing sent.
    await writeFile(configPath, (await readFile(configPath, 'utf8')).replace(/ {6}ca_file: .*\n/, ''));
    const untrusted = await snapkeep(['notify', 'test', '--config', configPath], {
      env: { SMTP_PASSWORD: secrets.goodPassword },
    });
    expectExit(untrusted, 3);
    expect(untrusted.stderr).toMatch(/notify mail \(email\) failed: .*(self.signed|certificate)/i);
    expect(smtp.mails).toHaveLength(1);
  });

  it('a scheduled run succeeds whatever its channels do; each failure is journaled, in status and doctor', async () => {
    const world = await diskWorld(cleanups, 'notifych', 256);
    const certificate = await selfSignedCertificate(world.base);
    const smtp = await startSmtp(cleanups, {
      tls: certificate,
      auth: { user: 'backup', pass: secrets.goodPassword },
    });
    const closed = await freePort();
    const web = await startHttpReceiver(cleanups);
    web.answer = (request) =>
      request.url === '/broken'
        ? { status: 500, body: 'internal trouble' }
        : request.url === '/silent'
          ? 'never'
          : { status: 200 };
    // A stand-in sendmail: records its argv, its environment and the message.
    const sendmail = join(world.base, 'sendmail');
    await writeFile(
      sendmail,
      `#!/bin/sh\nprintf '%s\\n' "$@" > ${world.base}/sendmail.argv\nenv > ${world.base}/sendmail.env\ncat > ${world.base}/sendmail.message\n`,
    );
    await chmod(sendmail, 0o755);
    await writeFile(
      world.configPath,
      `${await readFile(world.configPath, 'utf8')}schedules:
  nightly: { command: run, when: daily }
notify:
  events: [success, failure]
  timeout: 2s
  email:
    denied:
      host: 127.0.0.1
      port: ${smtp.port}
      ca_file: ${certificate.certFile}
      user: backup
      password: env:SMTP_PASSWORD
      from: snapkeep@example.com
      to: [ops@example.com]
    closed: { host: 127.0.0.1, port: ${closed}, security: none, from: snapkeep@example.com, to: [ops@example.com] }
    local: { sendmail: ${sendmail}, from: snapkeep@example.com, to: [root@localhost] }
  webhook:
    broken: { url: "${web.url}/broken" }
    silent: { url: "${web.url}/silent" }
    chat:
      url: env:CHAT_URL
      template: { text: "{{title}}", kinds: "{{kinds}}" }
  ntfy:
    phone: { server: "${web.url}", topic: env:NTFY_TOPIC, token: env:NTFY_TOKEN }
`,
    );
    const env = {
      SNAPKEEP_JOB: 'nightly',
      SMTP_PASSWORD: secrets.password,
      NTFY_TOKEN: secrets.token,
      NTFY_TOPIC: secrets.topic,
      CHAT_URL: `${web.url}/chat/${secrets.chat}`,
    };
    const run = await snapkeep(['run', '--config', world.configPath], { env });
    expectExit(run, 0);
    expect(smtp.mails).toHaveLength(0);
    const sent = new Map(
      (await journalLines(world.stateDir))
        .filter((line) => line.event === 'notification')
        .map((line) => [line.channel, line]),
    );
    expect(sent.get('denied')).toMatchObject({ ok: false, kinds: ['success'] });
    expect(String(sent.get('denied')!.error)).toMatch(/535|EAUTH/);
    expect(sent.get('closed')).toMatchObject({ ok: false });
    expect(String(sent.get('closed')!.error)).toContain('ECONNREFUSED');
    expect(sent.get('broken')).toMatchObject({
      ok: false,
      error: 'HTTP 500 Internal Server Error: internal trouble',
    });
    expect(sent.get('silent')).toMatchObject({ ok: false, error: 'no answer within 2 s' });
    expect(sent.get('local')).toMatchObject({ ok: true });
    expect(sent.get('chat')).toMatchObject({ ok: true });
    expect(sent.get('phone')).toMatchObject({ ok: true });
    expect(run.stderr).toMatch(/notify silent \(webhook\) failed: no answer within 2 s \(journaled/);

    // What the receivers got: the template filled in, ntfy's publish with the secret topic.
    const chat = web.requests.find((request) => request.url.startsWith('/chat/'))!;
    const filled = JSON.parse(chat.body) as Record<string, unknown>;
    expect(Object.keys(filled).sort()).toEqual(['kinds', 'text']);
    expect(filled.kinds).toBe('success');
    expect(String(filled.text)).toMatch(/^\[snapkeep .+\] OK scheduled job nightly/);
    const phone = web.requests.find((request) => request.url === '/')!;
    expect(JSON.parse(phone.body)).toMatchObject({ topic: secrets.topic, priority: 2 });
    const sendmailArgv = (await readFile(join(world.base, 'sendmail.argv'), 'utf8')).trim().split('\n');
    expect(sendmailArgv).toEqual(['-i', '-t']);
    const message = await parseMail(await readFile(join(world.base, 'sendmail.message'), 'utf8'));
    expect(message.to).toBe('root@localhost');
    expect(message.subject).toMatch(/OK scheduled job nightly \(snapkeep run\)$/);
    const childEnvironment = await readFile(join(world.base, 'sendmail.env'), 'utf8');
    for (const secret of Object.values(secrets)) expect(childEnvironment).not.toContain(secret);

    // status: the jobs are fine (exit 0); the failing channels are shown.
    const status = await snapkeep(['status', '--config', world.configPath], { env });
    expectExit(status, 0);
    for (const name of ['denied', 'closed', 'broken', 'silent'])
      expect(status.stdout).toMatch(
        new RegExp(`^notify ${name} \\((email|webhook)\\): the last message \\(.+\\) failed: `, 'm'),
      );
    expect(status.stdout).not.toMatch(/^notify (local|chat|phone) /m);
    const statusJson = events(
      (await snapkeep(['status', '--json', '--config', world.configPath], { env })).stdout,
    );
    const channels = new Map(
      statusJson.filter((event) => event.type === 'channel-status').map((event) => [event.channel, event]),
    );
    expect(channels.get('silent')).toMatchObject({ channelType: 'webhook', failing: true });
    expect(channels.get('phone')).toMatchObject({ channelType: 'ntfy', failing: false });

    // doctor notify: the password refused, nothing listening; the webhooks' hosts answer but
    // their last message failed.
    const doctor = await snapkeep(['doctor', 'notify', '--json', '--config', world.configPath], { env });
    expectExit(doctor, 3);
    const checks = events(doctor.stdout).filter((event) => event.type === 'check');
    const check = (subject: string, id: string): Record<string, unknown> | undefined =>
      checks.find((entry) => entry.subject === subject && entry.check === id);
    expect(check('denied', 'credentials')).toMatchObject({ status: 'ok' });
    expect(check('denied', 'reach')).toMatchObject({
      status: 'fail',
      cause: 'the server refused the user name or password',
    });
    expect(check('closed', 'reach')).toMatchObject({ status: 'fail' });
    expect(String(check('closed', 'reach')!.cause)).toContain('nothing listens');
    expect(check('silent', 'reach')).toMatchObject({ status: 'ok' });
    expect(check('silent', 'last-message')).toMatchObject({ status: 'warn' });
    expect(check('local', 'reach')).toMatchObject({ status: 'ok' });
    expect(checks.find((entry) => entry.check === 'watchdog')).toMatchObject({ status: 'ok' });
    const missing = await snapkeep(['doctor', 'notify', '--json', '--config', world.configPath], {
      env: { ...env, NTFY_TOKEN: '' },
    });
    expect(
      events(missing.stdout).find((entry) => entry.subject === 'phone' && entry.check === 'credentials'),
    ).toMatchObject({ status: 'fail' });

    // No secret anywhere: outputs, the journal, the notification state.
    const written = [
      run.stdout,
      run.stderr,
      status.stdout,
      doctor.stdout,
      doctor.stderr,
      missing.stdout,
      await readFile(join(world.stateDir, 'journal.ndjson'), 'utf8'),
      await readFile(join(world.stateDir, 'notify-state.json'), 'utf8').catch(() => ''),
    ].join('\n');
    for (const secret of Object.values(secrets)) expect(written).not.toContain(secret);
    // Nor the password as SMTP's AUTH PLAIN carries it.
    expect(written).not.toContain(Buffer.from(`\u0000backup\u0000${secrets.password}`).toString('base64'));
  });
});
