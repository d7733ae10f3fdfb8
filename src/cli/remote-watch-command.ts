// `snapkeep remote setup --watch TARGET` / `--unwatch TARGET`: install (or remove) the
// target-side watch on an ssh:// target (remote/target-watch.ts). It logs in with the target's
// ssh settings and --identity: the target's own key runs only the filter, which by design
// installs nothing, so the login needs a key of the same user that may run commands.
import { access, constants } from 'node:fs/promises';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode, SnapkeepError, UsageError, messageOfPathError } from '../errors.js';
import { valueOf } from '../notify/channel.js';
import { SshHost, type SshSettings } from '../remote/ssh-host.js';
import {
  channelValues,
  findWatchTarget,
  crontabCommand,
  installScript,
  parseInstallReport,
  planTargetWatch,
  uninstallScript,
  watchConfig,
  watchDirectory,
  type TargetWatchPlan,
  type WatchChannel,
} from '../remote/target-watch.js';
import { formatTimeSpan } from '../calendar/time-span.js';
import { createOutput } from './output.js';
import { createPrinter, type TextLine } from './printer.js';

export interface RemoteWatchOptions {
  readonly config?: string;
  readonly target: string;
  readonly remove: boolean;
  /** Both given, or host-side flags (--root, --install, --public-key) with them: a usage error. */
  readonly watch?: string;
  readonly unwatch?: string;
  readonly hostOptions: boolean;
  readonly notify: readonly string[];
  readonly threshold?: string;
  readonly remindEvery?: string;
  /** A key of the target's user that may run commands (not the filter's key). */
  readonly identity?: string;
  readonly dryRun: boolean;
  readonly json: boolean;
}

export type WatchEvent =
  | {
      readonly type: 'watch-plan';
      readonly target: string;
      readonly host: string;
      readonly dryRun: boolean;
      readonly devices: readonly { subvolume: string; directory: string; name: string }[];
      readonly channels: readonly { name: string; type: string }[];
      readonly thresholdSeconds: number;
      readonly remindSeconds: number;
      readonly directory: string;
      readonly crontab: string;
      /** watch.conf as it would be written, every secret as ***. */
      readonly config: string;
    }
  | {
      readonly type: 'watch-installed';
      readonly target: string;
      readonly host: string;
      readonly directory: string;
      readonly client: string;
      readonly crontab: string;
      /** Each device's newest copy as the host sees it now. */
      readonly devices: readonly string[];
    }
  | {
      readonly type: 'watch-unplanned';
      readonly target: string;
      readonly host: string;
      readonly directory: string;
    }
  | {
      readonly type: 'watch-removed';
      readonly target: string;
      readonly host: string;
      readonly directory: string;
      readonly crontabLines: number;
      readonly files: readonly string[];
    };

function watchText(event: WatchEvent): readonly TextLine[] {
  switch (event.type) {
    case 'watch-plan':
      return [
        `${event.dryRun ? 'would install' : 'installing'} the target-side watch of ${event.target} on ${event.host}:`,
        ...event.devices.map(
          (device) => `  device ${device.subvolume}: ${device.directory}/${device.name}.<timestamp>`,
        ),
        `  stale after ${formatTimeSpan(event.thresholdSeconds)} without a new copy; reminders ${event.remindSeconds ? `every ${formatTimeSpan(event.remindSeconds)}` : 'never'}`,
        `  alerts ${event.channels.map((channel) => `${channel.name} (${channel.type})`).join(', ')}`,
        `  files ${event.directory}/watch.sh, watch.conf (0600), state`,
        `  crontab ${event.crontab}`,
        ...(event.dryRun
          ? [
              'watch.conf (secrets masked):',
              ...event.config
                .replace(/\n$/, '')
                .split('\n')
                .map((line) => `  ${line}`),
            ]
          : []),
      ];
    case 'watch-installed':
      return [
        `installed in ${event.directory} (sends with ${event.client}); crontab: ${event.crontab}`,
        ...event.devices.map((device) => `  ${device}`),
      ];
    case 'watch-unplanned':
      return [
        `would remove the target-side watch of ${event.target} from ${event.host}: ${event.directory} and its crontab line`,
      ];
    case 'watch-removed':
      return [
        event.files.length || event.crontabLines
          ? `removed the target-side watch of ${event.target} from ${event.host}: ${event.crontabLines} crontab line(s), ${event.files.length} file(s)`
          : `no target-side watch of ${event.target} on ${event.host}: nothing to remove`,
      ];
  }
}

function sshSettingsOf(ssh: SshSettings, identity: string | undefined): SshSettings {
  // The commands it runs are its own (sh, crontab): never through sudo.
  return { ...ssh, ...(identity ? { identityFile: identity } : {}), sudo: false };
}

const hostLabel = (ssh: SshSettings): string =>
  `${ssh.location.user}@${ssh.location.host}${ssh.location.port ? `:${ssh.location.port}` : ''}`;

