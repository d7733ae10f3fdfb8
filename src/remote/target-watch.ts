// The target-side watch (pure): what `snapkeep remote setup --watch TARGET` installs on an ssh://
// target so that the host itself alerts when a device stops sending — the case no watchdog on
// the sending machine can report (the machine is off, stolen, or its timers are gone).
//
// On the host, in the login user's home: ~/.snapkeep-watch/<target>/ with watch.sh (the POSIX sh
// check, share/snapkeep-target-watch.sh), watch.conf (mode 0600: devices, threshold, channels and
// their secrets) and state; one line in that user's crontab runs it hourly. Cron, not a systemd
// timer: a user crontab needs no root and works on every host with cron, while a user timer of a
// system account only fires with lingering enabled (root, loginctl enable-linger) and a system
// timer needs root; the check is one short process an hour, which cron does as well.
//
// Everything reaches the host on ssh's stdin (`sh -s` reads the install script, which writes the
// files from here-documents): no secret is in the argv of any process, here or there.
import { readFileSync } from 'node:fs';
import { parseTimeSpan, spanExpected } from '../calendar/time-span.js';
import type { ResolvedChannel, ResolvedConfig, ResolvedTarget } from '../config/resolve.js';
import type { SshSettings } from './ssh-host.js';

export interface WatchDevice {
  /** The subvolume (on this machine) whose copies these are. */
  readonly subvolume: string;
  /** The snapshot directory on the target. */
  readonly directory: string;
  /** The snapshots' base name: copies are `<name>.<timestamp>[_N]`. */
  readonly name: string;
}

/** A channel as the watch sends to it; values may still be secret references. */
export type WatchChannel =
  | {
      readonly type: 'ntfy';
      readonly name: string;
      readonly server: string;
      readonly topic: string;
      readonly token?: string;
      readonly priority: { readonly stale: number; readonly recovered: number };
      readonly tags: { readonly stale: readonly string[]; readonly recovered: readonly string[] };
    }
  | {
      readonly type: 'webhook';
      readonly name: string;
      readonly url: string;
      readonly method: string;
      readonly headers: Readonly<Record<string, string>>;
    }
  | { readonly type: 'healthchecks'; readonly name: string; readonly url: string };

export interface TargetWatchPlan {
  readonly target: string;
  readonly ssh: SshSettings;
  readonly devices: readonly WatchDevice[];
  readonly channels: readonly WatchChannel[];
  readonly thresholdSeconds: number;
  /** 0: never remind. */
  readonly remindSeconds: number;
  readonly timeoutSeconds: number;
  /** The sending machine's time zone: snapshot names without an offset are in it. */
  readonly zone: string;
  /** The crontab line runs at this minute of every hour (spread by the target's name). */
  readonly minute: number;
}

export interface WatchOverrides {
  /** --watch-notify: channels instead of the target's watch.notify. */
  readonly notify?: readonly string[];
  readonly threshold?: string;
  readonly remindEvery?: string;
}

export const defaultWatchThreshold = '26h';

/** Where the watch lives on the host, relative to the login user's home. */
export const watchDirectory = (target: string): string => `.snapkeep-watch/${target}`;

export function watchScript(): string {
  return readFileSync(new URL('../../share/snapkeep-target-watch.sh', import.meta.url), 'utf8');
}

function seconds(text: string, where: string): number {
  const parsed = parseTimeSpan(text);
  if (!parsed.ok)
    throw new Error(`${where} ${JSON.stringify(text)}: ${parsed.error}; expected ${spanExpected}`);
  if (parsed.seconds <= 0)
    throw new Error(`${where} ${JSON.stringify(text)} is zero; expected a time span above 0`);
  return parsed.seconds;
}

