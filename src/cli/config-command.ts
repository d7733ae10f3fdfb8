// `snapkeep config init | import-btrbk | validate | show`: create, import, check and explain the
// configuration.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { Document, isScalar } from 'yaml';
import { describeUntranslated, importBtrbkConfig } from '../config/btrbk-import.js';
import { ConfigError, loadConfig, parseConfigText, type LoadedConfig } from '../config/load-config.js';
import {
  resolveLocation,
  resolveRepository,
  resolveSource,
  type ResolvedRetention,
} from '../config/resolve.js';
import type { SshConfig } from '../config/schema.js';
import type { SshSettings } from '../remote/ssh-host.js';
import { formatSshUrl } from '../remote/ssh-url.js';
import { sampleConfig } from '../config/sample-config.js';
import { ExitCode, SnapkeepError, UsageError, isSystemError, messageOfPathError } from '../errors.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

/** Write `text` to a new file (creating its directory); never overwrites. Returns its path. */
async function writeNewFile(output: string, text: string): Promise<string> {
  if (output.trim() === '') throw new UsageError('--output is empty; expected a file path');
  const file = resolvePath(output);
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text, { flag: 'wx' });
  } catch (error) {
    // Only the 'wx' write's EEXIST means the file is there; mkdir's means a file is in the way.
    if (isSystemError(error) && error.code === 'EEXIST' && error.syscall === 'open') {
      throw new UsageError(
        `${file} already exists; refusing to overwrite it (expected a new file: remove it first or choose another --output)`,
      );
    }
    if (isSystemError(error) && ['ENOTDIR', 'EISDIR', 'EEXIST'].includes(error.code))
      throw new UsageError(messageOfPathError(error, file));
    throw new SnapkeepError(messageOfPathError(error, file), ExitCode.fatal);
  }
  return file;
}

/** Print the commented sample configuration, or write it to a new file (never overwriting). */
export async function runConfigInit(options: { output?: string }): Promise<number> {
  const text = sampleConfig();
  if (options.output === undefined) {
    process.stdout.write(text);
    return ExitCode.ok;
  }
  const file = await writeNewFile(options.output, text);
  process.stdout.write(
    `wrote a sample configuration to ${file}\nedit it, then check it with: snapkeep config validate --config ${file}\n`,
  );
  return ExitCode.ok;
}

export type ImportEvent =
  | {
      readonly type: 'import-untranslated';
      readonly line: number;
      readonly text: string;
      readonly reason: string;
    }
  | {
      readonly type: 'config-imported';
      readonly from: string;
      /** The file written; absent when the configuration went to stdout (text) or `yaml` (--json). */
      readonly output?: string;
      readonly subvolumes: number;
      readonly targets: number;
      readonly untranslated: number;
      readonly yaml?: string;
    };

function importText(event: ImportEvent): readonly TextLine[] {
  if (event.type === 'import-untranslated')
    return [toStderr(`not translated: ${describeUntranslated(event)}`)];
  const counts = `${event.subvolumes} subvolume(s), ${event.targets} target(s)`;
  const notes =
    event.untranslated > 0
      ? `${event.untranslated} option(s) not translated (listed above and at the top of the configuration)`
      : 'every option was translated';
  if (event.output === undefined)
    return event.yaml === undefined
      ? []
      : [event.yaml.trimEnd(), toStderr(`imported ${counts} from ${event.from}; ${notes}`)];
  return [
    `wrote ${event.output}: ${counts} imported from ${event.from}; ${notes}`,
    `check it with: snapkeep config validate --config ${event.output}`,
    `then see what the first run would do: snapkeep run --dry-run --config ${event.output}`,
  ];
}

/**
 * `config import-btrbk FILE`: btrbk.conf → a commented snapkeep configuration (stdout, or a new
 * file with --output). The result is checked with snapkeep's own validation before anything is
 * written, so an import never leaves a file that `config validate` rejects.
 */