/** The channels' secret values, resolved here (and masked from now on in every message). */
async function resolvedValues(plan: TargetWatchPlan): Promise<Map<WatchChannel, Record<string, string>>> {
  const values = new Map<WatchChannel, Record<string, string>>();
  for (const channel of plan.channels) {
    const resolved: Record<string, string> = {};
    for (const [key, value] of Object.entries(channelValues(channel)))
      resolved[key] = await valueOf(value, `notify.${channel.type}.${channel.name}.${key}`);
    values.set(channel, resolved);
  }
  return values;
}

const masked = (channel: WatchChannel, key: string): string => {
  const value = channelValues(channel)[key] ?? '';
  // A plain value (an ntfy topic on your own server, a header without a secret) is shown.
  return /^(env:|file:\/|op:\/\/)/.test(value) ? '***' : value;
};

async function runOnHost(ssh: SshSettings, script: string, what: string): Promise<string> {
  const host = new SshHost(ssh);
  try {
    const result = await host.run({ file: 'sh', args: ['-s'], input: script });
    if (result.exitCode === 0) return result.stdout;
    const detail = result.stderr.trim().split('\n').slice(-3).join(' | ');
    if (result.exitCode === 126 && /snapkeep-target-filter|rejected|refus/i.test(result.stderr))
      throw new UsageError(
        `${what} on ${host.label}: the key logged in is confined to snapkeep's target filter, which installs nothing by design; give --identity FILE, a key of ${ssh.location.user} there that may run commands (${detail})`,
      );
    throw new UsageError(`${what} on ${host.label} failed (exit ${result.exitCode}): ${detail}`);
  } finally {
    await host.close();
  }
}

export async function runRemoteWatch(options: RemoteWatchOptions): Promise<number> {
  const output = createOutput(options.json);
  const print = createPrinter<WatchEvent>(output, watchText);
  if (options.watch !== undefined && options.unwatch !== undefined)
    throw new UsageError('--watch and --unwatch exclude each other; expected one of them');
  if (options.hostOptions)
    throw new UsageError(
      '--watch/--unwatch run on the client and take a target from the configuration; --root, --public-key and --install are for the host side (run remote setup without --watch for those)',
    );
  const { resolved } = await loadResolvedConfig(options.config);
  // Names without an offset are in this machine's zone (TZ included): the watch reads them so.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const found = (() => {
    try {
      return findWatchTarget(resolved, options.target);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  if (options.identity !== undefined) {
    try {
      await access(options.identity, constants.R_OK);
    } catch (error) {
      throw new UsageError(`--identity ${options.identity}: ${messageOfPathError(error, options.identity)}`);
    }
  }
  const ssh = sshSettingsOf(found.ssh, options.identity);
  const host = hostLabel(ssh);
  const directory = `~/${watchDirectory(options.target)}`;
  if (options.remove) {
    // Only the host is needed: a config whose watch: settings are gone may still remove it.
    if (options.dryRun) {
      print({ type: 'watch-unplanned', target: options.target, host, directory });
      return ExitCode.ok;
    }
    const stdout = await runOnHost(ssh, uninstallScript(options.target), 'removing the watch');
    const report = parseInstallReport(stdout);
    print({
      type: 'watch-removed',
      target: options.target,
      host,
      directory: report.fields.directory ?? directory,
      crontabLines: Number(report.fields['crontab-lines'] ?? 0),
      files: report.removed,
    });
    return ExitCode.ok;
  }
  let plan: TargetWatchPlan;
  try {
    plan = planTargetWatch(
      resolved,
      options.target,
      { notify: options.notify, threshold: options.threshold, remindEvery: options.remindEvery },
      zone,
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let config: string;
  let installed: string | undefined;
  try {
    config = watchConfig(plan, masked);
    if (!options.dryRun) {
      // Resolved before anything is shown as being installed: a missing secret stops it here.
      const values = await resolvedValues(plan);
      installed = watchConfig(plan, (channel, key) => values.get(channel)?.[key] ?? '');
    }
  } catch (error) {
    if (error instanceof SnapkeepError) throw error;
    throw new UsageError((error as Error).message);
  }
  print({
    type: 'watch-plan',
    target: plan.target,
    host,
    dryRun: options.dryRun,
    devices: plan.devices,
    channels: plan.channels.map((channel) => ({ name: channel.name, type: channel.type })),
    thresholdSeconds: plan.thresholdSeconds,
    remindSeconds: plan.remindSeconds,
    directory,
    crontab: `${plan.minute} * * * * ${crontabCommand(directory)}`,
    config,
  });
  if (installed === undefined) return ExitCode.ok;
  const report = parseInstallReport(
    await runOnHost(ssh, installScript(plan, installed), 'installing the watch'),
  );
  print({
    type: 'watch-installed',
    target: plan.target,
    host,
    directory: report.fields.directory ?? directory,
    client: report.fields.client ?? '?',
    crontab: report.fields.crontab ?? '?',
    devices: report.devices,
  });
  return ExitCode.ok;
}
