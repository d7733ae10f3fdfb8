// Answers about installed programs (which restic version, which send protocol btrfs-progs
// writes) that every run would otherwise ask by starting a process. Kept in the cache directory
// next to the validated configs, keyed by the program's file (path, size, modification time)
// and whatever else the answer depends on: an upgraded program is a miss and is asked again. A
// missing, corrupt or foreign entry is a miss too; a cache that cannot be written costs only
// the process it would have saved.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findOnPath } from '../exec/find-on-path.js';
import { configCacheDirectory, storeCacheEntry } from '../config/config-cache.js';

/** The file `command` runs (itself when it names a path, else the first on PATH) as `path:size:mtime`. */
export async function binaryIdentity(command: string): Promise<string | undefined> {
  const path = command.includes('/') ? command : await findOnPath(command);
  const info = path === undefined ? undefined : await stat(path).catch(() => undefined);
  return info?.isFile() ? `${path}:${info.size}:${info.mtimeMs}` : undefined;
}

/**
 * `probe`'s answer, from the cache entry `name` when it was stored under the same `key`
 * (undefined: not cacheable, always probe). `valid` checks what a cached entry holds.
 */
export async function cachedProbe<T>(
  name: string,
  key: string | undefined,
  probe: () => Promise<T>,
  valid: (answer: unknown) => answer is T,
): Promise<T> {
  const directory = configCacheDirectory();
  if (!directory || key === undefined) return probe();
  const entryPath = join(directory, `${name}.json`);
  try {
    const entry = JSON.parse(await readFile(entryPath, 'utf8')) as { key?: unknown; answer?: unknown };
    if (entry.key === key && valid(entry.answer)) return entry.answer;
  } catch {
    // missing or unreadable: probe below
  }
  const answer = await probe();
  await storeCacheEntry(directory, entryPath, { key, answer });
  return answer;
}