function watchChannel(channel: ResolvedChannel, where: string): WatchChannel {
  switch (channel.type) {
    case 'ntfy':
      return {
        type: 'ntfy',
        name: channel.name,
        server: channel.server.replace(/\/+$/, ''),
        topic: channel.topic,
        ...(channel.token === undefined ? {} : { token: channel.token }),
        priority: { stale: channel.priority.stale, recovered: channel.priority.recovered },
        tags: { stale: channel.tags.stale, recovered: channel.tags.recovered },
      };
    case 'webhook':
      if (channel.template !== undefined)
        throw new Error(
          `${where}: webhook ${channel.name} has a template; the target-side watch sends only its own JSON (snapkeep-target-watch/1): expected a webhook without template:`,
        );
      return {
        type: 'webhook',
        name: channel.name,
        url: channel.url,
        method: channel.method,
        headers: channel.headers,
      };
    case 'healthchecks':
      return { type: 'healthchecks', name: channel.name, url: channel.url };
    case 'email':
      throw new Error(
        `${where}: ${channel.name} is an e-mail channel; the target-side watch sends over HTTP only: expected an ntfy, webhook or healthchecks channel`,
      );
  }
}

/** A small stable spread of the minute, so that targets' watches do not all start at :00. */
function minuteOf(target: string): number {
  let hash = 0;
  for (const character of target) hash = (hash * 31 + character.charCodeAt(0)) % 9973;
  return hash % 60;
}

/** The ssh:// target `targetName` and every subvolume sent there (its devices). */
export function findWatchTarget(
  resolved: ResolvedConfig,
  targetName: string,
): { readonly target: ResolvedTarget; readonly ssh: SshSettings; readonly devices: readonly WatchDevice[] } {
  const sent = resolved.subvolumes.flatMap((subvolume) =>
    subvolume.targets.filter((target) => target.name === targetName).map((target) => ({ subvolume, target })),
  );
  const first = sent[0]?.target;
  if (!first) throw new Error(`no subvolume sends to a target named "${targetName}"`);
  if (!first.ssh)
    throw new Error(
      `target ${targetName} is local (${first.path}): the target-side watch is for ssh:// targets (snapkeep check watches local ones)`,
    );
  const devices = sent.map(({ subvolume, target }) => ({
    subvolume: subvolume.name,
    directory: target.path,
    name: subvolume.snapshotName,
  }));
  return { target: first, ssh: first.ssh, devices };
}

/**
 * What to install for `targetName`: the devices (every subvolume sent there, by its snapshot
 * name), the channels (the target's `watch.notify`, or `--watch-notify`) and the timings. Throws
 * an Error whose message names the key or flag and what was expected.
 */
export function planTargetWatch(
  resolved: ResolvedConfig,
  targetName: string,
  overrides: WatchOverrides,
  zone: string,
): TargetWatchPlan {
  const { target: first, ssh, devices } = findWatchTarget(resolved, targetName);
  const watch = first.watch;
  const key = `targets.${targetName}.watch`;
  const names = overrides.notify?.length ? overrides.notify : (watch?.notify ?? []);
  const channelsWhere = overrides.notify?.length ? '--watch-notify' : `${key}.notify`;
  if (names.length === 0)
    throw new Error(
      `no channel to alert: expected ${key}.notify in the configuration (names of ntfy, webhook or healthchecks channels under notify:) or --watch-notify NAME`,
    );
  const channels = names.map((name, index) => {
    const channel = resolved.notify.channels.find((candidate) => candidate.name === name);
    const where =
      channelsWhere === '--watch-notify' ? `--watch-notify ${name}` : `${channelsWhere}[${index}]`;
    if (!channel) {
      const known = resolved.notify.channels.filter((candidate) => candidate.type !== 'email');
      throw new Error(
        `${where}: unknown channel "${name}"; expected ${known.length ? `one of ${known.map((candidate) => candidate.name).join(', ')}` : 'a channel defined under notify: (ntfy, webhook or healthchecks; none are defined)'}`,
      );
    }
    return watchChannel(channel, where);
  });
  const thresholdSeconds = seconds(
    overrides.threshold ?? watch?.threshold ?? defaultWatchThreshold,
    overrides.threshold ? '--watch-threshold' : `${key}.threshold`,
  );
  const remind = overrides.remindEvery ?? watch?.remind_every;
  const remindSeconds =
    remind === undefined
      ? resolved.notify.remindSeconds
      : remind === 'never'
        ? 0
        : seconds(remind, overrides.remindEvery ? '--watch-remind' : `${key}.remind_every`);
  if (!/^[A-Za-z0-9_+/-]+$/.test(zone))
    throw new Error(`time zone ${JSON.stringify(zone)} is not a zone name`);
  return {
    target: targetName,
    ssh,
    devices,
    channels,
    thresholdSeconds,
    remindSeconds,
    timeoutSeconds: resolved.notify.timeoutSeconds,
    zone,
    minute: minuteOf(targetName),
  };
}