export async function runConfigImportBtrbk(options: {
  file: string;
  output?: string;
  json: boolean;
}): Promise<number> {
  const from = resolvePath(options.file);
  let text: string;
  try {
    text = await readFile(from, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the btrbk configuration: ${messageOfPathError(error, from)}`);
  }
  const imported = importBtrbkConfig(text, from);
  if (imported.subvolumes === 0)
    throw new UsageError(
      `${from}: no subvolume could be imported (expected btrbk.conf's "volume" and "subvolume" lines${imported.untranslated.length > 0 ? `; not translated: ${imported.untranslated.map(describeUntranslated).join('; ')}` : ''})`,
    );
  // An importer defect must not reach the user's disk as a configuration snapkeep rejects.
  parseConfigText(imported.yaml, options.output ?? `${from} (imported)`);
  const print = createPrinter<ImportEvent>(createOutput(options.json), importText);
  for (const entry of imported.untranslated) print({ type: 'import-untranslated', ...entry });
  const output = options.output === undefined ? undefined : await writeNewFile(options.output, imported.yaml);
  print({
    type: 'config-imported',
    from,
    ...(output === undefined ? { yaml: imported.yaml } : { output }),
    subvolumes: imported.subvolumes,
    targets: imported.targets,
    untranslated: imported.untranslated.length,
  });
  return ExitCode.ok;
}

/** Things that are valid but probably not what the person meant. */
export function configWarnings(loaded: LoadedConfig): string[] {
  const warnings: string[] = [];
  const { config } = loaded;
  const subvolumes = Object.entries(config.subvolumes);
  if (subvolumes.length === 0) warnings.push('no subvolumes are configured: a run would do nothing');
  const used = new Set(subvolumes.flatMap(([, subvolume]) => subvolume.targets));
  for (const target of Object.keys(config.targets)) {
    if (!used.has(target)) warnings.push(`target "${target}" is not used by any subvolume`);
  }
  const sets = Object.values(config.backup_sets);
  const usedRepositories = new Set(sets.flatMap((set) => [set.repository, ...set.offsite]));
  for (const repository of Object.keys(config.repositories))
    if (!usedRepositories.has(repository))
      warnings.push(`repository "${repository}" is not used by any backup set`);
  const usedSources = new Set(sets.flatMap((set) => set.sources));
  for (const source of Object.keys(config.sources))
    if (!usedSources.has(source)) warnings.push(`source "${source}" is not used by any backup set`);
  return warnings;
}

/** What `config validate` reports: the counts and warnings of a valid file, or every problem. */
export type ValidateEvent =
  | {
      readonly type: 'config';
      readonly valid: true;
      readonly path: string;
      readonly subvolumes: number;
      readonly targets: number;
      readonly backup_sets: number;
      readonly repositories: number;
      readonly sources: number;
      readonly warnings: readonly string[];
    }
  | {
      readonly type: 'config';
      readonly valid: false;
      readonly path: string;
      readonly errors: readonly {
        readonly file: string;
        readonly line: number | null;
        readonly column: number | null;
        readonly path: string;
        readonly message: string;
      }[];
    };

function validateText(event: ValidateEvent): TextLine[] {
  if (!event.valid) return [];
  const plural = (count: number, one: string, many: string): string => `${count} ${count === 1 ? one : many}`;
  return [
    ...event.warnings.map((warning) => toStderr(`warning: ${event.path}: ${warning}`)),
    `OK: ${event.path}: ${[
      plural(event.subvolumes, 'subvolume', 'subvolumes'),
      plural(event.targets, 'target', 'targets'),
      plural(event.backup_sets, 'backup set', 'backup sets'),
      plural(event.repositories, 'repository', 'repositories'),
      plural(event.sources, 'source', 'sources'),
    ].join(', ')}`,
  ];
}

/**
 * Check the configuration; exit 0 when valid, 2 with every problem listed when not. Without
 * --json an invalid file is the program's error (its message lists every problem); with --json
 * the problems are also fields of the `config` event.
 */
export async function runConfigValidate(options: { config?: string; json: boolean }): Promise<number> {
  const output = createOutput(options.json);
  const print = createPrinter<ValidateEvent>(output, validateText);
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(options.config);
  } catch (error) {
    if (!(error instanceof ConfigError) || !options.json) throw error;
    print({
      type: 'config',
      valid: false,
      path: error.file,
      errors: error.issues.map((issue) => ({
        file: issue.file,
        line: issue.line ?? null,
        column: issue.column ?? null,
        path: issue.path,
        message: issue.message,
      })),
    });
    output.warn(`snapkeep: ${error.message}`);
    return error.exitCode;
  }
  print({
    type: 'config',
    valid: true,
    path: loaded.path,
    subvolumes: Object.keys(loaded.config.subvolumes).length,
    targets: Object.keys(loaded.config.targets).length,
    backup_sets: Object.keys(loaded.config.backup_sets).length,
    repositories: Object.keys(loaded.config.repositories).length,
    sources: Object.keys(loaded.config.sources).length,
    warnings: configWarnings(loaded),
  });
  return ExitCode.ok;
}

type Origin = string | undefined;

interface Annotated {
  readonly value: unknown;
  /** Why this value applies, when it was not written at this place in the file. */
  readonly origin?: Origin;
}

const retentionKeys = ['preserve_min', 'preserve', 'preserve_day_of_week', 'preserve_hour_of_day'] as const;

function layeredOrigin(
  layers: readonly (readonly [string, Record<string, unknown> | undefined])[],
  key: string,
): Origin {
  for (const [label, layer] of layers) if (layer?.[key] !== undefined) return label;
  return 'built-in default';
}

/** ssh settings in the file's key names, as the engines use them. */
function sshInFileTerms(settings: SshSettings): Record<string, unknown> {
  return {
    ...(settings.identityFile !== undefined ? { identity_file: settings.identityFile } : {}),
    ...(settings.knownHostsFile !== undefined ? { known_hosts: settings.knownHostsFile } : {}),
    ...(settings.cipher !== undefined ? { cipher: settings.cipher } : {}),
    options: settings.options,
    sudo: settings.sudo,
    connect_timeout: settings.connectTimeoutSeconds,
    compression: settings.compression,
  };
}

/** Where a location is: the local path, or the ssh:// URL of a directory on another host. */
function locationText(location: { path: string; ssh?: SshSettings }): string {
  return location.ssh ? formatSshUrl({ ...location.ssh.location, path: location.path }) : location.path;
}

export interface ShownConfig {
  /** The effective configuration in the file's own key names (every default applied). */
  readonly model: Record<string, unknown>;
  /** Where inherited values come from, by key path (for the YAML comments). */
  readonly origins: readonly { readonly path: readonly string[]; readonly origin: string }[];
}

/**
 * What `config show` prints, text and --json alike: every section of the file with every default
 * applied, in the file's key names. Secrets stay references (env:, file:, op://): nothing here
 * resolves one.
 */
export function shownConfig(loaded: LoadedConfig): ShownConfig {
  const { config, resolved, input } = loaded;
  const origins: { path: string[]; origin: string }[] = [];
  const annotate = (path: string[], entry: Annotated): unknown => {
    if (entry.origin !== undefined) origins.push({ path, origin: entry.origin });
    return entry.value;
  };
  const retention = (
    path: string[],
    values: ResolvedRetention,
    layers: readonly (readonly [string, Record<string, unknown> | undefined])[],
  ): Record<string, unknown> =>
    Object.fromEntries(
      retentionKeys.map((key) => {
        const origin = layeredOrigin(layers, key);
        return [
          key,
          annotate([...path, key], { value: values[key], origin: origin === '' ? undefined : origin }),
        ];
      }),
    );
  /** Effective ssh settings of an ssh:// location, each value marked with its layer. */
  const ssh = (
    path: string[],
    settings: SshSettings,
    own: SshConfig | undefined,
  ): Record<string, unknown> => {
    const shown = sshInFileTerms(settings);
    for (const key of Object.keys(shown)) {
      const origin =
        (own as Record<string, unknown> | undefined)?.[key] !== undefined
          ? undefined
          : (config.ssh as Record<string, unknown> | undefined)?.[key] !== undefined
            ? 'from ssh:'
            : key === 'sudo'
              ? 'default: true unless the user is root'
              : 'built-in default';
      annotate([...path, key], { value: shown[key], origin });
    }
    return shown;
  };

  const targets: Record<string, unknown> = {};
  for (const [name, target] of Object.entries(config.targets)) {
    const base = ['targets', name];
    const location = resolveLocation(target.path, { ...config.ssh, ...target.ssh });
    targets[name] = {
      path: locationText(location),
      ...(location.ssh ? { ssh: ssh([...base, 'ssh'], location.ssh, target.ssh) } : {}),
      ...(target.retention ? { retention: target.retention } : {}),
      ...(target.watch ? { watch: target.watch } : {}),
    };
  }

  const subvolumes: Record<string, unknown> = {};
  for (const subvolume of resolved.subvolumes) {
    const raw = config.subvolumes[subvolume.name]!;
    const base = ['subvolumes', subvolume.name];
    const inherited = (key: 'snapshot_create' | 'timestamp_format'): Origin =>
      raw[key] !== undefined
        ? undefined
        : config.defaults[key] !== undefined
          ? 'from defaults:'
          : 'built-in default';
    const subvolumeTargets: Record<string, unknown> = {};
    for (const target of subvolume.targets) {
      const path = [...base, 'targets', target.name];
      subvolumeTargets[target.name] = {
        path: annotate([...path, 'path'], {
          value: locationText(target),
          origin: `from targets.${target.name}`,
        }),
        retention: retention([...path, 'retention'], target.retention, [
          [`from subvolumes.${subvolume.name}.target_retention`, raw.target_retention],
          [`from targets.${target.name}.retention`, config.targets[target.name]?.retention],
          ['from defaults.target_retention', config.defaults.target_retention],
        ]),
      };
    }
    subvolumes[subvolume.name] = {
      path: locationText(subvolume),
      ...(subvolume.ssh ? { ssh: ssh([...base, 'ssh'], subvolume.ssh, raw.ssh) } : {}),
      snapshot_dir: annotate([...base, 'snapshot_dir'], {
        value: subvolume.snapshotDir,
        origin: raw.snapshot_dir === undefined ? 'default: <path>/.snapshots' : undefined,
      }),
      snapshot_name: annotate([...base, 'snapshot_name'], {
        value: subvolume.snapshotName,
        origin: raw.snapshot_name === undefined ? 'default: the name of this entry' : undefined,
      }),
      snapshot_create: annotate([...base, 'snapshot_create'], {
        value: subvolume.snapshotCreate,
        origin: inherited('snapshot_create'),
      }),
      timestamp_format: annotate([...base, 'timestamp_format'], {
        value: subvolume.timestampFormat,
        origin: inherited('timestamp_format'),
      }),
      snapshot_retention: retention([...base, 'snapshot_retention'], subvolume.snapshotRetention, [
        ['', raw.snapshot_retention],
        ['from defaults.snapshot_retention', config.defaults.snapshot_retention],
      ]),
      targets: subvolumeTargets,
    };
  }

  const repositories: Record<string, unknown> = {};
  for (const name of Object.keys(config.repositories)) {
    const repository = resolveRepository(config, name);
    const raw = config.repositories[name]!;
    repositories[name] = {
      url: repository.url,
      password: repository.password,
      env: repository.env,
      ...(repository.cacert !== undefined ? { cacert: repository.cacert } : {}),
      append_only: annotate(['repositories', name, 'append_only'], {
        value: repository.appendOnly,
        origin: raw.append_only === undefined ? 'built-in default' : undefined,
      }),
      retention: Object.fromEntries(
        Object.entries(repository.retention).map(([key, value]) => [
          key,
          annotate(['repositories', name, 'retention', key], {
            value,
            origin: repository.retentionIsDefault ? 'built-in default' : undefined,
          }),
        ]),
      ),
    };
  }

  const sources: Record<string, unknown> = {};
  for (const name of Object.keys(config.sources)) {
    const source = resolveSource(config, name);
    sources[name] =
      source.type === 'directory'
        ? { type: source.type, paths: source.paths, exclude: source.exclude }
        : {
            type: source.type,
            databases: source.databases,
            ...(source.host !== undefined ? { host: source.host } : {}),
            ...(source.port !== undefined ? { port: source.port } : {}),
            ...(source.user !== undefined ? { user: source.user } : {}),
            ...(source.password !== undefined ? { password: source.password } : {}),
            checksums: annotate(['sources', name, 'checksums'], {
              value: source.checksums,
              origin:
                config.sources[name]!.type === 'postgres' && config.sources[name]!.checksums === undefined
                  ? 'built-in default'
                  : undefined,
            }),
            command_prefix: source.commandPrefix,
          };
  }

  const backupSets: Record<string, unknown> = {};
  for (const set of resolved.backupSets)
    backupSets[set.name] = {
      sources: set.sources.map((source) => source.name),
      repository: set.repository.name,
      offsite: set.offsite.map((repository) => repository.name),
      restore: { stop: set.restoreHooks.stop, start: set.restoreHooks.start },
    };

  const model: Record<string, unknown> = {
    state_dir: annotate(['state_dir'], {
      value: resolved.stateDir,
      origin: 'state_dir' in input ? undefined : 'built-in default',
    }),
    parallel: annotate(['parallel'], {
      value: resolved.parallel,
      origin: 'parallel' in input ? undefined : 'built-in default',
    }),
    ...(config.ssh ? { ssh: config.ssh } : {}),
    targets,
    subvolumes,
    repositories,
    sources,
    backup_sets: backupSets,
    ...(config.infra ? { infra: config.infra } : {}),
    ...(config.notify ? { notify: notifyShown(loaded, annotate) } : {}),
    ...(Object.keys(config.schedules ?? {}).length > 0 ? { schedules: config.schedules } : {}),
  };
  return { model, origins };
}

/** notify: in the file's key names, each default marked (secrets stay references). */
function notifyShown(loaded: LoadedConfig, annotate: (path: string[], entry: Annotated) => unknown): unknown {
  const written = loaded.config.notify ?? {};
  const notify = loaded.resolved.notify;
  const fallback = (given: unknown, origin = 'built-in default'): Origin =>
    given === undefined ? origin : undefined;
  const shown = (path: string[], value: unknown, given: unknown, origin?: string): unknown =>
    annotate(path, { value, origin: fallback(given, origin) });
  const sections: Record<string, Record<string, unknown>> = {};
  for (const channel of notify.channels) {
    const base = ['notify', channel.type, channel.name];
    const raw =
      (written[channel.type] as Record<string, Record<string, unknown>> | undefined)?.[channel.name] ?? {};
    const events = shown(
      [...base, 'events'],
      channel.events,
      raw.events,
      'from notify.events, else built-in default',
    );
    let entry: Record<string, unknown>;
    switch (channel.type) {
      case 'email': {
        const transport = channel.transport;
        entry =
          transport.kind === 'sendmail'
            ? { sendmail: transport.path }
            : {
                host: transport.host,
                port: shown([...base, 'port'], transport.port, raw.port, 'default for the security'),
                security: shown([...base, 'security'], transport.security, raw.security),
                ...(transport.user !== undefined ? { user: transport.user } : {}),
                ...(transport.password !== undefined ? { password: transport.password } : {}),
                ...(transport.caFile !== undefined ? { ca_file: transport.caFile } : {}),
              };
        entry = { ...entry, from: channel.from, to: channel.to };
        break;
      }
      case 'ntfy':
        entry = {
          server: shown([...base, 'server'], channel.server, raw.server),
          topic: channel.topic,
          ...(channel.token !== undefined ? { token: channel.token } : {}),
          priority: channel.priority,
          tags: channel.tags,
        };
        break;
      case 'webhook':
        entry = {
          url: channel.url,
          method: shown([...base, 'method'], channel.method, raw.method),
          headers: channel.headers,
          ...(channel.template !== undefined ? { template: channel.template } : {}),
        };
        break;
      case 'healthchecks':
        entry = { url: channel.url, schedules: channel.schedules };
        break;
    }
    // Copies: YAML would write values shared between channels as aliases, which the loader refuses.
    (sections[channel.type] ??= {})[channel.name] = JSON.parse(
      JSON.stringify({ ...entry, events }),
    ) as unknown;
  }
  const spans = (seconds: number): string => (seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`);
  return {
    interactive: shown(['notify', 'interactive'], notify.interactive, written.interactive),
    remind_every: shown(
      ['notify', 'remind_every'],
      written.remind_every ?? (notify.remindSeconds === 0 ? 'never' : spans(notify.remindSeconds)),
      written.remind_every,
    ),
    timeout: shown(['notify', 'timeout'], written.timeout ?? spans(notify.timeoutSeconds), written.timeout),
    target_full: {
      free_below_percent: shown(
        ['notify', 'target_full', 'free_below_percent'],
        notify.fullBelowPercent,
        written.target_full?.free_below_percent,
      ),
      within_days: shown(
        ['notify', 'target_full', 'within_days'],
        notify.fullWithinDays,
        written.target_full?.within_days,
      ),
    },
    watchdog: shown(
      ['notify', 'watchdog'],
      notify.watchdog ?? false,
      written.watchdog,
      'built-in default (with schedules)',
    ),
    ...sections,
  };
}

/** The resolved configuration as YAML, in the file's own key names, each inherited value marked. */
export function renderResolvedYaml(loaded: LoadedConfig): string {
  const { model, origins } = shownConfig(loaded);
  const document = new Document(model);
  for (const { path, origin } of origins) {
    const node = document.getIn(path, true);
    if (isScalar(node)) node.comment = ` ${origin}`;
  }
  document.commentBefore = [
    ` Resolved configuration from ${loaded.path}`,
    ' Unmarked values are set in the file at that place; comments say where the others come from.',
    ' Secrets are shown as the references written (env:, file:, op://), never their values.',
    ...(loaded.resolved.subvolumes.length === 0 ? [' No subvolumes are configured.'] : []),
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}

/** Print the resolved configuration: every default visible (annotated YAML), or one JSON event. */
export async function runConfigShow(options: { config?: string; json: boolean }): Promise<number> {
  const loaded = await loadConfig(options.config);
  // The event is the resolved model; its text is the same configuration as commented YAML.
  const print = createPrinter<{ readonly type: 'config'; readonly path: string }>(
    createOutput(options.json),
    () => [renderResolvedYaml(loaded).trimEnd()],
  );
  print({ type: 'config', path: loaded.path, ...shownConfig(loaded).model });
  return ExitCode.ok;
}
