// A cache of validated configurations, so that commands run from cron or a timer (run, list,
// status) do not load the YAML parser and the schema library on every start: together they
// cost more than the rest of a no-change run (measured: ~65 ms of a ~150 ms start).
//
// An entry holds everything the result depends on, compared as it is: the file's path and exact
// text, snapkeep's version, and the build of the modules that parse, validate and resolve (their
// sizes and modification times). Any difference is a miss, which validates as usual and rewrites
// the entry; a corrupt or unreadable entry is a miss too. Only valid configurations are cached,
// so a broken file is reported exactly as `loadConfig` reports it. One entry per config path.
// What the disk says (real paths of the directories, real-paths.ts) is checked on every load.
// The files are small and read before anything else runs: synchronously (no thread-pool round
// trips), and without node:crypto (comparing the text itself needs no digest).
//
// Location: $SNAPKEEP_CACHE_DIR, else $XDG_CACHE_HOME/snapkeep, else ~/.cache/snapkeep (mode
// 0700, entries 0600). SNAPKEEP_CACHE_DIR=off disables the cache.
import { readFileSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfigText } from './config-file.js';
import { pathConflicts } from './path-conflicts.js';
import { realPathsOf } from './real-paths.js';
import { withholdSecretVariables } from './secret-variables.js';
import type { ResolvedConfig } from './resolve.js';

/** Bump when the shape of a cache entry changes. */
const entryFormat = 2;

/** Modules whose code decides the resolved config; a rebuild of any of them invalidates. */
const decidingModules = [
  './load-config.js',
  './schema.js',
  './restic-schema.js',
  './common-schema.js',
  './infra-schema.js',
  './schedule-schema.js',
  './metrics-schema.js',
  './notify-schema.js',
  '../calendar/systemd-calendar.js',
  '../calendar/time-span.js',
  './resolve.js',
  './config-file.js',
  './path-conflicts.js',
  '../local-path.js',
  '../retention/preserve-policy.js',
  '../remote/ssh-url.js',
];

interface CacheEntry {
  readonly format: number;
  readonly version: string;
  readonly build: string;
  readonly path: string;
  readonly text: string;
  readonly resolved: ResolvedConfig;
}

export interface ResolvedConfigFile {
  readonly path: string;
  readonly resolved: ResolvedConfig;
  /** Whether the validated result came from the cache (for tests and --verbose output). */
  readonly fromCache: boolean;
}

/** Also the code cache's directory: src/cli/main.cts repeats these lines (a CommonJS entry point
 *  cannot load this ES module before it starts), so change both together. */
export function configCacheDirectory(): string | undefined {
  const configured = process.env.SNAPKEEP_CACHE_DIR;
  if (configured === 'off') return undefined;
  if (configured) return configured;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'snapkeep');
}

/** Defined (true) by scripts/bundle.mjs inside the CLI bundle; absent in the tsc output. */
declare const SNAPKEEP_BUNDLED: boolean | undefined;

function buildFingerprint(): string {
  // In the bundle, import.meta.url is the bundle itself, which holds all deciding modules.
  const modules = typeof SNAPKEEP_BUNDLED !== 'undefined' ? [import.meta.url] : decidingModules;
  return modules
    .map((module) => {
      const info = statSync(fileURLToPath(new URL(module, import.meta.url)), { throwIfNoEntry: false });
      return info ? `${module}:${info.size}:${info.mtimeMs}` : `${module}:missing`;
    })
    .join('|');
}

function packageVersion(): string {
  const text = readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/**
 * The entry's file name for a config path: FNV-1a (64 bits) of its UTF-8 bytes. Not a check of
 * anything (the entry holds the path it is for); two paths that share a name take turns.
 */
function cacheEntryName(path: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(path, 'utf8'))
    hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return `config-${hash.toString(16).padStart(16, '0')}.json`;
}

/**
 * The validated, resolved configuration: from the cache when the file is unchanged. The
 * variables its `env:` references name are withheld from every child from now on.
 */
export async function loadResolvedConfig(flag?: string): Promise<ResolvedConfigFile> {
  const loaded = await loadOrReuse(flag);
  withholdSecretVariables(loaded.resolved);
  loadedInThisProcess.set(flag ?? '', loaded);
  return loaded;
}

// What this process loaded, by --config flag: a run's notifier reads the configuration the run
// read, without a second load at the end of every run.
const loadedInThisProcess = new Map<string, ResolvedConfigFile>();

/** The configuration this process loaded for `flag`, or loaded now. */
export function resolvedConfigOfProcess(flag?: string): Promise<ResolvedConfigFile> {
  const loaded = loadedInThisProcess.get(flag ?? '');
  return loaded ? Promise.resolve(loaded) : loadResolvedConfig(flag);
}

async function loadOrReuse(flag?: string): Promise<ResolvedConfigFile> {
  const { path, text } = readConfigText(flag);
  const loaded = await validatedText(path, text);
  // The disk is not part of the entry: real paths are compared on every load. A conflict is
  // reported by the full loader, which knows the lines.
  const realPaths = realPathsOf(loaded.resolved);
  if (realPaths.size > 0 && pathConflicts(loaded.resolved, realPaths).length > 0) {
    const { parseConfigText } = await import('./load-config.js');
    parseConfigText(text, path, { realPaths });
  }
  return loaded;
}

async function validatedText(path: string, text: string): Promise<ResolvedConfigFile> {
  const directory = configCacheDirectory();
  if (!directory) return { ...(await validate(text, path)), fromCache: false };

  const version = packageVersion();
  const build = buildFingerprint();
  const entryPath = join(directory, cacheEntryName(path));
  try {
    const entry = JSON.parse(readFileSync(entryPath, 'utf8')) as Partial<CacheEntry>;
    if (
      entry.format === entryFormat &&
      entry.version === version &&
      entry.build === build &&
      entry.path === path &&
      entry.text === text &&
      entry.resolved !== undefined
    )
      return { path, resolved: entry.resolved, fromCache: true };
  } catch {
    // missing or unreadable: validate below
  }
  const loaded = await validate(text, path);
  const entry: CacheEntry = { format: entryFormat, version, build, path, text, resolved: loaded.resolved };
  await storeCacheEntry(directory, entryPath, entry);
  return { ...loaded, fromCache: false };
}

async function validate(text: string, path: string): Promise<{ path: string; resolved: ResolvedConfig }> {
  const { parseConfigText } = await import('./load-config.js');
  return { path, resolved: parseConfigText(text, path).resolved };
}

/** Best effort: a cache that cannot be written only costs speed, never a run. */
export async function storeCacheEntry(directory: string, entryPath: string, entry: unknown): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const temporary = `${entryPath}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(entry), { mode: 0o600 });
    await rename(temporary, entryPath);
  } catch {
    // read-only home, full disk, …: ignored on purpose
  }
}
