// The pure parts of the target-side watch: what it watches and alerts from the configuration,
// the errors for what it cannot do, and watch.conf's quoting (read back by a real sh).
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { runCommand } from '../../../src/exec/command.js';
import {
  channelValues,
  installScript,
  parseInstallReport,
  planTargetWatch,
  shellQuote,
  watchConfig,
} from '../../../src/remote/target-watch.js';

const config = (extra = '', watch = '    watch:\n      notify: [phone, hook, hc]\n'): string => `
targets:
  offsite:
    path: ssh://backup@host.example:2222/mnt/backup/laptop
${watch}  usb:
    path: /mnt/usb
subvolumes:
  home:
    path: /home
    snapshot_name: home-btrbk
    targets: [offsite, usb]
  data:
    path: /data
    targets: [offsite]
notify:
  remind_every: 12h
  ntfy:
    phone:
      server: https://ntfy.example/
      topic: env:NTFY_TOPIC
      token: env:NTFY_TOKEN
  webhook:
    hook:
      url: env:HOOK_URL
      headers:
        Authorization: env:HOOK_AUTH
        X-Plain: visible
    templated:
      url: https://hooks.example/x
      template: { text: '{{title}}' }
  healthchecks:
    hc:
      url: file:/etc/snapkeep/hc-url
  email:
    mail:
      host: smtp.example
      from: a@example.com
      to: [b@example.com]
${extra}`;

const resolved = (text: string) => parseConfigText(text, '/etc/snapkeep/snapkeep.yaml').resolved;

describe('planTargetWatch', () => {
  it("watches every subvolume sent to the target by its snapshot name, alerting the target's watch.notify", () => {
    const plan = planTargetWatch(resolved(config()), 'offsite', {}, 'Europe/Berlin');
    expect(plan.devices).toEqual([
      { subvolume: 'home', directory: '/mnt/backup/laptop', name: 'home-btrbk' },
      { subvolume: 'data', directory: '/mnt/backup/laptop', name: 'data' },
    ]);
    expect(plan.channels.map((channel) => `${channel.type}:${channel.name}`)).toEqual([
      'ntfy:phone',
      'webhook:hook',
      'healthchecks:hc',
    ]);
    expect(plan.ssh.location).toEqual({ user: 'backup', host: 'host.example', port: 2222 });
    expect(plan.thresholdSeconds).toBe(26 * 3600);
    expect(plan.remindSeconds).toBe(12 * 3600);
    expect(plan.timeoutSeconds).toBe(10);
    expect(plan.minute).toBe(planTargetWatch(resolved(config()), 'offsite', {}, 'UTC').minute);
  });

  it('takes threshold and remind_every from watch:, and flags over both', () => {
    const text = config(
      '',
      '    watch:\n      notify: [hc]\n      threshold: 2d\n      remind_every: never\n',
    );
    expect(planTargetWatch(resolved(text), 'offsite', {}, 'UTC')).toMatchObject({
      thresholdSeconds: 2 * 86400,
      remindSeconds: 0,
    });
    const flagged = planTargetWatch(
      resolved(text),
      'offsite',
      { notify: ['phone'], threshold: '90min', remindEvery: '6h' },
      'UTC',
    );
    expect(flagged).toMatchObject({ thresholdSeconds: 5400, remindSeconds: 6 * 3600 });
    expect(flagged.channels.map((channel) => channel.name)).toEqual(['phone']);
  });

  it('says what is wrong, naming the key or flag', () => {
    const plain = resolved(config('', ''));
    const plan =
      (target: string, overrides = {}) =>
      () =>
        planTargetWatch(plain, target, overrides, 'UTC');
    expect(plan('nowhere')).toThrow('no subvolume sends to a target named "nowhere"');
    expect(plan('usb')).toThrow(
      /target usb is local \(\/mnt\/usb\): the target-side watch is for ssh:\/\/ targets/,
    );
    expect(plan('offsite')).toThrow(/expected targets\.offsite\.watch\.notify .* or --watch-notify NAME/);
    expect(plan('offsite', { notify: ['nope'] })).toThrow(
      /--watch-notify nope: unknown channel "nope"; expected one of phone, hook, templated, hc/,
    );
    expect(plan('offsite', { notify: ['mail'] })).toThrow(/mail is an e-mail channel; .* over HTTP only/);
    expect(plan('offsite', { notify: ['templated'] })).toThrow(/webhook templated has a template/);
    expect(plan('offsite', { notify: ['hc'], threshold: '26 hours please' })).toThrow(
      /--watch-threshold "26 hours please": .*expected a time span/,
    );
    expect(plan('offsite', { notify: ['hc'], threshold: '0s' })).toThrow(/is zero/);
  });

  it('the configuration refuses an unknown key under watch: with the key named', () => {
    expect(() => resolved(config('', '    watch:\n      notify: [hc]\n      threshhold: 2d\n'))).toThrow(
      /threshhold/,
    );
  });
});