/** The values of a channel that may be secret references, by config key (for resolution). */
export function channelValues(channel: WatchChannel): Record<string, string> {
  switch (channel.type) {
    case 'ntfy':
      return { topic: channel.topic, ...(channel.token === undefined ? {} : { token: channel.token }) };
    case 'webhook':
      return {
        url: channel.url,
        ...Object.fromEntries(
          Object.entries(channel.headers).map(([name, value]) => [`headers.${name}`, value]),
        ),
      };
    case 'healthchecks':
      return { url: channel.url };
  }
}

/** sh single quotes: the value as one word, nothing in it expanded. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/**
 * watch.conf: settings, one `device DIR NAME` line per device and one line per channel, with
 * `value(channel, key)` giving each value that may be a secret (resolved, or masked for a dry
 * run). Values are single-quoted; a value with a line break is refused (curl's config and the
 * headers are one line each), without echoing it.
 */
export function watchConfig(
  plan: TargetWatchPlan,
  value: (channel: WatchChannel, key: string) => string,
): string {
  const word = (text: string, where: string): string => {
    if (/[\r\n]/.test(text)) throw new Error(`${where} holds a line break; expected a single-line value`);
    return shellQuote(text);
  };
  const lines = [
    '# snapkeep target watch settings, written by `snapkeep remote setup --watch`; run that again',
    "# to change them (this file holds the channels' secrets: keep it 0600).",
    `target=${shellQuote(plan.target)}`,
    `threshold=${plan.thresholdSeconds}`,
    `remind=${plan.remindSeconds}`,
    `timeout=${plan.timeoutSeconds}`,
    `zone=${shellQuote(plan.zone)}`,
    ...plan.devices.map((device) => `device ${shellQuote(device.directory)} ${shellQuote(device.name)}`),
  ];
  for (const channel of plan.channels) {
    const where = (key: string): string => `notify.${channel.type}.${channel.name}.${key}`;
    const secret = (key: string): string => word(value(channel, key), where(key));
    if (channel.type === 'ntfy') {
      lines.push(
        [
          'ntfy',
          shellQuote(channel.name),
          word(`${channel.server}/${value(channel, 'topic')}`, where('topic')),
          channel.token === undefined ? "''" : secret('token'),
          String(channel.priority.stale),
          String(channel.priority.recovered),
          shellQuote(channel.tags.stale.join(',')),
          shellQuote(channel.tags.recovered.join(',')),
        ].join(' '),
      );
    } else if (channel.type === 'webhook') {
      lines.push(
        [
          'webhook',
          shellQuote(channel.name),
          secret('url'),
          shellQuote(channel.method),
          ...Object.keys(channel.headers).map((name) =>
            word(`${name}: ${value(channel, `headers.${name}`)}`, where(`headers.${name}`)),
          ),
        ].join(' '),
      );
    } else {
      lines.push(['healthchecks', shellQuote(channel.name), secret('url')].join(' '));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The crontab line, once `directory` (absolute, on the host) is known there. */
export const crontabCommand = (directory: string): string => `/bin/sh ${directory}/watch.sh`;

const scriptEnd = 'SNAPKEEP_WATCH_SCRIPT_END';
const configEnd = 'SNAPKEEP_WATCH_CONFIG_END';

/** Shared by install and removal: the directory, checked to be safe in a crontab line. */
function directoryPrologue(target: string): string {
  return [
    'set -eu',
    'umask 077',
    `dir="$HOME/${watchDirectory(target)}"`,
    'case $dir in',
    '  /*) ;;',
    '  *) echo "snapkeep: HOME is not an absolute path ($HOME)" >&2; exit 3 ;;',
    'esac',
    'case $dir in',
    '  *[!A-Za-z0-9._/-]*) echo "snapkeep: $dir has characters a crontab line cannot carry unquoted" >&2; exit 3 ;;',
    'esac',
    "command -v crontab >/dev/null 2>&1 || { echo 'snapkeep: this host has no crontab command; install cron (apt-get install cron)' >&2; exit 3; }",
    // Our lines are the ones naming our script; every other line of the crontab stays as it is.
    'others() { crontab -l 2>/dev/null | grep -v -F -e "$dir/watch.sh" || true; }',
  ].join('\n');
}

/**
 * The script `sh -s` runs on the host (from ssh's stdin): checks curl or GNU wget, writes
 * watch.sh (0700) and watch.conf (0600) through temporary names, replaces its crontab line
 * (keeping every other line) and reports each device as the host sees it, without sending.
 */
export function installScript(plan: TargetWatchPlan, config: string): string {
  const script = watchScript();
  for (const text of [script, config])
    if (text.split('\n').some((line) => line === scriptEnd || line === configEnd))
      throw new Error('the watch files contain a here-document delimiter');
  const comment = `# snapkeep target watch of ${plan.target} (snapkeep remote setup --unwatch ${plan.target} removes it): $dir/watch.sh`;
  return [
    directoryPrologue(plan.target),
    'if command -v curl >/dev/null 2>&1; then client=curl',
    "elif command -v wget >/dev/null 2>&1 && wget --version 2>/dev/null | grep -q 'GNU Wget'; then client=wget",
    "else echo 'snapkeep: this host has neither curl nor GNU wget; install one (apt-get install curl)' >&2; exit 3",
    'fi',
    'mkdir -p "$dir"',
    `cat >"$dir/watch.sh.new" <<'${scriptEnd}'`,
    script.replace(/\n$/, ''),
    scriptEnd,
    `cat >"$dir/watch.conf.new" <<'${configEnd}'`,
    config.replace(/\n$/, ''),
    configEnd,
    'chmod 700 "$dir/watch.sh.new"',
    'chmod 600 "$dir/watch.conf.new"',
    'mv "$dir/watch.sh.new" "$dir/watch.sh"',
    'mv "$dir/watch.conf.new" "$dir/watch.conf"',
    `line="${plan.minute} * * * * ${crontabCommand('$dir')}"`,
    `{ others; printf '%s\\n' "${comment}" "$line"; } | crontab -`,
    'printf \'directory %s\\nclient %s\\ncrontab %s\\n\' "$dir" "$client" "$line"',
    'SNAPKEEP_WATCH_REPORT_ONLY=1 /bin/sh "$dir/watch.sh" | sed \'s/^/device /\'',
    '',
  ].join('\n');
}

/** Removes the crontab line, the script, its settings and its state; nothing else. */
export function uninstallScript(target: string): string {
  return [
    directoryPrologue(target),
    'before=$(crontab -l 2>/dev/null | grep -c -F -e "$dir/watch.sh" || true)',
    'if [ "$before" -gt 0 ]; then others | crontab -; fi',
    'for file in watch.sh watch.conf state last-run watch.sh.new watch.conf.new; do',
    '  if [ -e "$dir/$file" ]; then rm -f "$dir/$file"; printf \'removed %s\\n\' "$dir/$file"; fi',
    'done',
    'rmdir "$dir" 2>/dev/null || true',
    'rmdir "$HOME/.snapkeep-watch" 2>/dev/null || true',
    'printf \'directory %s\\ncrontab-lines %s\\n\' "$dir" "$before"',
    '',
  ].join('\n');
}

/** What the install and removal scripts printed: `key value` lines (`device`, `removed` repeat). */
export function parseInstallReport(stdout: string): {
  readonly fields: Readonly<Record<string, string>>;
  readonly devices: readonly string[];
  readonly removed: readonly string[];
} {
  const fields: Record<string, string> = {};
  const devices: string[] = [];
  const removed: string[] = [];
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    const rest = line.slice(space + 1);
    if (key === 'device') devices.push(rest);
    else if (key === 'removed') removed.push(rest);
    else fields[key] = rest;
  }
  return { fields, devices, removed };
}
