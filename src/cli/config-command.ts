// `snapkeep config init | validate | show`: create, check and explain the configuration.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { Document, isScalar } from 'yaml';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load-config.js';
import type { ResolvedRetention } from '../config/resolve.js';
import { sampleConfig } from '../config/sample-config.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { createOutput } from './output.js';

/** Print the commented sample configuration, or write it to a new file (never overwriting). */
export async function runConfigInit(options: { output?: string }): Promise<number> {
  const text = sampleConfig();
  if (options.output === undefined) {
    process.stdout.write(text);
    return ExitCode.ok;
  }
  if (options.output.trim() === '') throw new UsageError('--output is empty; expected a file path');
  const file = resolvePath(options.output);
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text, { flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new UsageError(
        `${file} already exists; refusing to overwrite it (expected a new file: remove it first or choose another --output)`,
      );
    }
    if (code === 'ENOTDIR' || code === 'EISDIR') {
      throw new UsageError(
        `cannot create ${file}: a part of that path is not a directory (expected a file path)`,
      );
    }
    throw new SnapkeepError(`cannot write ${file}: ${(error as Error).message}`, ExitCode.fatal);
  }
  process.stdout.write(
    `wrote a sample configuration to ${file}\nedit it, then check it with: snapkeep config validate --config ${file}\n`,
  );
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
  return warnings;
}

/** Check the configuration; exit 0 when valid, 2 with every problem listed when not. */
export async function runConfigValidate(options: { config?: string; json: boolean }): Promise<number> {
  const output = createOutput(options.json);
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(options.config);
  } catch (error) {
    if (!(error instanceof ConfigError) || !options.json) throw error;
    output.event('config', {
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
  const subvolumes = Object.keys(loaded.config.subvolumes).length;
  const targets = Object.keys(loaded.config.targets).length;
  const warnings = configWarnings(loaded);
  output.event('config', { valid: true, path: loaded.path, subvolumes, targets, warnings });
  for (const warning of warnings) output.warn(`warning: ${loaded.path}: ${warning}`);
  output.text(
    `OK: ${loaded.path}: ${subvolumes} subvolume${subvolumes === 1 ? '' : 's'}, ${targets} target${targets === 1 ? '' : 's'}`,
  );
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

/** The resolved configuration as YAML, in the file's own key names, each inherited value marked. */
export function renderResolvedYaml(loaded: LoadedConfig): string {
  const { config, resolved, input } = loaded;
  const comments: { path: string[]; origin: string }[] = [];
  const annotate = (path: string[], entry: Annotated): unknown => {
    if (entry.origin !== undefined) comments.push({ path, origin: entry.origin });
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
    const targets: Record<string, unknown> = {};
    for (const target of subvolume.targets) {
      const path = [...base, 'targets', target.name];
      targets[target.name] = {
        path: annotate([...path, 'path'], { value: target.path, origin: `from targets.${target.name}` }),
        retention: retention([...path, 'retention'], target.retention, [
          [`from subvolumes.${subvolume.name}.target_retention`, raw.target_retention],
          [`from targets.${target.name}.retention`, config.targets[target.name]?.retention],
          ['from defaults.target_retention', config.defaults.target_retention],
        ]),
      };
    }
    subvolumes[subvolume.name] = {
      path: subvolume.path,
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
      targets,
    };
  }
  const document = new Document({
    state_dir: annotate(['state_dir'], {
      value: resolved.stateDir,
      origin: 'state_dir' in input ? undefined : 'built-in default',
    }),
    parallel: annotate(['parallel'], {
      value: resolved.parallel,
      origin: 'parallel' in input ? undefined : 'built-in default',
    }),
    subvolumes,
  });
  for (const { path, origin } of comments) {
    const node = document.getIn(path, true);
    if (isScalar(node)) node.comment = ` ${origin}`;
  }
  document.commentBefore = [
    ` Resolved configuration from ${loaded.path}`,
    ' Unmarked values are set in the file at that place; comments say where the others come from.',
    ...(resolved.subvolumes.length === 0 ? [' No subvolumes are configured.'] : []),
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}

/** Print the resolved configuration: every default visible (YAML), or one JSON event. */
export async function runConfigShow(options: { config?: string; json: boolean }): Promise<number> {
  const output = createOutput(options.json);
  const loaded = await loadConfig(options.config);
  if (options.json) {
    output.event('config', { path: loaded.path, ...loaded.resolved });
  } else {
    output.text(renderResolvedYaml(loaded).trimEnd());
  }
  return ExitCode.ok;
}
