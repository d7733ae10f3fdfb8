// Finding and reading the configuration file, and the error type every config problem uses.
// Kept apart from load-config.ts so that commands served from the validated-config cache
// (config-cache.ts) never load the YAML parser and the schema library.
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { ExitCode, SnapkeepError } from '../errors.js';

export const defaultConfigPath = '/etc/snapkeep/snapkeep.yaml';

/** One problem in a configuration file. */
export interface ConfigIssue {
  readonly file: string;
  /** 1-based; absent when the problem is not at a place in the file (e.g. it does not exist). */
  readonly line?: number;
  readonly column?: number;
  /** Dotted key path like `subvolumes.home.targets[0]`; empty for the file or its top level. */
  readonly path: string;
  /** `<what is wrong> (got <value>; expected <...>)`. */
  readonly message: string;
}

export function formatConfigIssue(issue: ConfigIssue): string {
  const place = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  return `${place}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`;
}

/** The configuration cannot be used. Carries every problem, structured (for --json) and as text. */
export class ConfigError extends SnapkeepError {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(ConfigError.render(file, issues), ExitCode.usage);
    this.name = 'ConfigError';
  }

  private static render(file: string, issues: readonly ConfigIssue[]): string {
    const lines = issues.map(formatConfigIssue);
    if (issues.length === 1 && issues[0]!.line === undefined) return lines[0]!;
    const count = `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
    return [`invalid configuration ${file}: ${count} (nothing was changed)`, ...lines].join('\n');
  }
}

/** `--config`, else $SNAPKEEP_CONFIG (when non-empty), else /etc/snapkeep/snapkeep.yaml; absolute. */
export function resolveConfigPath(flag?: string): string {
  if (flag !== undefined && flag.trim() === '') {
    throw new ConfigError('(--config)', [
      { file: '--config', path: '', message: 'is empty (expected the path of a YAML configuration file)' },
    ]);
  }
  const fromEnv = process.env.SNAPKEEP_CONFIG;
  const chosen = flag ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : defaultConfigPath);
  return resolvePath(chosen);
}

function readProblem(path: string, flag: string | undefined, error: NodeJS.ErrnoException): string {
  const how =
    flag !== undefined
      ? 'given with --config'
      : process.env.SNAPKEEP_CONFIG
        ? 'from $SNAPKEEP_CONFIG'
        : 'the default location';
  switch (error.code) {
    case 'ENOENT':
      return `configuration file not found (${how}); create one with: snapkeep config init --output ${path}  (or pass --config <file>, or set SNAPKEEP_CONFIG)`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read the configuration file: permission denied (${how}); run as a user that may read it`;
    case 'EISDIR':
      return `is a directory (${how}); expected a YAML configuration file`;
    default:
      return `cannot read the configuration file (${how}): ${error.message}`;
  }
}

/**
 * The configuration file's absolute path and text; a file that cannot be read is a ConfigError.
 * Synchronous: it is read first, before anything else runs.
 */
export function readConfigText(flag?: string): { path: string; text: string } {
  const path = resolveConfigPath(flag);
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (error) {
    const message = readProblem(path, flag, error as NodeJS.ErrnoException);
    throw new ConfigError(path, [{ file: path, path: '', message }]);
  }
}
