// The notify: section as users write it: defaults made visible, and every mistake named with its
// key and what is expected — never echoing what may be a secret written in the clear.
import { describe, expect, it } from 'vitest';
import { ConfigError, formatConfigIssue, parseConfigText } from '../../../src/config/load-config.js';
import { secretReferencesOf } from '../../../src/config/secret-variables.js';
import { renderResolvedYaml } from '../../../src/cli/config-command.js';
import { scheduledJobs } from '../../../src/schedule/jobs.js';

const file = '/etc/snapkeep/notify.yaml';

function problems(text: string): string[] {
  try {
    parseConfigText(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => formatConfigIssue(issue));
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('notify: in the configuration', () => {
  it('resolves every channel with its defaults; the references are what the secrets are', () => {
    const { resolved, config } = parseConfigText(
      `schedules:
  nightly: { command: run, every: 1d }
notify:
  remind_every: never
  email:
    mail: { host: smtp.example.com, user: me, password: env:SMTP_PASSWORD, from: a@example.com, to: [b@example.com] }
    local: { sendmail: true, from: a@example.com, to: [root@localhost], events: [failure] }
  ntfy:
    phone: { topic: env:NTFY_TOPIC, priority: { stale: 2 } }
  webhook:
    hook: { url: env:HOOK_URL, headers: { Authorization: env:HOOK_AUTH, X-Source: snapkeep } }
  healthchecks:
    hc: { url: file:/etc/snapkeep/hc-url, schedules: [nightly] }
`,
      file,
    );
    const [mail, local, phone, hook, hc] = resolved.notify.channels;
    expect(mail).toMatchObject({
      type: 'email',
      transport: { kind: 'smtp', host: 'smtp.example.com', port: 587, security: 'starttls', user: 'me' },
    });
    expect(mail!.events).toEqual(expect.arrayContaining(['failure', 'recovered', 'stale']));
    expect(mail!.events).not.toContain('success');
    expect(local).toMatchObject({
      transport: { kind: 'sendmail', path: '/usr/sbin/sendmail' },
      events: ['failure'],
    });
    expect(phone).toMatchObject({ server: 'https://ntfy.sh', priority: { stale: 2, failure: 5 } });
    expect(hook).toMatchObject({ method: 'POST' });
    expect(hc).toMatchObject({
      schedules: ['nightly'],
      events: ['stale', 'drill-failed', 'target-full', 'lock-conflict'],
    });
    expect(resolved.notify).toMatchObject({ remindSeconds: 0, timeoutSeconds: 10, watchdog: 'hourly' });
    expect(secretReferencesOf(resolved)).toEqual([
      'env:SMTP_PASSWORD',
      'env:NTFY_TOPIC',
      'env:HOOK_URL',
      'env:HOOK_AUTH',
      'file:/etc/snapkeep/hc-url',
    ]);
    // The watchdog comes with the schedules.
    expect(scheduledJobs(config, file).map((job) => `${job.name}: ${job.args.join(' ')}`)).toEqual([
      `nightly: run --config ${file} --lock-wait 3600s`,
      `notify-watchdog: notify watchdog --config ${file}`,
    ]);
  });

  it('config show prints the section with every default marked, secrets as references', () => {
    const text = renderResolvedYaml(
      parseConfigText(
        `notify:
  email:
    mail: { host: smtp.example.com, security: tls, user: me, password: env:SMTP_PASSWORD, from: a@example.com, to: [b@example.com] }
  ntfy:
    one: { topic: a }
    two: { topic: b }
`,
        file,
      ),
    );
    expect(text).toContain('  remind_every: 24h # built-in default\n');
    expect(text).toContain('  timeout: 10s # built-in default\n');
    expect(text).toContain('      port: 465 # default for the security\n');
    expect(text).toContain('      password: env:SMTP_PASSWORD\n');
    expect(text).toContain('      server: https://ntfy.sh # built-in default\n');
    // Shared defaults are written out twice, not as YAML aliases (which the loader refuses).
    expect(text).not.toMatch(/[&*]a\d/);
    expect(parseConfigText(text, file).resolved.notify.channels).toHaveLength(3);
  });

  it('names each mistake with its key and what is expected', () => {
    const found = problems(`schedules:
  nightly: { command: run, every: 1d }
  watch: { command: watchdog, every: 1h, only: [home] }
notify:
  timeout: 5min
  email:
    mail: { host: smtp.example.com, sendmail: true, from: -oQ@example.com, to: [] }
    auth: { host: smtp.example.com, password: env:P, from: a@example.com, to: [b@example.com] }
  ntfy:
    mail: { topic: "has spaces" }
  webhook:
    hook: { url: "https://user:pw@example.com/x", template: { text: "{{titel}}" } }
  healthchecks:
    hc: { url: https://hc-ping.com/0d5f, schedules: [weekly] }
`);
    const expected = [
      /notify\.yaml:3:\d+: schedules\.watch\.only: "watchdog" watches every job .*expected no only:/,
      /notify\.timeout: is out of range \(got "5min"; expected 1s to 60s\)/,
      /notify\.email\.mail\.sendmail: host: and sendmail: both given .*expected one of them/,
      /notify\.email\.mail\.from: is not an e-mail address \(got "-oQ@example\.com"/,
      /notify\.email\.mail\.to: too small/,
      /notify\.email\.auth\.user: SMTP authentication needs both .*expected user: and password: together/,
      /notify\.ntfy\.mail\.topic: is not an ntfy topic/,
      /notify\.ntfy\.mail: "mail" is also the name of a channel under email:/,
      /notify\.webhook\.hook\.url: holds a user name or password/,
      /notify\.webhook\.hook\.template\.text: unknown placeholder \{\{titel\}\} .*expected one of \{\{title\}\}/,
      /notify\.healthchecks\.hc\.url: is not a secret reference \(got a value of 24 character\(s\), not shown/,
      /notify\.healthchecks\.hc\.schedules\[0\]: unknown schedule "weekly" .*expected one of the jobs under "schedules:": nightly, watch/,
    ];
    for (const pattern of expected)
      expect(
        found.some((line) => pattern.test(line)),
        `${pattern}\n${found.join('\n')}`,
      ).toBe(true);
    // A ping URL written in the clear is not echoed: it is the credential.
    expect(found.join('\n')).not.toContain('0d5f');
  });
});