describe('watch.conf', () => {
  const plan = planTargetWatch(resolved(config()), 'offsite', {}, 'Europe/Berlin');
  const secrets: Record<string, string> = {
    'phone.topic': 'topic-secret',
    'phone.token': "tk_it's",
    'hook.url': 'https://hooks.example/T0/$HOME/`id`',
    'hook.headers.Authorization': 'Bearer "quoted" \\ back',
    'hook.headers.X-Plain': 'visible',
    'hc.url': 'https://hc-ping.example/uuid',
  };
  const text = watchConfig(plan, (channel, key) => secrets[`${channel.name}.${key}`]!);

  it('sh reads every value back exactly, nothing expanded', async () => {
    const script = `
device() { printf 'device|%s|%s\\n' "$1" "$2"; }
ntfy() { printf 'ntfy'; for a in "$@"; do printf '|%s' "$a"; done; echo; }
webhook() { printf 'webhook'; for a in "$@"; do printf '|%s' "$a"; done; echo; }
healthchecks() { printf 'healthchecks|%s|%s\\n' "$1" "$2"; }
eval "$(cat)"
printf 'settings|%s|%s|%s|%s|%s\\n' "$target" "$threshold" "$remind" "$timeout" "$zone"`;
    const result = await runCommand({ file: 'sh', args: ['-c', script], input: text });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual([
      'device|/mnt/backup/laptop|home-btrbk',
      'device|/mnt/backup/laptop|data',
      "ntfy|phone|https://ntfy.example/topic-secret|tk_it's|4|3|hourglass|white_check_mark",
      'webhook|hook|https://hooks.example/T0/$HOME/`id`|POST|Authorization: Bearer "quoted" \\ back|X-Plain: visible',
      'healthchecks|hc|https://hc-ping.example/uuid',
      'settings|offsite|93600|43200|10|Europe/Berlin',
      '',
    ]);
  });

  it('masked for a dry run, it holds no secret; a line break in a value is refused without echoing it', () => {
    const masked = watchConfig(plan, (channel, key) =>
      /^(env|file):/.test(channelValues(channel)[key] ?? '') ? '***' : channelValues(channel)[key]!,
    );
    for (const secret of Object.values(secrets).filter((value) => value !== 'visible'))
      expect(masked).not.toContain(secret);
    expect(masked).toContain("'X-Plain: visible'");
    expect(() => watchConfig(plan, (channel, key) => (key === 'token' ? 'line\nbreak-secret' : 'x'))).toThrow(
      /^notify\.ntfy\.phone\.token holds a line break; expected a single-line value$/,
    );
  });

  it('the install script carries the files as quoted here-documents; its report is parsed', () => {
    const script = installScript(plan, text);
    expect(script).toContain("<<'SNAPKEEP_WATCH_CONFIG_END'\n# snapkeep target watch settings");
    expect(script).toContain(`line="${plan.minute} * * * * /bin/sh $dir/watch.sh"`);
    expect(
      parseInstallReport(
        'directory /h/.snapkeep-watch/offsite\nclient curl\ncrontab 7 * * * * x\ndevice a b\n',
      ),
    ).toEqual({
      fields: { directory: '/h/.snapkeep-watch/offsite', client: 'curl', crontab: '7 * * * * x' },
      devices: ['a b'],
      removed: [],
    });
  });

  it('shellQuote survives quotes', async () => {
    const value = `a'b"c $x \`y\` \\`;
    const result = await runCommand({ file: 'sh', args: ['-c', `printf '%s' ${shellQuote(value)}`] });
    expect(result.stdout).toBe(value);
  });
});
